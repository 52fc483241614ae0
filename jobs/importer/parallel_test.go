package importer

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ghlbulk/ghlbulk/jobs/predict"
	"github.com/ghlbulk/ghlbulk/pipeline"
	"github.com/ghlbulk/ghlbulk/record"
	"github.com/ghlbulk/ghlbulk/sources"
	"github.com/ghlbulk/ghlbulk/transform"
)

// validateWith runs validate's dry run of file through mapping with the
// mapping on workers batches at once, and returns the plan and rejects
// files' bytes.
func validateWith(t *testing.T, file, mapping string, workers int) (plan, rejects []byte) {
	t.Helper()
	dir := t.TempDir()
	spec, err := transform.LoadMapping(mapping)
	if err != nil {
		t.Fatal(err)
	}
	src, err := sources.OpenCSV(file, sources.CSVOptions{BatchSize: 97}) // odd batches: many of them, ragged ends
	if err != nil {
		t.Fatal(err)
	}
	m, err := spec.Compile(src.Header(), offlineFields(spec.CustomFieldKeys(), slog.New(slog.DiscardHandler)))
	src.Close()
	if err != nil {
		t.Fatal(err)
	}
	pf, err := CreatePlanFile(filepath.Join(dir, "plan.csv"), true, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Abort()
	pred := predict.New(nil, predict.Options{Duplicates: spec.Duplicates()})
	cfg := pipeline.ImportConfig{
		Files:            []string{file},
		Open:             func(p string) (record.Source, error) { return sources.OpenCSV(p, sources.CSVOptions{BatchSize: 97}) },
		Transform:        ContactsTransform(map[string]*transform.Mapping{file: m}),
		TransformWorkers: workers,
		Inspect:          pf.Inspect(pred),
		RejectsPath:      filepath.Join(dir, "rejects.csv"),
		DryRun:           true,
	}
	rep, runErr := pipeline.RunImport(context.Background(), cfg)
	if runErr != nil {
		t.Fatal(runErr)
	}
	path, err := pf.Finish(rep, runErr)
	if err != nil {
		t.Fatal(err)
	}
	plan, _ = os.ReadFile(path)
	rejects, _ = os.ReadFile(cfg.RejectsPath)
	return plan, rejects
}

// genContacts writes n HubSpot-style rows: every 7th repeats an earlier
// row's email, every 11th has a bad phone, every 13th no email or phone.
func genContacts(t *testing.T, n int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("Record ID,First Name,Last Name,Email,Phone Number,Company Name,Lifecycle Stage,City,State/Region,Postal Code,Country/Region,Create Date\n")
	for i := range n {
		email := fmt.Sprintf("p%d@example.com", i)
		if i%7 == 6 {
			email = fmt.Sprintf("p%d@example.com", i/2)
		}
		phone := fmt.Sprintf("(212) %03d-%04d", 200+i/10000, i%10000)
		if i%11 == 10 {
			phone = "555-01"
		}
		if i%13 == 12 {
			email, phone = "", ""
		}
		fmt.Fprintf(&b, "%d,Ann%d,Lee,%s,%s,Acme,lead,Boston,MA,02110,United States,2024-01-%02d 09:00\n", 1000+i, i, email, phone, 1+i%28)
	}
	path := filepath.Join(t.TempDir(), "gen.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestValidateParallelSameBytes: the plan and rejects of a dry run whose
// mapping runs on several batches at once are the sequential run's, byte
// for byte.
func TestValidateParallelSameBytes(t *testing.T) {
	root := filepath.Join("..", "..")
	tests := []struct{ name, file, mapping string }{
		{"hubspot sample", filepath.Join(root, "samples", "hubspot-contacts.csv"), filepath.Join(root, "mappings", "hubspot.yaml")},
		{"generated 50k", genContacts(t, 50000), filepath.Join(root, "mappings", "hubspot.yaml")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan1, rej1 := validateWith(t, tt.file, tt.mapping, 1)
			if bytes.Count(plan1, []byte("\n")) < 2 {
				t.Fatalf("plan has no rows:\n%s", plan1)
			}
			for _, w := range []int{2, 4, 8} {
				planN, rejN := validateWith(t, tt.file, tt.mapping, w)
				if !bytes.Equal(plan1, planN) {
					t.Errorf("%d workers: the plan differs from one worker's", w)
				}
				if !bytes.Equal(rej1, rejN) {
					t.Errorf("%d workers: the rejects differ from one worker's", w)
				}
			}
		})
	}
}
