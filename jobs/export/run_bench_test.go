package export

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkExportRunner runs the whole export (contacts, tasks, notes,
// appointments to Parquet) against the in-process sandbox with no rate
// limit, reporting contacts/s, API requests per contact and output bytes
// per contact:
//
//	go test ./jobs/export/ -run '^$' -bench ExportRunner -benchtime 3x
func BenchmarkExportRunner(b *testing.B) {
	const n = 1000
	f := newFixture(b, n)
	b.ResetTimer()
	var reqs, size int64
	for i := 0; i < b.N; i++ {
		out := b.TempDir()
		before := f.sb.Counts().Total
		cfg := f.config(b, out, openStore(b))
		cfg.Workers = 16
		if _, err := Run(context.Background(), cfg); err != nil {
			b.Fatal(err)
		}
		reqs = f.sb.Counts().Total - before
		size = 0
		ents, _ := os.ReadDir(out)
		for _, e := range ents {
			if st, err := os.Stat(filepath.Join(out, e.Name())); err == nil {
				size += st.Size()
			}
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "contacts/s")
	b.ReportMetric(float64(reqs)/n, "requests/contact")
	b.ReportMetric(float64(size)/n, "bytes/contact")
}
