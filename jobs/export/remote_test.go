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
