package export

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ghlbulk/ghlbulk/sinks"
)

// Two --layout run exports to one bucket that start in the same second,
// each from its own empty work folder (two machines, or a cleared
// --work-dir): the second takes run=<time>-2 rather than the first's
// folder, whose files it would replace.
func TestExportRemoteLayoutRunSameSecond(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 12)
	bucket := t.TempDir()
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range 2 {
		cfg := f.config(t, t.TempDir(), openStore(t))
		cfg.Include, cfg.Layout = []string{"notes"}, LayoutRun
		cfg.Now = func() time.Time { return start.Add(time.Duration(i) * time.Millisecond) }
		rm, err := OpenRemote(ctx, "file://"+filepath.ToSlash(bucket), cfg)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Remote = rm
		_, err = Run(ctx, cfg)
		rm.Close()
		if err != nil {
			t.Fatalf("run %d: %v", i+1, err)
		}
	}
	var runs []string
	ents, err := os.ReadDir(bucket)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() && e.Name() != ".ghlbulk" {
			runs = append(runs, e.Name())
		}
	}
	want := []string{"run=20250301T120000Z", "run=20250301T120000Z-2"}
	if !slices.Equal(runs, want) {
		t.Fatalf("the bucket holds %v, want %v", runs, want)
	}
	for _, rd := range runs {
		m, err := sinks.ReadManifest(filepath.Join(bucket, rd, sinks.ManifestName))
		if err != nil || m.RunDir != rd {
			t.Errorf("%s: manifest run_dir %q (%v)", rd, m.RunDir, err)
		}
	}
}

// An export to a file:// prefix removes the temporaries an upload killed
// midway left there (NAME.<hex>.tmp, an hour unwritten), in the run's
// folders and under .ghlbulk/, and keeps a fresh one.
func TestExportRemoteObjstoreSweepsTemps(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 5)
	bucket := t.TempDir()
	old := time.Now().Add(-2 * time.Hour)
	temps := map[string]bool{ // path under the bucket: removed
		"contacts.parquet.18a2b3c4d5e6f708.tmp":                  true,
		".ghlbulk/staging/r1/p0001.parquet.18a2b3c4d5e6f709.tmp": true,
		"notes.parquet.18a2b3c4d5e6f70a.tmp":                     false, // touched a minute ago
	}
	for name, gone := range temps {
		p := filepath.Join(bucket, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
		if gone {
			if err := os.Chtimes(p, old, old); err != nil {
				t.Fatal(err)
			}
		}
	}
	cfg := f.config(t, t.TempDir(), openStore(t))
	cfg.Include = []string{"notes"}
	rm, err := OpenRemote(ctx, "file://"+filepath.ToSlash(bucket), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer rm.Close()
	cfg.Remote = rm
	if _, err := Run(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	for name, gone := range temps {
		_, err := os.Stat(filepath.Join(bucket, filepath.FromSlash(name)))
		if got := err != nil; got != gone {
			t.Errorf("%s: removed %v, want %v (%v)", name, got, gone, err)
		}
	}
}
