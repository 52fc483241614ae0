package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
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

const e2eMapping = `version: 1
key: [email, phone]
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

type e2e struct {
	t       *testing.T
	dir     string
	csv     string
	mapping string
	state   string
	base    string
	sb      *sandbox.Server
	client  *ghl.Client
}

func newE2E(t *testing.T, faults sandbox.FaultSpec, rows int) *e2e {
	t.Helper()
	sb, err := sandbox.New(sandbox.Options{Rate: -1, Faults: faults, Seed: 7})
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
	hc := &http.Client{Timeout: 10 * time.Second, Transport: bearer(tok, http.DefaultTransport)}
	dir := t.TempDir()
	e := &e2e{t: t, dir: dir, csv: filepath.Join(dir, "people.csv"), mapping: filepath.Join(dir, "m.yaml"),
		state: filepath.Join(dir, "state.db"), base: base, sb: sb, client: ghl.New(base, hc)}
	var b strings.Builder
	b.WriteString("first,email,phone,tags,note,task\n")
	for i := range rows {
		email := fmt.Sprintf("p%d@example.com", i)
		tags := "customer"
		if i%3 == 0 {
			tags = "customer;vip"
		}
		note, task := "", ""
		if i%5 == 0 {
			note = fmt.Sprintf("note for %d", i)
		}
		if i%7 == 0 {
			task = fmt.Sprintf("call %d", i)
		}
		if i%50 == 49 {
			email = "not-an-email" // rejected by the mapping
		}
		fmt.Fprintf(&b, "P%d,%s,,%s,%s,%s\n", i, email, tags, note, task)
	}
	os.WriteFile(e.csv, []byte(b.String()), 0o644)
	os.WriteFile(e.mapping, []byte(e2eMapping), 0o644)
	return e
}

func (e *e2e) run(ctx context.Context) (pipeline.Report, error) {
	t := e.t
	t.Helper()
	spec, err := transform.LoadMapping(e.mapping)
	if err != nil {
		t.Fatal(err)
	}
	src, err := sources.OpenCSV(e.csv, sources.CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	header := src.Header()
	src.Close()
	m, err := spec.Compile(header, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := pipeline.OpenStore(e.state, pipeline.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	stats := pipeline.NewStats()
	policy := pace.Policy{Initial: time.Millisecond, Max: 5 * time.Millisecond, Total: 5 * time.Second, MaxAttempts: 20}
	sink := sinks.NewGHL(e.client, sinks.GHLOptions{LocationID: e.sb.LocationID(), Policy: policy, Journal: st})
	return pipeline.RunImport(ctx, pipeline.ImportConfig{
		Files:       []string{e.csv},
		Open:        func(p string) (record.Source, error) { return sources.OpenCSV(p, sources.CSVOptions{BatchSize: 100}) },
		Fingerprint: sources.Fingerprint,
		Transform:   m.Apply,
		MappingHash: "m1",
		Sink:        sink,
		Tags:        sink,
		LocationID:  e.sb.LocationID(),
		Workers:     4,
		Store:       st,
		RejectsPath: filepath.Join(e.dir, "rejects.csv"),
		Stats:       stats,
	})
}

// snapshot is what the sandbox holds: per email, the tags, notes and tasks.
// Reads are retried: the faulty sandbox drops them too.
func (e *e2e) snapshot() map[string]string {
	ctx := context.Background()
	p := pace.Policy{Initial: time.Millisecond, Max: 5 * time.Millisecond, MaxAttempts: 50}
	out := map[string]string{}
	var contacts []ghl.Contact
	q := ghl.ListContactsParams{LocationID: e.sb.LocationID(), Limit: 100}
	for range 1000 {
		var page *ghl.ContactsPage
		err := pace.Retry(ctx, p, nil, func(ctx context.Context) error {
			var err error
			page, err = e.client.ListContacts(ctx, q)
			return err
		})
		if err != nil {
			e.t.Fatal(err)
		}
		contacts = append(contacts, page.Contacts...)
		if page.Last || len(page.Contacts) == 0 {
			break
		}
		q = page.NextParams
	}
	{
		for _, c := range contacts {
			var notes []ghl.Note
			var tasks []ghl.Task
			err := pace.Retry(ctx, p, nil, func(ctx context.Context) error {
				var err error
				if notes, err = e.client.ListNotes(ctx, c.ID); err != nil {
					return err
				}
				tasks, err = e.client.ListTasks(ctx, c.ID)
				return err
			})
			if err != nil {
				e.t.Fatal(err)
			}
			tags := append([]string{}, c.Tags...)
			sort.Strings(tags)
			var ns, ts []string
			for _, n := range notes {
				ns = append(ns, n.Body)
			}
			for _, t := range tasks {
				ts = append(ts, t.Title+"/"+t.Body)
			}
			sort.Strings(ns)
			sort.Strings(ts)
			out[c.Email] = fmt.Sprintf("%s|%s|tags=%v|notes=%q|tasks=%q", c.FirstName, c.Phone, tags, ns, ts)
		}
	}
	return out
}

func TestImportSandbox(t *testing.T) {
	const rows = 400
	clean := newE2E(t, sandbox.FaultSpec{}, rows)
	r, err := clean.run(context.Background())
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	if r.RowsRead != rows || r.RowsRead != r.Done() || r.Rejected != rows/50 || r.Created != rows-rows/50 {
		t.Errorf("report %+v", r)
	}
	writes := clean.sb.Counts().Writes
	perContact := float64(r.RequestsByKind["upsert"]+r.RequestsByKind["bulk_tags"]+r.RequestsByKind["tags"]) / float64(r.Created)
	if perContact > 1.05 {
		t.Errorf("%.3f requests per contact for upsert and tags: %v", perContact, r.RequestsByKind)
	}
	want := clean.snapshot()
	if len(want) != rows-rows/50 {
		t.Errorf("sandbox holds %d contacts", len(want))
	}

	// Again: no write request at all.
	clean.sb.ResetCounts()
	r2, err := clean.run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if w := clean.sb.Counts().Writes; w != 0 {
		t.Errorf("re-run sent %d write requests", w)
	}
	if r2.Unchanged != rows-rows/50 || r2.Rejected != rows/50 || r2.RowsRead != r2.Done() {
		t.Errorf("re-run report %+v", r2)
	}
	_ = writes

	// With 5xx answers and connections dropped after the write was
	// applied: the same contacts, notes and tasks exactly once.
	faulty := newE2E(t, sandbox.FaultSpec{Err5xx: 0.05, DropAfter: 0.05, DropBefore: 0.02, Seed: 3}, rows)
	r3, err := faulty.run(context.Background())
	if err != nil {
		t.Fatalf("faulty import: %v", err)
	}
	if faulty.sb.Counts().FaultsTotal() == 0 {
		t.Error("no fault was injected")
	}
	if r3.RowsRead != r3.Done() || r3.Rejected != rows/50 || r3.Retries == 0 {
		t.Errorf("faulty report %+v", r3)
	}
	got := faulty.snapshot()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s:\n faulty %s\n clean  %s", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("faulty run: %d contacts, clean %d", len(got), len(want))
	}
}

func TestImportSandboxRunFaults(t *testing.T) {
	tests := []struct {
		name  string
		token func(sb *sandbox.Server) string
		kind  record.FaultKind
		exit  int
	}{
		{"bad token", func(*sandbox.Server) string { return "not-a-token" }, record.FaultAuth, 2},
		{"read-only scope", func(sb *sandbox.Server) string {
			tok, err := sb.IssueToken(sb.LocationID(), []string{"contacts.readonly"}, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}, record.FaultScope, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newE2E(t, sandbox.FaultSpec{}, 50)
			e.client = ghl.New(e.base, &http.Client{Transport: bearer(tc.token(e.sb), http.DefaultTransport)})
			r, err := e.run(context.Background())
			var fe *record.FaultError
			if !errors.As(err, &fe) || fe.Kind != tc.kind || pipeline.ExitCode(err) != tc.exit {
				t.Fatalf("run = %v (%T), want fault %s, exit %d", err, err, tc.kind, tc.exit)
			}
			t.Logf("%v; report %+v", err, r)
			if r.RowsRead != r.Done() || r.Created != 0 {
				t.Errorf("report %+v", r)
			}
			if w := e.sb.Counts().Writes; w > int64(4) {
				t.Errorf("%d write requests before stopping", w)
			}
		})
	}
}

// bearer is the auth transport the CLI uses, with a static token.
func bearer(token string, next http.RoundTripper) http.RoundTripper {
	return auth.NewTransport(next, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token}))
}
