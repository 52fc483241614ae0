package agency

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/ghlbulk/ghlbulk/pipeline"
)

// Statuses of a location in the agency manifest.
const (
	Done    = "done"
	Failed  = "failed"
	Refused = "refused"
	Stopped = "stopped"
)

// Statuses of a manifest.
const (
	Complete   = "complete" // every location done
	Incomplete = "incomplete"
)

// Kind is an agency manifest's kind; ManifestName its file in OUT.
const (
	Kind         = "agency"
	ManifestName = "manifest.json"
)

// Manifest is OUT/manifest.json of an agency export, or a shard's
// OUT/manifest.shard-I-of-N.json.
type Manifest struct {
	SchemaVersion int        `json:"schema_version"`
	Kind          string     `json:"kind"`            // "agency"
	Status        string     `json:"status"`          // complete: every location done; else incomplete
	Shard         string     `json:"shard,omitempty"` // a shard's manifest: "I/N"
	Shards        int        `json:"shards,omitempty"`
	StartedAt     time.Time  `json:"started_at"`
	FinishedAt    time.Time  `json:"finished_at"`
	Locations     []Location `json:"locations"`
}

// Location is one location's line in the manifest.
type Location struct {
	LocationID  string           `json:"location_id"`
	Name        string           `json:"name,omitempty"`
	Path        string           `json:"path"`   // the location's folder, relative to OUT
	Status      string           `json:"status"` // done, failed, refused, stopped
	ExitCode    int              `json:"exit_code"`
	Error       string           `json:"error,omitempty"`
	RowsWritten map[string]int64 `json:"rows_written,omitempty"`
	Requests    int64            `json:"requests"`
	Cursor      json.RawMessage  `json:"cursor,omitempty"` // the location's manifest's cursor
	FinishedAt  time.Time        `json:"finished_at"`

	Report pipeline.Report `json:"-"` // the location's own report, for the merged one
}

// LocationDir is a location's folder in OUT, a Hive partition.
func LocationDir(id string) string { return "location_id=" + id }

// readCursor is the cursor of a location's manifest, if it has one.
func readCursor(ctx context.Context, out folder, name string) json.RawMessage {
	b, err := out.read(ctx, name)
	if err != nil {
		return nil
	}
	var m struct {
		Cursor json.RawMessage `json:"cursor"`
	}
	if json.Unmarshal(b, &m) != nil || len(m.Cursor) == 0 || string(m.Cursor) == "null" {
		return nil
	}
	return m.Cursor
}

// writeManifest replaces the manifest name in out whole: a reader sees the
// old manifest or the new one.
func writeManifest(ctx context.Context, out folder, name string, m Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := out.write(ctx, name, append(b, '\n')); err != nil {
		return fmt.Errorf("writing %s/%s: %w", out, name, err)
	}
	return nil
}

// readManifest reads an agency manifest; ok is false for a missing file.
func readManifest(ctx context.Context, out folder, name string) (m *Manifest, ok bool, err error) {
	b, err := out.read(ctx, name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	m = &Manifest{}
	if err := json.Unmarshal(b, m); err != nil || m.Kind != Kind {
		return nil, true, fmt.Errorf("%s/%s is not an agency export's manifest", out, name)
	}
	return m, true, nil
}

// checkOut refuses an OUT that holds anything but an agency export's
// (its manifests, shards' included, and location_id=<id> folders), and
// returns the earlier manifest of this run's kind: the shard's own when
// sharded, else the top-level one.
func checkOut(ctx context.Context, out folder, sh Shard) (*Manifest, error) {
	ents, err := out.entries(ctx)
	if err != nil {
		return nil, fmt.Errorf("--out: %w", err)
	}
	own := ManifestName
	if sh.On() {
		own = sh.manifestName()
	}
	var prev *Manifest
	for _, e := range ents {
		switch name := e.Name; {
		case e.Dir && strings.HasPrefix(name, "location_id="), strings.HasPrefix(name, "."):
		case name == ManifestName || isShardManifest(name):
			m, _, err := readManifest(ctx, out, name)
			if err != nil {
				return nil, fmt.Errorf("--out %s: its %s is not an agency export's (a one-location export is there?); nothing was written: choose an empty or new folder for --locations", out, name)
			}
			if name == own {
				prev = m
			}
		default:
			return nil, fmt.Errorf("--out %s: the folder holds %s, which no agency export wrote; nothing was written: choose an empty or new folder, or the folder of an earlier export --locations", out, name)
		}
	}
	return prev, nil
}

// doneSet is the locations an unfinished earlier run finished: a re-run
// redoes only the rest. After a complete run, a new run redoes them all.
func (m *Manifest) doneSet() map[string]Location {
	done := map[string]Location{}
	if m == nil || m.Status == Complete {
		return done
	}
	for _, l := range m.Locations {
		if l.Status == Done {
			done[l.LocationID] = l
		}
	}
	return done
}

// combine writes OUT/manifest.json from the N shards' manifests once
// every one of them is complete; until then it does nothing, and the
// last shard to finish writes it. Two shards finishing at once may both
// see all N complete and both write it: each wrote its own manifest
// before reading the others', so neither misses the other's, both build
// the same manifest from the same files (sorted, times taken from the
// files), and each write is a rename of a whole file, so whichever lands
// last, the reader sees one whole, correct manifest.
func combine(ctx context.Context, out folder, n int) error {
	all := Manifest{SchemaVersion: 1, Kind: Kind, Status: Complete, Shards: n}
	for i := range n {
		m, ok, err := readManifest(ctx, out, Shard{Index: i, Count: n}.manifestName())
		if err != nil || !ok || m.Status != Complete {
			return nil // that shard is not done yet (or is being rewritten): it will combine
		}
		if all.StartedAt.IsZero() || m.StartedAt.Before(all.StartedAt) {
			all.StartedAt = m.StartedAt
		}
		if m.FinishedAt.After(all.FinishedAt) {
			all.FinishedAt = m.FinishedAt
		}
		all.Locations = append(all.Locations, m.Locations...)
	}
	slices.SortFunc(all.Locations, func(a, b Location) int { return strings.Compare(a.LocationID, b.LocationID) })
	return writeManifest(ctx, out, ManifestName, all)
}
