package plan_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/ghlbulk/ghlbulk/auth"
	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/ghl/pace"
	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
	"github.com/ghlbulk/ghlbulk/pipeline"
	"github.com/ghlbulk/ghlbulk/record"
	"github.com/ghlbulk/ghlbulk/sinks"
	"github.com/ghlbulk/ghlbulk/sources"
	"github.com/ghlbulk/ghlbulk/transform"
)

const testMapping = `version: 1
key: [email, phone]
source_key: "id"
defaults:
  phone_region: US
fields:
  firstName: "first"
  email: "email"
  phone: "phone"
tags:
  - { split: "tags", sep: ";" }
  - { value: "imported" }
notes:
  - { column: "note" }
tasks:
  - { title: "Follow up", body: { column: "task" }, due: { value: "2026-12-01" }, when: 'col["task"] != ""' }
`

// env is one sandbox, one input file and one state.
type env struct {
	t       *testing.T
	dir     string
	csv     string
	state   string
	base    string
	sb      *sandbox.Server
	client  *ghl.Client
	pacer   *pace.Transport
	mapping *transform.Mapping
}

func newEnv(t *testing.T, opt sandbox.Options, rows int, wrap func(http.RoundTripper) http.RoundTripper) *env {
	t.Helper()
	if opt.Seed == 0 {
		opt.Seed = 7
	}
	sb, err := sandbox.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	base, err := sb.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	tok, err := sb.IssueToken(sb.LocationID(), nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var rt http.RoundTripper = http.DefaultTransport
	if wrap != nil {
		rt = wrap(rt)
	}
	pacer := pace.NewTransport(rt, pace.DefaultLimits())
	hc := &http.Client{Timeout: 10 * time.Second, Transport: bearer(tok, pacer)}
	dir := t.TempDir()
	e := &env{t: t, dir: dir, csv: filepath.Join(dir, "people.csv"), state: filepath.Join(dir, "state.db"),
		sb: sb, base: base, client: ghl.New(base, hc), pacer: pacer}
	e.write(rows, nil)
	mp := filepath.Join(dir, "m.yaml")
	os.WriteFile(mp, []byte(testMapping), 0o644)
	spec, err := transform.LoadMapping(mp)
	if err != nil {
		t.Fatal(err)
	}
	src, err := sources.OpenCSV(e.csv, sources.CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	header := src.Header()
	src.Close()
	if e.mapping, err = spec.Compile(header, nil); err != nil {
		t.Fatal(err)
	}
	return e
}

// write writes the input: rows people, with varied tags, notes and tasks,
// every 50th row rejected; edit may change a row's cells.
func (e *env) write(rows int, edit func(i int, cells []string)) {
	var b strings.Builder
	b.WriteString("id,first,email,phone,tags,note,task\n")
	for i := range rows {
		email := fmt.Sprintf("p%d@example.com", i)
		tags := []string{"customer", "customer;vip", "lead;Customer", "", "vip"}[i%5]
		note, task := "", ""
		if i%4 == 0 {
			note = fmt.Sprintf("note for %d", i)
		}
		if i%7 == 0 {
			task = fmt.Sprintf("call %d", i)
		}
		if i%50 == 49 {
			email = "not-an-email"
		}
		cells := []string{fmt.Sprintf("S%d", 1000+i), fmt.Sprintf("P%d", i), email, "", tags, note, task}
		if edit != nil {
			edit(i, cells)
		}
		b.WriteString(strings.Join(cells, ",") + "\n")
	}
	if err := os.WriteFile(e.csv, []byte(b.String()), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) config(st *pipeline.Store) pipeline.ImportConfig {
	policy := pace.Policy{Initial: time.Millisecond, Max: 5 * time.Millisecond, Total: 5 * time.Second, MaxAttempts: 20}
	sink := sinks.NewGHL(e.client, sinks.GHLOptions{LocationID: e.sb.LocationID(), Policy: policy, Journal: st})
	return pipeline.ImportConfig{
		Files:       []string{e.csv},
		Open:        func(p string) (record.Source, error) { return sources.OpenCSV(p, sources.CSVOptions{BatchSize: 64}) },
		Fingerprint: sources.Fingerprint,
		Transform:   e.mapping.Apply,
		MappingHash: "m1",
		Sink:        sink,
		Tags:        sink,
		LocationID:  e.sb.LocationID(),
		Workers:     4,
		GroupSize:   20,
		Store:       st,
		RejectsPath: filepath.Join(e.dir, "rejects.csv"),
		Stats:       pipeline.NewStats(),
	}
}

func (e *env) open() *pipeline.Store {
	st, err := pipeline.OpenStore(e.state, pipeline.StoreOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

func (e *env) ctx() context.Context {
	return pace.WithLocation(context.Background(), e.sb.LocationID())
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// bearer is the auth transport the CLI uses, with a static token.
func bearer(token string, next http.RoundTripper) http.RoundTripper {
	return auth.NewTransport(next, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token}))
}
