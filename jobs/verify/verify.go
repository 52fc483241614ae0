// Package verify re-reads what an import wrote and compares it, field by
// field, with what the mapping makes of the input rows: the check a user
// runs after a migration before switching the old CRM off.
//
// Floor 4 (docs/design.md): imports the engine and the floors below it, never the command line.
package verify

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/ghl/pace"
	"github.com/ghlbulk/ghlbulk/internal/fanout"
	"github.com/ghlbulk/ghlbulk/internal/fsx"
	"github.com/ghlbulk/ghlbulk/pipeline"
	"github.com/ghlbulk/ghlbulk/record"
)

// DefaultSample is how many contacts are checked without --sample or --all.
const DefaultSample = 200

// Options say what to check and how.
type Options struct {
	Files       []string
	Open        func(path string) (record.Source, error)
	Fingerprint func(path string) (string, error) // nil: pipeline.FileFingerprint
	Transform   pipeline.TransformFunc
	// Store is the state of the run that wrote the contacts: it says which
	// contact each row went to.
	Store  *pipeline.Store
	Client *ghl.Client
	// Sample is the number of contacts checked (0: DefaultSample); All
	// checks every contact the state has (memory grows with the number of
	// contacts: their expected fields are held until they are read back).
	Sample int
	All    bool
	// DiffPath, if set, gets the differences as CSV.
	DiffPath string
	// Workers is the number of GET requests in flight (0: 4).
	Workers int
	// Policy is how each read is retried (zero: pace.DefaultPolicy); Stats,
	// if set, counts the requests, retries and 429s.
	Policy pace.Policy
	Stats  pace.Recorder
}

// Diff is one field of one contact that is not what the mapping says.
type Diff struct {
	Row       int64 // the last input row that set the field
	File      string
	ContactID string
	Field     string // API name: email, phone, tags, customFields.<id>, ...
	Expected  string
	Actual    string
}

// Result is what verify found.
type Result struct {
	Contacts int // contacts checked
	Matched  int // contacts whose every mapped field matches
	Fields   int // fields compared
	Diffs    []Diff
}

// Share is the matched share of the contacts checked, in percent.
func (r Result) Share() float64 {
	if r.Contacts == 0 {
		return 100
	}
	return 100 * float64(r.Matched) / float64(r.Contacts)
}

// Print writes the summary.
func (r Result) Print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "verify")
	fmt.Fprintf(tw, "  contacts checked\t%d\n", r.Contacts)
	fmt.Fprintf(tw, "  fields compared\t%d\n", r.Fields)
	fmt.Fprintf(tw, "  matching\t%d (%.1f%%)\n", r.Matched, r.Share())
	fmt.Fprintf(tw, "  differences\t%d\n", len(r.Diffs))
	tw.Flush()
}

// expected is what the input says one contact should hold: the rows that
// went to it, merged in input order as the upserts applied them (a blank
// never overwrites; tags add up).
type expected struct {
	id     string
	fields map[string]field
	tags   map[string]field
	custom map[string]field // by custom field id
}

type field struct {
	value string
	file  string
	row   int64
}

// Run checks the sample and writes DiffPath.
func Run(ctx context.Context, o Options) (Result, error) {
	if o.Store == nil || o.Client == nil || o.Open == nil || o.Transform == nil {
		return Result{}, errors.New("verify: Store, Client, Open and Transform are required")
	}
	if o.Fingerprint == nil {
		o.Fingerprint = pipeline.FileFingerprint
	}
	if o.Sample <= 0 {
		o.Sample = DefaultSample
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	ids, err := sample(ctx, o.Store, o.Sample, o.All)
	if err != nil {
		return Result{}, err
	}
	want := make(map[string]*expected, len(ids))
	for _, id := range ids {
		want[id] = &expected{id: id, fields: map[string]field{}, tags: map[string]field{}, custom: map[string]field{}}
	}
	for _, f := range o.Files {
		if err := readFile(ctx, o, f, want); err != nil {
			return Result{}, err
		}
	}
	res, err := compareAll(ctx, o, ids, want)
	if err != nil {
		return res, err
	}
	if o.DiffPath != "" {
		if err := writeDiffs(o.DiffPath, res.Diffs); err != nil {
			return res, err
		}
	}
	return res, nil
}

// sample picks n contact ids the state has as written, spread evenly over
// the input order (every contact with all).
func sample(ctx context.Context, st *pipeline.Store, n int, all bool) ([]string, error) {
	ids, err := st.WrittenContacts(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the state: %w", err)
	}
	if all || len(ids) <= n {
		return ids, nil
	}
	out := make([]string, n)
	for i := range n {
		out[i] = ids[i*len(ids)/n]
	}
	return out, nil
}

// readFile merges the rows of file that went to a sampled contact, as the
// state recorded them (a row whose content changed since is skipped).
func readFile(ctx context.Context, o Options, file string, want map[string]*expected) (err error) {
	fp, err := o.Fingerprint(file)
	if err != nil {
		return fmt.Errorf("input %s: %w", file, err)
	}
	src, err := o.Open(file)
	if err != nil {
		return fmt.Errorf("input %s: %w", file, err)
	}
	defer func() {
		if cerr := src.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	for {
		b, err := src.Next(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("input %s: %w", file, err)
		}
		if b.Record == nil {
			continue
		}
		recs := o.Transform(b.Record, b.File, b.FirstRow)
		b.Record.Release()
		if len(recs) == 0 {
			continue
		}
		done, err := o.Store.Rows(ctx, fp, recs[0].Row, recs[len(recs)-1].Row)
		if err != nil {
			return err
		}
		for i := range recs {
			rec := &recs[i]
			d, ok := done[rec.Row]
			if !ok || d.Hash != rec.Hash || d.Status == record.StatusRejected || rec.Err != nil {
				continue
			}
			if e := want[d.ContactID]; e != nil {
				e.merge(rec, file)
			}
		}
	}
}

func (e *expected) merge(rec *record.Row, file string) {
	set := func(name string, p *string) {
		if p != nil && strings.TrimSpace(*p) != "" {
			e.fields[name] = field{value: *p, file: file, row: rec.Row}
		}
	}
	c := &rec.Contact
	set("firstName", c.FirstName)
	set("lastName", c.LastName)
	set("name", c.Name)
	set("email", c.Email)
	set("phone", c.Phone)
	set("address1", c.Address1)
	set("city", c.City)
	set("state", c.State)
	set("postalCode", c.PostalCode)
	set("website", c.Website)
	set("timezone", c.Timezone)
	set("source", c.Source)
	set("dateOfBirth", c.DateOfBirth)
	set("country", c.Country)
	set("companyName", c.CompanyName)
	set("assignedTo", c.AssignedTo)
	if c.DND != nil {
		e.fields["dnd"] = field{value: strconv.FormatBool(*c.DND), file: file, row: rec.Row}
	}
	for _, t := range rec.Tags {
		if n := normTag(t); n != "" {
			e.tags[n] = field{value: n, file: file, row: rec.Row}
		}
	}
	for _, cf := range c.CustomFields {
		if cf.ID == "" {
			continue
		}
		e.custom[cf.ID] = field{value: canonValue(cf.FieldValue), file: file, row: rec.Row}
	}
}

func compareAll(ctx context.Context, o Options, ids []string, want map[string]*expected) (Result, error) {
	type answer struct {
		diffs  []Diff
		fields int
	}
	answers := make([]answer, len(ids))
	order := make([]int, len(ids))
	for i := range order {
		order[i] = i
	}
	err := fanout.Each(ctx, o.Workers, order, func(ctx context.Context, i int) error {
		id := ids[i]
		got, err := o.get(ctx, id)
		var ae *ghl.APIError
		switch {
		case errors.As(err, &ae) && (ae.StatusCode == http.StatusNotFound || ae.StatusCode == http.StatusBadRequest):
			answers[i] = answer{diffs: []Diff{{ContactID: id, Field: "contact", Expected: "exists", Actual: "not found"}}, fields: 1}
		case err != nil:
			return fmt.Errorf("GET /contacts/%s: %w", id, err)
		default:
			d, n := compare(want[id], got)
			answers[i] = answer{diffs: d, fields: n}
		}
		return nil
	})
	if err != nil {
		return Result{}, err
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	var r Result
	for _, a := range answers {
		r.Contacts++
		r.Fields += a.fields
		if len(a.diffs) == 0 {
			r.Matched++
		}
		r.Diffs = append(r.Diffs, a.diffs...)
	}
	return r, nil
}

// get reads one contact with the retries every other request of a run has:
// a 429, a 5xx or a dropped connection is no reason to fail the check.
func (o Options) get(ctx context.Context, id string) (*ghl.Contact, error) {
	var c *ghl.Contact
	err := pace.Retry(ctx, o.Policy, o.Stats, func(ctx context.Context) error {
		var err error
		c, err = o.Client.GetContact(ctx, id)
		return err
	})
	return c, err
}

// Compare is one contact's check: the fields e sets, against c as read.
func compare(e *expected, c *ghl.Contact) (diffs []Diff, fields int) {
	actual := map[string]string{
		"firstName": c.FirstName, "lastName": c.LastName, "name": c.Name, "email": c.Email, "phone": c.Phone,
		"address1": c.Address1, "city": c.City, "state": c.State, "postalCode": c.PostalCode, "website": c.Website,
		"timezone": c.Timezone, "source": c.Source, "dateOfBirth": c.DateOfBirth, "country": c.Country,
		"companyName": c.CompanyName, "assignedTo": c.AssignedTo, "dnd": strconv.FormatBool(c.DND),
	}
	diff := func(name string, f field, got string) {
		diffs = append(diffs, Diff{Row: f.row, File: f.file, ContactID: e.id, Field: name, Expected: f.value, Actual: got})
	}
	names := sortedKeys(e.fields)
	for _, name := range names {
		f := e.fields[name]
		fields++
		if !same(name, f.value, actual[name]) {
			diff(name, f, actual[name])
		}
	}
	have := make(map[string]bool, len(c.Tags))
	for _, t := range c.Tags {
		have[normTag(t)] = true
	}
	for _, t := range sortedKeys(e.tags) {
		fields++
		if !have[t] {
			diff("tags", e.tags[t], strings.Join(c.Tags, ";"))
		}
	}
	got := make(map[string]string, len(c.CustomFields))
	for _, cf := range c.CustomFields {
		var v any
		if len(cf.Value) > 0 && json.Unmarshal(cf.Value, &v) == nil {
			got[cf.ID] = canonValue(v)
		}
	}
	for _, id := range sortedKeys(e.custom) {
		fields++
		f := e.custom[id]
		if !sameValue(f.value, got[id]) {
			diff("customFields."+id, f, got[id])
		}
	}
	return diffs, fields
}

// same compares one standard field as the API may write it back.
func same(name, want, got string) bool {
	want, got = strings.TrimSpace(want), strings.TrimSpace(got)
	switch name {
	case "email", "website":
		return strings.EqualFold(want, got)
	case "phone":
		return e164(want) == e164(got)
	case "dateOfBirth":
		return dateOnly(want) == dateOnly(got)
	}
	return want == got
}

// e164 keeps the digits of a phone number behind a plus.
func e164(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return "+" + b.String()
}

func dateOnly(s string) string {
	if len(s) >= 10 {
		return s[:10]
	}
	return s
}

// canonValue is a custom field value as text: lists sorted and joined
// with "|", numbers without trailing zeros.
func canonValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return strings.TrimSpace(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case json.Number:
		return x.String()
	case []string:
		s := slices.Clone(x)
		for i := range s {
			s[i] = strings.TrimSpace(s[i])
		}
		slices.Sort(s)
		return strings.Join(s, "|")
	case []any:
		s := make([]string, len(x))
		for i, e := range x {
			s[i] = canonValue(e)
		}
		slices.Sort(s)
		return strings.Join(s, "|")
	}
	return fmt.Sprint(v)
}

// sameValue compares canonical custom field values, numbers as numbers.
func sameValue(want, got string) bool {
	if want == got {
		return true
	}
	a, errA := strconv.ParseFloat(want, 64)
	b, errB := strconv.ParseFloat(got, 64)
	return errA == nil && errB == nil && a == b
}

func normTag(t string) string { return strings.ToLower(strings.TrimSpace(t)) }

func sortedKeys[V any](m map[string]V) []string {
	k := make([]string, 0, len(m))
	for s := range m {
		k = append(k, s)
	}
	slices.Sort(k)
	return k
}

// writeDiffs writes the differences as CSV, aside then renamed.
func writeDiffs(path string, diffs []Diff) (err error) {
	tmp, err := fsx.Create(path)
	if err != nil {
		return fmt.Errorf("--diff: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Abort()
		}
	}()
	w := csv.NewWriter(tmp)
	_ = w.Write([]string{"row", "file", "contact_id", "field", "expected", "actual"})
	for _, d := range diffs {
		row := ""
		if d.Row > 0 {
			row = strconv.FormatInt(d.Row, 10)
		}
		_ = w.Write([]string{row, d.File, d.ContactID, d.Field, d.Expected, d.Actual})
	}
	w.Flush()
	if err = w.Error(); err != nil {
		return fmt.Errorf("--diff: %w", err)
	}
	if err = tmp.Commit(); err != nil {
		return fmt.Errorf("--diff: %w", err)
	}
	return nil
}
