package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
)

// demoImports are the presets and their sample files, imported in turn.
var demoImports = []struct{ file, mapping string }{
	{"samples/hubspot-contacts.csv", "mappings/hubspot.yaml"},
	{"samples/salesforce-contacts.csv", "mappings/salesforce.yaml"},
	{"samples/mailchimp-audience.csv", "mappings/mailchimp.yaml"},
	{"samples/dirty.csv", "mappings/generic.yaml"},
}

// demoOptions are the demo's flags.
type demoOptions struct {
	f        *factory
	out      string
	rate     string
	contacts int
}

func newDemoCmd(f *factory) *cobra.Command {
	o := demoOptions{f: f}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Start a sandbox in-process, import samples/, export Parquet, print the summary",
		Long: `What 'make demo' runs, from the repository's root: starts the sandbox in this process, imports
each sample in samples/ through its preset in mappings/ (the dirty sample shows the rejects file),
imports them again to show that an unchanged file sends no write, then exports the location with
tasks, notes and appointments to Parquet and says how to query it.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDemo(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.out, "out", "out/demo", "where the demo writes its state, rejects, report and export: a new or empty folder, or an earlier demo's (cleared first)")
	cmd.Flags().StringVar(&o.rate, "rate", "off", "the sandbox's burst limit (e.g. 100/10s, the real API's)")
	cmd.Flags().IntVar(&o.contacts, "contacts", 200, "contacts the sandbox is seeded with before the import")
	return cmd
}

func runDemo(ctx context.Context, o demoOptions) error {
	f, out, contacts := o.f, o.out, o.contacts
	for _, d := range demoImports {
		if _, err := os.Stat(d.file); err != nil {
			return refused(fmt.Errorf("demo: %w (run it from the repository's root, as 'make demo' does)", err))
		}
	}
	n, every, err := parseRate(o.rate)
	if err != nil {
		return refused(err)
	}
	if err := prepareDemoOut(out); err != nil {
		return err
	}
	srv, err := sandbox.New(sandbox.Options{Addr: "127.0.0.1:0", Rate: n, Interval: every, Contacts: contacts, Seed: 1})
	if err != nil {
		return err
	}
	defer srv.Close()
	url, err := srv.Start()
	if err != nil {
		return err
	}
	token, err := srv.IssueToken(srv.LocationID(), sandbox.AllScopes, time.Hour)
	if err != nil {
		return err
	}
	df := f.withSandbox(url, srv.LocationID(), token)
	w := f.stdout
	fmt.Fprintf(w, "sandbox at %s, location %s, seeded with %d contacts\n\n", url, srv.LocationID(), contacts)
	if err := demoImportTwice(ctx, df, out); err != nil {
		return err
	}
	dir := filepath.Join(out, demoExportDir)
	fmt.Fprintf(w, "== export the location with tasks, notes and appointments to %s\n", dir)
	eo := exportOptions{f: df, out: dir, include: includable, format: "parquet", layout: "replace", workers: 8,
		report: filepath.Join(out, "export.report.json")}
	if err := runExport(ctx, eo); err != nil {
		return fmt.Errorf("demo export: %w", err)
	}
	fmt.Fprintf(w, `
Done. What to look at:
  %[1]s/*.rejects.csv
      rows that were not imported, with _row, _file and _reason
  %[1]s/*.report*.json
      each run's counters (the second pass made no write request)
  %[2]s/
      contacts, tasks, notes and appointments as Parquet, and manifest.json

Query the export with DuckDB, for example:
  duckdb -c "SELECT count(*), min(dateAdded), max(dateUpdated) FROM '%[2]s/contacts.parquet'"
  duckdb -c "SELECT t AS tag, count(*) FROM (SELECT unnest(tags) AS t FROM '%[2]s/contacts.parquet') GROUP BY 1 ORDER BY 2 DESC"
  duckdb -c "SELECT c.email, count(n.id) AS notes FROM '%[2]s/contacts.parquet' c JOIN '%[2]s/notes.parquet' n ON n.contactId = c.id GROUP BY 1 ORDER BY 2 DESC LIMIT 5"
`, out, dir)
	return nil
}

// withSandbox is the demo's own factory: the sandbox's credentials,
// whatever the environment and the global flags name; the same output and
// logging.
func (f *factory) withSandbox(url, location, token string) *factory {
	env := map[string]string{"GHL_API_URL": url, "GHL_LOCATION_ID": location, "GHL_TOKEN": token}
	df := newFactory(f.stdin, f.stdout, f.stderr, func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		return ""
	})
	df.opts = f.opts
	df.opts.apiURL, df.opts.location, df.opts.tokenFile = "", "", ""
	return df
}

// demoImportTwice imports each sample, then all of them again: the second
// pass, over unchanged files, makes no write.
func demoImportTwice(ctx context.Context, df *factory, out string) error {
	w := df.stdout
	for pass, label := range []string{"import", "import again (unchanged: no write expected)"} {
		for _, d := range demoImports {
			base := filepath.Base(d.file)
			fmt.Fprintf(w, "== %s %s with %s\n", label, d.file, d.mapping)
			o := importOptions{
				f:     df,
				files: []string{d.file}, mapping: d.mapping, workers: 8,
				state:   filepath.Join(out, base+".state"),
				rejects: filepath.Join(out, base+".rejects.csv"),
				report:  filepath.Join(out, fmt.Sprintf("%s.report%d.json", base, pass+1)),
				runTag:  defaultRunTag, conflict: onConflictReject,
			}
			if err := runImport(ctx, o); err != nil {
				return fmt.Errorf("demo import of %s: %w", d.file, err)
			}
			fmt.Fprintln(w)
		}
	}
	return nil
}
