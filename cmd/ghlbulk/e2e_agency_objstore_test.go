package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
	"github.com/ghlbulk/ghlbulk/jobs/agency"
	"github.com/ghlbulk/ghlbulk/objstore"
)

// TestE2EAgencyShardsToObjectStorage: a fleet exporting straight to S3.
// Three shard processes share one s3:// prefix over 6 locations, are
// SIGKILLed at random moments and restarted, each restart with an empty
// --work-dir (a pod rescheduled on another node: all it has is the
// bucket). At the end every location's prefix holds exactly what its
// manifest names (and its state), its files equal a one-location export's,
// the combined manifest lists every location done, and the prefix holds
// nothing else.
func TestE2EAgencyShardsToObjectStorage(t *testing.T) {
	t.Parallel()
	faults, err := sandbox.ParseFaults("latency=15ms")
	if err != nil {
		t.Fatal(err)
	}
	sb := startSandbox(t, sandbox.Options{Contacts: 60, Locations: 6, Rate: -1, Faults: faults})
	ids := sb.Locations()
	url := startS3(t).url("ghl/nightly")
	env := append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, agencyEnv(t, sb)...)
	env = append(env, awsEnv("test-key")...)
	const n = 3
	var wg sync.WaitGroup
	errs, killed := make([]error, n), make([]int, n)
	for i := range n {
		wg.Go(func() {
			args := []string{"--no-progress", "export", "--out", url, "--work-dir", freshWorkDir, "--locations", "all",
				"--format", "csv", "--include", "tasks,notes", "--parallel-locations", "2", "--shard", fmt.Sprintf("%d/%d", i, n)}
			killed[i], errs[i] = runShardKilled(t, env, args, uint64(i+11), 3)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("shard %d: %v", i, err)
		}
	}
	t.Logf("runs killed by shard: %v", killed)
	if killed[0]+killed[1]+killed[2] == 0 {
		t.Fatal("no shard was killed: the test did not test a restart")
	}

	b := objOpen(t, url)
	var m agency.Manifest
	raw, err := b.ReadBytes(context.Background(), "manifest.json")
	if err != nil || json.Unmarshal(raw, &m) != nil {
		t.Fatalf("combined manifest: %v\n%s", err, raw)
	}
	if m.Status != "complete" || len(m.Locations) != len(ids) || m.Shards != n {
		t.Fatalf("combined manifest: %s, %d locations, %d shards", m.Status, len(m.Locations), m.Shards)
	}
	for _, l := range m.Locations {
		if l.Status != agency.Done {
			t.Errorf("combined manifest: %s %s", l.LocationID, l.Status)
		}
	}
	for _, k := range objKeys(t, b) {
		if !strings.HasPrefix(k, "location_id=") && k != "manifest.json" && !strings.HasPrefix(k, "manifest.shard-") {
			t.Errorf("the prefix holds %s, which no agency export writes", k)
		}
	}
	for _, id := range ids {
		lu, err := objstore.JoinURL(url, "location_id="+id)
		if err != nil {
			t.Fatal(err)
		}
		objCheckComplete(t, objOpen(t, lu))
	}
	sameAsSingle(t, sb, objDownload(t, b), ids, "contacts.csv", "tasks.csv", "notes.csv")
}

// TestE2EAgencyToObjectStorageSameAsFolder: export --locations all into
// s3:// gives, location by location, the bytes the same export gives into
// a folder, and the top-level manifest in the bucket lists the same.
func TestE2EAgencyToObjectStorageSameAsFolder(t *testing.T) {
	t.Parallel()
	sb := startSandbox(t, sandbox.Options{Contacts: 40, Locations: 3, Rate: -1})
	env := append(agencyEnv(t, sb), awsEnv("test-key")...)
	dir := t.TempDir()
	folder := filepath.Join(dir, "folder")
	r := runCLI(t, env, "export", "--out", folder, "--locations", "all", "--format", "csv", "--include", "tasks,notes")
	if r.code != 0 {
		t.Fatalf("folder export: exit %d\n%s", r.code, r.stderr)
	}
	url := startS3(t).url("agency")
	r = runCLI(t, env, "export", "--out", url, "--work-dir", filepath.Join(dir, "work"), "--locations", "all", "--format", "csv", "--include", "tasks,notes")
	if r.code != 0 {
		t.Fatalf("s3 export: exit %d\n%s", r.code, r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr, "endpoint=") {
		t.Errorf("the output shows the URL's query:\n%s%s", r.stdout, r.stderr)
	}
	got := objDownload(t, objOpen(t, url))
	for _, id := range sb.Locations() {
		for _, f := range []string{"contacts.csv", "tasks.csv", "notes.csv"} {
			a := mustRead(t, filepath.Join(folder, "location_id="+id, f))
			if c := mustRead(t, filepath.Join(got, "location_id="+id, f)); string(a) != string(c) {
				t.Errorf("%s of %s differs between the folder and the bucket", f, id)
			}
		}
	}
	fm, bm := readAgencyManifest(t, folder), readAgencyManifest(t, got)
	if statusOf(fm)[sb.Locations()[0]] != agency.Done || !mapsEqual(statusOf(fm), statusOf(bm)) {
		t.Errorf("manifests differ: folder %v, bucket %v", statusOf(fm), statusOf(bm))
	}
}
