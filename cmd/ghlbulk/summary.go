package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/ghlbulk/ghlbulk/internal/fsx"
	"github.com/ghlbulk/ghlbulk/pipeline"
)

// printSummary writes the end-of-run table a user reads first.
func printSummary(w io.Writer, title string, r pipeline.Report, extra [][2]string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "%s\n", title)
	row := func(k string, v any) { fmt.Fprintf(tw, "  %s\t%v\n", k, v) }
	switch {
	case r.DryRun:
		row("rows read", r.RowsRead)
		row("would write", r.Created+r.Updated+r.Unchanged)
		row("would reject", r.Rejected)
	case len(r.RowsWritten) > 0:
		// An export: its own counters follow.
	default:
		row("rows read", r.RowsRead)
		row("created", r.Created)
		row("updated", r.Updated)
		row("unchanged", r.Unchanged)
		row("rejected", r.Rejected)
	}
	if r.PhonesDropped > 0 {
		row("phones dropped", fmt.Sprintf("%d (written without the phone another contact has: --on-conflict drop-phone)", r.PhonesDropped))
	}
	if r.PhonesInvalid > 0 {
		row("phones dropped (invalid)", fmt.Sprintf("%d (contacts kept with their email; the warnings name the rows)", r.PhonesInvalid))
	}
	if r.EmailsInvalid > 0 {
		row("emails dropped (invalid)", fmt.Sprintf("%d (contacts kept with their phone; the warnings name the rows)", r.EmailsInvalid))
	}
	if r.NotesCreated+r.TasksCreated > 0 {
		row("notes created", r.NotesCreated)
		row("tasks created", r.TasksCreated)
	}
	entities := make([]string, 0, len(r.RowsWritten))
	for k := range r.RowsWritten {
		entities = append(entities, k)
	}
	sort.Strings(entities)
	for _, e := range entities {
		row(e+" written", r.RowsWritten[e])
	}
	row("requests", r.Requests)
	if r.Retries > 0 || r.Throttled > 0 {
		row("retries", r.Retries)
		row("throttled (429)", r.Throttled)
	}
	row("elapsed", (time.Duration(r.ElapsedS * float64(time.Second))).Round(10*time.Millisecond))
	if r.ElapsedS > 0 && r.RowsRead > 0 {
		row("rows/s", fmt.Sprintf("%.0f", float64(r.RowsRead)/r.ElapsedS))
	}
	for _, kv := range extra {
		row(kv[0], kv[1])
	}
	tw.Flush()
}

// reportToStdout is the --report value that means standard output.
const reportToStdout = "-"

// summaryOut is where the summary table goes: stdout, unless --report -
// puts the JSON there, so that a pipe receives the JSON alone.
func (f *factory) summaryOut(report string) io.Writer {
	if report == reportToStdout {
		return f.stderr
	}
	return f.stdout
}

// writeReport writes the --report JSON: to stdout for "-", else aside
// and renamed into place, so a scheduler never reads half a report; its
// mode follows the umask, as every file ghlbulk writes (internal/fsx).
func (f *factory) writeReport(path string, r any) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if path == reportToStdout {
		if _, err := f.stdout.Write(b); err != nil {
			return fmt.Errorf("--report -: writing to stdout: %w", err)
		}
		return nil
	}
	if err := fsx.WriteFile(path, b); err != nil {
		return fmt.Errorf("--report %s: %w", path, err)
	}
	return nil
}
