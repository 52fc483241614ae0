package plan_test

import (
	"errors"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
	"github.com/ghlbulk/ghlbulk/jobs/plan"
	"github.com/ghlbulk/ghlbulk/pipeline"
)

// --max-requests stops a run softly once it has made N requests (exit 3,
// resumable); the next run goes on from there; and the ID map lists what
// was written.
func TestCapStopsRunAndIDMap(t *testing.T) {
	c := plan.NewCap(100)
	e := newEnv(t, sandbox.Options{Rate: -1}, 300, func(next http.RoundTripper) http.RoundTripper { return c.Wrap(next) })
	st := e.open()
	defer st.Close()
	ctx, stop := c.Context(e.ctx())
	rep, err := pipeline.RunImport(ctx, e.config(st))
	stop()
	err = c.Explain(err)
	var ce *plan.CapError
	if !errors.As(err, &ce) || !errors.Is(err, pipeline.ErrInterrupted) || pipeline.ExitCode(err) != 3 {
		t.Fatalf("err %v, want a cap stop (exit 3)", err)
	}
	served := e.sb.Counts().Total
	t.Logf("cap 100: %d made, %d served, report %d requests; %v", c.Made(), served, rep.Requests, err)
	if c.Made() < 100 || served != c.Made() || rep.Requests != served {
		t.Errorf("made %d, served %d, report %d", c.Made(), served, rep.Requests)
	}
	if rep.Created == 0 {
		t.Errorf("nothing was checkpointed: %+v", rep)
	}
	rep2, err := pipeline.RunImport(e.ctx(), e.config(st))
	if err != nil || rep2.Created+rep.Created+rep2.Updated < 294 {
		t.Fatalf("resumed run: %+v, %v", rep2, err)
	}

	path := filepath.Join(e.dir, "ids.csv")
	n, err := plan.WriteIDMap(e.ctx(), st, path)
	if err != nil || n != 294 {
		t.Fatalf("WriteIDMap: %d lines, %v", n, err)
	}
	lines := readCSV(t, path)
	if lines[0][0] != "source_key" || lines[0][2] != "contact_id" || lines[1][0] != "S1000" ||
		lines[1][1] != "email:p0@example.com" || lines[1][2] == "" {
		t.Errorf("id map starts %q", lines[:2])
	}
}
