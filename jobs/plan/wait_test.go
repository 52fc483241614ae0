package plan_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/ghl/pace"
	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
	"github.com/ghlbulk/ghlbulk/jobs/plan"
	"github.com/ghlbulk/ghlbulk/pipeline"
	"github.com/ghlbulk/ghlbulk/sinks"
)

// A quota too small for the input stops the run (resumable); RunWithWait
// waits for the quota and goes on until it is done, across several windows.
func TestRunWithWaitAcrossQuotaWindows(t *testing.T) {
	const window = time.Second
	e := newEnv(t, sandbox.Options{Rate: -1, Daily: 120, DailyWindow: window}, 150, nil)
	st := e.open()
	defer st.Close()
	tok, err := e.sb.IssueToken(e.sb.LocationID(), nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// Each run gets its own pacer, as a fresh process would: the pacer
	// guesses the next UTC midnight for a quota spent on a 2xx answer
	// (see the report), which the sandbox's short window is not.
	run := func(ctx context.Context) (pipeline.Report, error) {
		pacer := pace.NewTransport(http.DefaultTransport, pace.DefaultLimits())
		c := ghl.New(e.base, &http.Client{Timeout: 10 * time.Second, Transport: bearer(tok, pacer)})
		cfg := e.config(st)
		cfg.Workers, cfg.GroupSize = 2, 10
		sink := sinks.NewGHL(c, sinks.GHLOptions{LocationID: e.sb.LocationID(), Journal: st,
			Policy: pace.Policy{Initial: time.Millisecond, Max: 5 * time.Millisecond, MaxAttempts: 5}})
		cfg.Sink, cfg.Tags = sink, sink
		return pipeline.RunImport(ctx, cfg)
	}
	first, err := run(e.ctx())
	var qe *pipeline.QuotaError
	if !errors.As(err, &qe) || pipeline.ExitCode(err) != 3 {
		t.Fatalf("without --wait: %v (exit %d), want a quota stop", err, pipeline.ExitCode(err))
	}
	waits := 0
	rep, err := plan.RunWithWaitOptions(e.ctx(), run, plan.WaitOptions{
		Sleep: func(ctx context.Context, d time.Duration) error {
			waits++
			t.Logf("wait %v (asked %v)", min(d, window), d)
			select {
			case <-time.After(min(d, window+100*time.Millisecond)):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		},
	})
	if err != nil {
		t.Fatalf("with --wait: %v", err)
	}
	total := plan.MergeReports(first, rep)
	t.Logf("waits %d; merged %+v", waits, total)
	if waits < 1 || rep.Outcome != "done" {
		t.Errorf("waits %d, outcome %q", waits, rep.Outcome)
	}
	if total.Created+total.Updated+total.Rejected != 150 || total.RowsRead != 150 {
		t.Errorf("merged report %+v: not every row written", total)
	}
	if n := e.sb.Counts().ByRoute["POST /contacts/upsert"]; n < 147 {
		t.Errorf("%d upserts served", n)
	}
}

func TestRunWithWaitInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	run := func(context.Context) (pipeline.Report, error) {
		calls++
		return pipeline.Report{RowsRead: 10, Created: 4, Rejected: 1, Unchanged: 5, Requests: 7},
			&pipeline.QuotaError{ResetAt: time.Now().Add(time.Hour)}
	}
	rep, err := plan.RunWithWaitOptions(ctx, run, plan.WaitOptions{Sleep: func(ctx context.Context, d time.Duration) error {
		if d < 59*time.Minute {
			t.Errorf("wait %v, want about an hour", d)
		}
		cancel()
		<-ctx.Done()
		return ctx.Err()
	}})
	if !errors.Is(err, pipeline.ErrInterrupted) || calls != 1 || rep.Outcome != "interrupted" || rep.Created != 4 {
		t.Errorf("calls %d, rep %+v, err %v", calls, rep, err)
	}
}

func TestMergeReports(t *testing.T) {
	a := pipeline.Report{RowsRead: 40, Created: 30, Rejected: 2, Unchanged: 8, Requests: 50, RequestsByKind: map[string]int64{"upsert": 40}}
	b := pipeline.Report{RowsRead: 100, Created: 50, Updated: 5, Unchanged: 40, Rejected: 5, Requests: 70, RequestsByKind: map[string]int64{"upsert": 55}, Outcome: "done"}
	m := plan.MergeReports(a, b)
	if m.RowsRead != 100 || m.Created != 80 || m.Updated != 5 || m.Rejected != 5 || m.Unchanged != 10 ||
		m.Requests != 120 || m.RequestsByKind["upsert"] != 95 || m.Outcome != "done" {
		t.Errorf("merged %+v", m)
	}
}
