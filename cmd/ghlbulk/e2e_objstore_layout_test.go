package main

import (
	"bytes"
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
	"github.com/ghlbulk/ghlbulk/objstore"
	"github.com/ghlbulk/ghlbulk/sinks"
)

// --layout run to a bucket: each run publishes under PREFIX/run=<time>/
// its manifest and files, the bytes the same --layout run export writes
// into a folder; a later run deletes nothing of an earlier one, and the
// state lives under PREFIX/.ghlbulk/ as with the default layout. The second
// run starts on an empty work folder (a new machine), so its cursor comes
// from the bucket and its run folder must not reuse the first's name. The
// work folder keeps no copy of a published run.
func TestE2EExportObjectStorageLayoutRun(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, sandbox.Options{Rate: -1, Contacts: 40, Seed: 37})
	srv := startS3(t)
	env := append(s.env(), awsEnv("test-key")...)
	dir := t.TempDir()
	ref, url := filepath.Join(dir, "ref"), srv.url("runs")
	args := []string{"--layout", "run", "--incremental", "--include", "tasks,notes", "--no-progress"}
	b := objOpen(t, url)
	var first map[string][]byte // run 1's objects, as run 1 left them
	for i, machine := range []string{"machine1", "machine2"} {
		if i == 1 {
			layoutChange(t, s)
		}
		xpMustRun(t, env, append([]string{"export", "--out", ref}, args...)...)
		xpMustRun(t, env, append([]string{"export", "--out", url, "--work-dir", filepath.Join(dir, machine)}, args...)...)
		if left := localRunDirs(t, filepath.Join(dir, machine)); len(left) > 0 {
			t.Errorf("the work folder keeps the published %v: a copy of every run would pile up there", left)
		}
		runs := objRunDirs(t, b)
		if len(runs) != i+1 {
			t.Fatalf("after run %d the bucket holds run folders %v, want %d", i+1, runs, i+1)
		}
		if i == 0 {
			first = objRunBytes(t, b, runs[0])
		}
	}
	keys := objKeys(t, b)
	var hidden []string
	for _, k := range keys {
		top, _, nested := strings.Cut(k, "/")
		switch {
		case strings.HasPrefix(k, ".ghlbulk/"):
			hidden = append(hidden, k)
		case !nested || !strings.HasPrefix(top, "run="):
			t.Errorf("%s: an object outside the run folders and .ghlbulk/", k)
		}
	}
	if !slices.Equal(hidden, []string{".ghlbulk/state.db"}) {
		t.Errorf("the bucket's .ghlbulk/ holds %v, want the state alone (as with the default layout)", hidden)
	}
	runs := objRunDirs(t, b)
	refRuns := localRunDirs(t, ref)
	if len(refRuns) != 2 {
		t.Fatalf("the folder export holds run folders %v, want 2", refRuns)
	}
	for i, rd := range runs {
		got := objRunBytes(t, b, rd)
		m, err := sinks.ReadManifest(objWriteTemp(t, got[sinks.ManifestName]))
		if err != nil {
			t.Fatalf("%s: manifest: %v", rd, err)
		}
		if m.Layout != "run" || m.RunDir != rd {
			t.Errorf("%s: manifest layout %q, run_dir %q; want run, %q", rd, m.Layout, m.RunDir, rd)
		}
		want := []string{sinks.ManifestName}
		want = append(want, slices.Collect(maps.Values(m.Files))...)
		want = append(want, slices.Collect(maps.Values(m.Changes))...)
		slices.Sort(want)
		if have := slices.Sorted(maps.Keys(got)); !slices.Equal(have, want) {
			t.Errorf("%s holds %v, its manifest names %v", rd, have, want)
		}
		for _, name := range want {
			refData, err := os.ReadFile(filepath.Join(ref, refRuns[i], filepath.FromSlash(name)))
			if err != nil {
				t.Errorf("%s: not in the folder export's %s: %v", name, refRuns[i], err)
				continue
			}
			if name == sinks.ManifestName {
				a, c := manifestSansTimes(t, refData), manifestSansTimes(t, got[name])
				delete(a, "run_dir")
				delete(c, "run_dir")
				if !maps.EqualFunc(a, c, func(x, y any) bool { return xpJSON(x) == xpJSON(y) }) {
					t.Errorf("%s: manifest differs from the folder export's %s:\n%s\n%s", rd, refRuns[i], refData, got[name])
				}
				continue
			}
			if !bytes.Equal(refData, got[name]) {
				t.Errorf("%s/%s: %d bytes, the folder export's %s: %d", rd, name, len(got[name]), refRuns[i], len(refData))
			}
		}
	}
	if after := objRunBytes(t, b, runs[0]); !maps.EqualFunc(first, after, bytes.Equal) {
		t.Errorf("the second run changed the first's %s: %v, was %v", runs[0], slices.Sorted(maps.Keys(after)), slices.Sorted(maps.Keys(first)))
	}
}

// layoutChange renames two contacts, so that an incremental run after it
// exports them alone.
func layoutChange(t *testing.T, s *testSandbox) {
	t.Helper()
	ctx := context.Background()
	ids := slices.Sorted(maps.Keys(xpServedData(t, s).contacts))
	for _, id := range ids[:2] {
		name := "Renamed"
		if _, err := s.client().UpdateContact(ctx, id, ghl.UpdateContactRequest{FirstName: &name}); err != nil {
			t.Fatal(err)
		}
	}
}

// objRunDirs is the run=<time> folders at the top of the bucket's prefix,
// in name (so time) order.
func objRunDirs(t *testing.T, b *objstore.Bucket) []string {
	t.Helper()
	ents, err := b.Entries(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var runs []string
	for _, e := range ents {
		if e.Dir && strings.HasPrefix(e.Name, "run=") {
			runs = append(runs, e.Name)
		}
	}
	slices.Sort(runs)
	return runs
}

// localRunDirs is the run=<time> folders of a --layout run folder export.
func localRunDirs(t *testing.T, out string) []string {
	t.Helper()
	ents, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	var runs []string
	for _, e := range ents {
		if e.IsDir() && strings.HasPrefix(e.Name(), "run=") {
			runs = append(runs, e.Name())
		}
	}
	slices.Sort(runs)
	return runs
}

// objRunBytes is every object under run folder rd, by key relative to it.
func objRunBytes(t *testing.T, b *objstore.Bucket, rd string) map[string][]byte {
	t.Helper()
	objs, err := b.List(context.Background(), rd+"/")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, o := range objs {
		data, err := b.ReadBytes(context.Background(), o.Key)
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimPrefix(o.Key, rd+"/")] = data
	}
	return out
}

// objWriteTemp writes data to a new file and returns its path.
func objWriteTemp(t *testing.T, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), sinks.ManifestName)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
