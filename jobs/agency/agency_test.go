package agency

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ghlbulk/ghlbulk/objstore"
	"github.com/ghlbulk/ghlbulk/pipeline"
)

func loc(id, status string) Location {
	code := map[string]int{Done: 0, Failed: 1, Refused: 2, Stopped: 3}[status]
	return Location{LocationID: id, Status: status, ExitCode: code}
}

func TestWorstOutcome(t *testing.T) {
	for _, c := range []struct {
		name       string
		in         []Location
		worst      int
		refusedAll bool
	}{
		{"none", nil, 0, false},
		{"all done", []Location{loc("a", Done), loc("b", Done)}, 0, false},
		{"stopped over done", []Location{loc("a", Done), loc("b", Stopped)}, 3, false},
		{"failed over stopped", []Location{loc("a", Stopped), loc("b", Failed)}, 1, false},
		{"failed first, then stopped", []Location{loc("a", Failed), loc("b", Stopped)}, 1, false},
		{"a refused one counts as failed", []Location{loc("a", Done), loc("b", Refused)}, 1, false},
		{"every one refused", []Location{loc("a", Refused), loc("b", Refused)}, 1, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			w, ra := WorstOutcome(c.in)
			if w != c.worst || ra != c.refusedAll {
				t.Errorf("WorstOutcome = %d, %v; want %d, %v", w, ra, c.worst, c.refusedAll)
			}
		})
	}
}

func TestOutcomeExitCodes(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, c := range []struct {
		name string
		ctx  context.Context
		in   []Location
		want int
	}{
		{"none", context.Background(), nil, 0},
		{"done", context.Background(), []Location{loc("a", Done)}, 0},
		{"failed", context.Background(), []Location{loc("a", Done), loc("b", Failed)}, 1},
		{"one refused", context.Background(), []Location{loc("a", Done), loc("b", Refused)}, 1},
		{"all refused", context.Background(), []Location{loc("a", Refused)}, 2},
		{"stopped", context.Background(), []Location{loc("a", Stopped)}, 3},
		{"interrupted", cancelled, []Location{loc("a", Stopped)}, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			w, ra := WorstOutcome(c.in)
			err := Outcome(c.ctx, Manifest{Locations: c.in}, w, ra)
			if got := pipeline.ExitCode(err); got != c.want {
				t.Errorf("exit %d (%v), want %d", got, err, c.want)
			}
		})
	}
}

func TestStatusOf(t *testing.T) {
	for code, want := range map[int]string{0: Done, 1: Failed, 2: Refused, 3: Stopped, 7: Failed} {
		if got := StatusOf(code); got != want {
			t.Errorf("StatusOf(%d) = %s, want %s", code, got, want)
		}
	}
}

func TestDoneSet(t *testing.T) {
	for _, c := range []struct {
		name string
		m    *Manifest
		want []string
	}{
		{"no earlier run", nil, nil},
		{"a complete run: redo all", &Manifest{Status: Complete, Locations: []Location{loc("a", Done)}}, nil},
		{"an incomplete run: keep the done", &Manifest{Status: Incomplete,
			Locations: []Location{loc("a", Done), loc("b", Failed), loc("c", Stopped), loc("d", Refused), loc("e", Done)}}, []string{"a", "e"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := c.m.doneSet()
			if len(got) != len(c.want) {
				t.Fatalf("doneSet = %v, want %v", got, c.want)
			}
			for _, id := range c.want {
				if _, ok := got[id]; !ok {
					t.Errorf("doneSet lacks %s", id)
				}
			}
		})
	}
}

// TestShardOfPinned pins the hash: FNV-1a (32 bits) of the id, mod N. A
// change here moves locations between shards, and a fleet's rescheduled
// pods would then redo other pods' locations.
func TestShardOfPinned(t *testing.T) {
	for _, c := range []struct {
		id       string
		n, shard int
	}{
		{"a", 3, 1}, {"a", 7, 5}, // 0xe40c292c
		{"ve9EPM428h8vShlRW1KT", 3, 0}, {"ve9EPM428h8vShlRW1KT", 7, 4}, // 0x7e6e181f
		{"foobar", 3, 1}, {"foobar", 7, 0}, // 0xbf9cf968
		{"anything", 1, 0},
	} {
		if got := ShardOf(c.id, c.n); got != c.shard {
			t.Errorf("ShardOf(%q, %d) = %d, want %d", c.id, c.n, got, c.shard)
		}
	}
}

// TestShardsPartition: for every N, the N shards are disjoint and their
// union is every location.
func TestShardsPartition(t *testing.T) {
	var all []Target
	for i := range 500 {
		all = append(all, Target{ID: fmt.Sprintf("loc%05dX%d", i*7919, i%13)})
	}
	for n := 1; n <= 40; n++ {
		seen := map[string]int{}
		for i := range n {
			for _, tg := range (Shard{i, n}).filter(all) {
				seen[tg.ID]++
			}
		}
		for _, tg := range all {
			if seen[tg.ID] != 1 {
				t.Fatalf("N=%d: %s is in %d shards, want 1", n, tg.ID, seen[tg.ID])
			}
		}
		if len(seen) != len(all) {
			t.Fatalf("N=%d: the shards hold %d locations, want %d", n, len(seen), len(all))
		}
	}
	if got := (Shard{}).filter(all); len(got) != len(all) {
		t.Errorf("unsharded: %d locations, want all %d", len(got), len(all))
	}
}

func TestParseShard(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Shard
		err  string
	}{
		{"0/3", Shard{0, 3}, ""},
		{"2/3", Shard{2, 3}, ""},
		{"0/1", Shard{0, 1}, ""},
		{"3/3", Shard{}, "from 0 to 2"},
		{"-1/3", Shard{}, "from 0 to 2"},
		{"1/0", Shard{}, "from 1 to"},
		{"1", Shard{}, "must be I/N"},
		{"a/b", Shard{}, "N must be"},
	} {
		got, err := ParseShard(c.in)
		if c.err == "" && (err != nil || got != c.want) {
			t.Errorf("ParseShard(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
		if c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("ParseShard(%q) error %v, want one saying %q", c.in, err, c.err)
		}
	}
}

func TestShardFromEnv(t *testing.T) {
	for _, c := range []struct {
		name, index, count string
		want               Shard
		err                string
	}{
		{"neither", "", "", Shard{}, ""},
		{"both", "1", "4", Shard{1, 4}, ""},
		{"index without count", "1", "", Shard{}, EnvCompletions + " is not"},
		{"count without index", "", "4", Shard{}, EnvCompletionIndex + " is not"},
		{"index out of range", "4", "4", Shard{}, EnvCompletionIndex + `="4"`},
		{"bad count", "0", "x", Shard{}, EnvCompletions + `="x"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			env := map[string]string{EnvCompletionIndex: c.index, EnvCompletions: c.count}
			got, err := ShardFromEnv(func(k string) string { return env[k] })
			if c.err == "" && (err != nil || got != c.want) {
				t.Errorf("= %v, %v; want %v", got, err, c.want)
			}
			if c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
				t.Errorf("error %v, want one saying %q", err, c.err)
			}
		})
	}
}

func writeJSON(t *testing.T, out folder, name string, m Manifest) {
	t.Helper()
	if err := writeManifest(context.Background(), out, name, m); err != nil {
		t.Fatal(err)
	}
}

// eachFolder runs fn on OUT as a folder and as an object storage prefix
// (file://, the same code path as s3:// through gocloud's blob API).
func eachFolder(t *testing.T, fn func(t *testing.T, out folder)) {
	t.Run("folder", func(t *testing.T) { fn(t, localFolder(t.TempDir())) })
	t.Run("bucket", func(t *testing.T) {
		b, err := objstore.Open(context.Background(), "file://"+filepath.ToSlash(t.TempDir()))
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		fn(t, bucketFolder{b})
	})
}

// TestCheckOutAcceptsShards: the other shards' manifests and folders are
// an agency export's; the earlier manifest is the shard's own.
func TestCheckOutAcceptsShards(t *testing.T) {
	eachFolder(t, func(t *testing.T, out folder) {
		ctx := context.Background()
		for _, f := range []string{"location_id=a/contacts.csv", "location_id=b/.ghlbulk/state.db", ".tmpdir/x"} {
			if err := out.write(ctx, f, nil); err != nil {
				t.Fatal(err)
			}
		}
		writeJSON(t, out, "manifest.shard-0-of-2.json", Manifest{Kind: Kind, Status: Incomplete, Shard: "0/2"})
		writeJSON(t, out, "manifest.shard-1-of-2.json", Manifest{Kind: Kind, Status: Complete, Shard: "1/2"})
		prev, err := checkOut(ctx, out, Shard{1, 2})
		if err != nil || prev == nil || prev.Shard != "1/2" {
			t.Fatalf("checkOut = %+v, %v; want shard 1/2's manifest", prev, err)
		}
		if prev, err := checkOut(ctx, out, Shard{}); err != nil || prev != nil {
			t.Fatalf("unsharded checkOut = %+v, %v; want no earlier manifest", prev, err)
		}
		out.write(ctx, "manifest.shard-2-of-3.json", []byte(`{"kind":"export"}`))
		if _, err := checkOut(ctx, out, Shard{1, 2}); err == nil || !strings.Contains(err.Error(), "manifest.shard-2-of-3.json") {
			t.Errorf("a foreign shard manifest: %v", err)
		}
		writeJSON(t, out, "manifest.shard-2-of-3.json", Manifest{Kind: Kind, Status: Complete, Shard: "2/3"})
		out.write(ctx, "notes.txt", nil)
		if _, err := checkOut(ctx, out, Shard{1, 2}); err == nil || !strings.Contains(err.Error(), "notes.txt") {
			t.Errorf("a user's file: %v", err)
		}
	})
}

// TestCombine: the combined manifest appears once every shard is
// complete, lists every location once, and is the same whoever writes it.
func TestCombine(t *testing.T) {
	eachFolder(t, func(t *testing.T, out folder) {
		ctx := context.Background()
		t0 := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
		shard := func(i int, status string, ids ...string) {
			m := Manifest{Kind: Kind, Status: status, Shard: fmt.Sprint(i, "/3"), StartedAt: t0.Add(time.Duration(i) * time.Minute),
				FinishedAt: t0.Add(time.Duration(10+i) * time.Minute)}
			for _, id := range ids {
				m.Locations = append(m.Locations, loc(id, Done))
			}
			writeJSON(t, out, Shard{i, 3}.manifestName(), m)
		}
		shard(0, Complete, "c", "a")
		shard(1, Incomplete, "b")
		if err := combine(ctx, out, 3); err != nil {
			t.Fatal(err)
		}
		if _, err := out.read(ctx, ManifestName); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("combined with shards 1 and 2 unfinished: %v", err)
		}
		shard(1, Complete, "b")
		shard(2, Complete)
		if err := combine(ctx, out, 3); err != nil {
			t.Fatal(err)
		}
		first, _ := out.read(ctx, ManifestName)
		m, _, err := readManifest(ctx, out, ManifestName)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, l := range m.Locations {
			ids = append(ids, l.LocationID)
		}
		if m.Status != Complete || m.Shards != 3 || strings.Join(ids, ",") != "a,b,c" || !m.StartedAt.Equal(t0) || !m.FinishedAt.Equal(t0.Add(12*time.Minute)) {
			t.Errorf("combined: %+v", m)
		}
		if err := combine(ctx, out, 3); err != nil { // a second finishing shard
			t.Fatal(err)
		}
		if again, _ := out.read(ctx, ManifestName); string(again) != string(first) {
			t.Errorf("a second combine wrote another manifest:\n%s\n%s", first, again)
		}
	})
}

// TestProgressSurvivesAKill checks that each finished location is in the
// run's manifest before the next one starts, so a run killed midway
// (nothing after the kill runs: no finish) is redone only for the rest.
func TestProgressSurvivesAKill(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens.csv")
	if err := os.WriteFile(tokens, []byte("a,TOK_A\nb,TOK_B\nc,TOK_C\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"TOK_A", "TOK_B", "TOK_C"} {
		t.Setenv(v, "pit-00000000-0000-0000-0000-000000000000")
	}
	out := filepath.Join(dir, "out")
	var ran []string
	storm := true
	cfg := Config{Out: out, Locations: "all", Tokens: tokens, Parallel: 1, Workers: 1}
	cfg.Export = func(ctx context.Context, o One) (pipeline.Report, error) {
		ran = append(ran, o.ID)
		if o.ID == "c" && storm {
			// What a kill here leaves on disk is what the manifest says now.
			m, ok, err := readManifest(ctx, localFolder(out), ManifestName)
			if err != nil || !ok || m.Status != Incomplete || len(m.doneSet()) != 2 {
				t.Fatalf("manifest while c runs: %+v, %v, %v; want a and b done, incomplete", m, ok, err)
			}
			return pipeline.Report{}, errors.New("a 5xx storm")
		}
		return pipeline.Report{}, nil
	}
	if _, err := Run(context.Background(), cfg); pipeline.ExitCode(err) != pipeline.ExitFailed {
		t.Fatalf("first run: %v, want exit 1", err)
	}
	ran, storm = nil, false
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatalf("re-run: %v", err)
	}
	if strings.Join(ran, ",") != "c" {
		t.Errorf("re-run exported %v, want only c", ran)
	}
}
