package plan

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/ghlbulk/ghlbulk/ghl/pace"
	"github.com/ghlbulk/ghlbulk/pipeline"
)

// WaitOptions tune RunWithWaitOptions; the zero value is what --wait uses.
type WaitOptions struct {
	Log *slog.Logger
	// Margin is added to the reset time the API gave (0: 1 s).
	Margin time.Duration
	// Unknown is how long to wait when the API did not say when the quota
	// comes back (0: 15 min).
	Unknown time.Duration
	// Idle is how many runs in a row may make no progress at all before
	// it gives up and returns the quota error (0: 3).
	Idle int
	// Progress tells whether a run checkpointed work (nil: an import's
	// rule, progress below).
	Progress func(pipeline.Report) bool
	// Now and Sleep stand in for the clock in tests (nil: the real ones;
	// Sleep must return ctx's error when ctx ends first).
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// RunWithWait is --wait: it calls run, and whenever run stops because the
// daily quota is spent (*pipeline.QuotaError), it logs the reset time,
// sleeps until then (ctx-aware: cancelling ctx ends the wait with
// pipeline.ErrInterrupted, exit 3) and calls run again, which resumes from
// the checkpoint, for as many days as it takes. Any other outcome ends
// the loop. The reports of the runs are merged (MergeReports).
func RunWithWait(ctx context.Context, run func(ctx context.Context) (pipeline.Report, error), log *slog.Logger) (pipeline.Report, error) {
	return RunWithWaitOptions(ctx, run, WaitOptions{Log: log})
}

// RunWithWaitOptions is RunWithWait with its knobs.
func RunWithWaitOptions(ctx context.Context, run func(ctx context.Context) (pipeline.Report, error), o WaitOptions) (pipeline.Report, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Margin <= 0 {
		o.Margin = time.Second
	}
	if o.Unknown <= 0 {
		o.Unknown = 15 * time.Minute
	}
	if o.Idle <= 0 {
		o.Idle = 3
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Progress == nil {
		o.Progress = progress
	}
	if o.Sleep == nil {
		o.Sleep = pace.Sleep
	}
	start := o.Now()
	var reps []pipeline.Report
	idle := 0
	for {
		rep, err := run(ctx)
		reps = append(reps, rep)
		var qe *pipeline.QuotaError
		if err == nil || !errors.As(err, &qe) || ctx.Err() != nil {
			return finish(reps, start, o.Now()), err
		}
		if o.Progress(rep) {
			idle = 0
		} else if idle++; idle >= o.Idle {
			o.Log.Error("no row was checkpointed in the last quota windows: the rows in flight need more requests than one window allows; run again with fewer --workers",
				"runs", len(reps))
			return finish(reps, start, o.Now()), err
		}
		now := o.Now()
		until := qe.ResetAt.Add(o.Margin)
		if qe.ResetAt.IsZero() {
			until = now.Add(o.Unknown)
		}
		wait := max(until.Sub(now), o.Margin)
		o.Log.Info("daily quota spent; waiting for it to reset (--wait), then going on",
			"until", now.Add(wait).Format(time.RFC3339), "wait", wait.Round(time.Second).String(), "runs", len(reps))
		if err := o.Sleep(ctx, wait); err != nil {
			rep := finish(reps, start, o.Now())
			rep.Outcome, rep.Error = "interrupted", pipeline.ErrInterrupted.Error()
			return rep, pipeline.ErrInterrupted
		}
		o.Log.Info("quota wait over; resuming", "run", len(reps)+1)
	}
}

// progress is work a run checkpointed: rows written, or notes and tasks
// (journaled). Tag calls alone are not: a row is checkpointed only when its
// whole group is done, so a quota smaller than the groups in flight makes
// requests and checkpoints nothing, run after run.
func progress(r pipeline.Report) bool {
	return r.Created+r.Updated+r.NotesCreated+r.TasksCreated > 0 || r.Rejected > 0 && r.Requests > 0
}

func finish(reps []pipeline.Report, start, end time.Time) pipeline.Report {
	r := MergeReports(reps...)
	if len(reps) > 1 {
		r.ElapsedS = end.Sub(start).Seconds()
	}
	return r
}

// MergeReports is the report of runs that resumed one another over the
// same input (each reads every row again, and counts the rows an earlier
// one wrote as unchanged): writes and requests are summed, rows_read and
// rejected are the most any run saw, unchanged is what is left, so that
// rows_read = created + updated + unchanged + rejected still holds. The
// outcome, error and run id are the last run's; elapsed_s is summed.
func MergeReports(reps ...pipeline.Report) pipeline.Report {
	if len(reps) == 0 {
		return pipeline.Report{}
	}
	if len(reps) == 1 {
		return reps[0]
	}
	// Writes and requests add up as for runs side by side; what differs
	// is counted again below.
	out := pipeline.SumReports(reps...)
	last := reps[len(reps)-1]
	out.DryRun, out.RejectsFile, out.Outcome, out.Error, out.RunID, out.RunTag = last.DryRun, last.RejectsFile, last.Outcome, last.Error, last.RunID, last.RunTag
	out.RowsRead, out.Rejected, out.ElapsedS = 0, 0, 0
	for _, r := range reps {
		out.RowsRead = max(out.RowsRead, r.RowsRead)
		out.Rejected = max(out.Rejected, r.Rejected)
		out.ElapsedS += r.ElapsedS
	}
	out.Unchanged = max(0, out.RowsRead-out.Created-out.Updated-out.Rejected)
	out.RowsRead = out.Created + out.Updated + out.Unchanged + out.Rejected
	return out
}
