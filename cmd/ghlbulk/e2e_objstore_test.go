package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
	"github.com/ghlbulk/ghlbulk/objstore"
	"github.com/ghlbulk/ghlbulk/sinks"
)

// objS3 is a real S3-protocol server (gofakes3, the one rclone's serve s3
// is built on) on a loopback port, with bucket "bkt". The binary reaches it
// through the AWS SDK's standard chain: credentials in the environment,
// the endpoint and path style in the s3:// URL's query. Requests signed
// with the access key "DENIED" get S3's 403 AccessDenied, and so does
// every upload of a contacts file under a prefix named failpub.
type objS3 struct {
	endpoint string
}

func startS3(t *testing.T) *objS3 {
	t.Helper()
	be := s3mem.New()
	if err := be.CreateBucket("bkt"); err != nil {
		t.Fatal(err)
	}
	s3 := gofakes3.New(be).Server()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		failPub := r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/failpub/contacts.parquet")
		if failPub || strings.Contains(r.Header.Get("Authorization"), "Credential=DENIED/") {
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`)
			return
		}
		s3.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return &objS3{endpoint: srv.URL}
}

// url is s3://bkt/prefix on this server.
func (s *objS3) url(prefix string) string {
	return "s3://bkt/" + prefix + "?endpoint=" + s.endpoint + "&use_path_style=true&region=us-east-1"
}

// awsEnv is the environment the AWS SDK's default chain reads, with key
// as the access key id.
func awsEnv(key string) []string {
	return []string{"AWS_ACCESS_KEY_ID=" + key, "AWS_SECRET_ACCESS_KEY=test-secret", "AWS_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true"}
}

// testAWSEnv sets, once, the credentials the test's own reads of the
// bucket use: the same for every test, so parallel tests (which may not
// use t.Setenv) agree on them. The binary gets its own in cmd.Env.
var testAWSEnv sync.Once

// objOpen opens url from the test, with the binary's credentials.
func objOpen(t *testing.T, url string) *objstore.Bucket {
	t.Helper()
	testAWSEnv.Do(func() {
		for _, kv := range awsEnv("test-key") {
			k, v, _ := strings.Cut(kv, "=")
			os.Setenv(k, v)
		}
	})
	b, err := objstore.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// objKeys is every key under the bucket's prefix.
func objKeys(t *testing.T, b *objstore.Bucket) []string {
	t.Helper()
	objs, err := b.List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range objs {
		keys = append(keys, o.Key)
	}
	return keys
}

// objDownload copies every object outside .ghlbulk/ into a new folder.
func objDownload(t *testing.T, b *objstore.Bucket) string {
	t.Helper()
	dir := t.TempDir()
	for _, k := range objKeys(t, b) {
		if strings.HasPrefix(k, ".ghlbulk/") {
			continue
		}
		if err := b.Download(context.Background(), k, filepath.Join(dir, filepath.FromSlash(k))); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// objCheckComplete asserts the bucket holds a finished export and nothing
// else: the manifest lists every data object, every listed object is
// there, and the hidden prefix holds only the state.
func objCheckComplete(t *testing.T, b *objstore.Bucket) sinks.Manifest {
	t.Helper()
	raw, err := b.ReadBytes(context.Background(), sinks.ManifestName)
	if err != nil {
		t.Fatalf("manifest: %v", err)
	}
	var m sinks.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	want := []string{".ghlbulk/state.db", sinks.ManifestName}
	for _, name := range m.Files {
		want = append(want, name)
	}
	for _, name := range m.Changes {
		want = append(want, name)
	}
	slices.Sort(want)
	if got := objKeys(t, b); !slices.Equal(got, want) {
		t.Errorf("the bucket holds\n%v\nthe manifest (and the state) name\n%v", got, want)
	}
	return m
}

// manifestSansTimes is a manifest as JSON without what differs between two
// runs of the same export: its times.
func manifestSansTimes(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "created_at")
	return m
}

// (a) and (e): an export to s3:// (and to file://) gives the same bytes as
// into a folder.
func TestE2EExportToObjectStorageSameBytes(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, sandbox.Options{Rate: -1, Contacts: 120, Seed: 31})
	dir := t.TempDir()
	ref := filepath.Join(dir, "ref")
	xpMustRun(t, s.env(), "export", "--out", ref, "--include", xpAll, "--no-progress")
	srv := startS3(t)
	for _, tc := range []struct{ name, url string }{
		{"s3", srv.url("exports/loc1")},
		{"file", "file://" + filepath.ToSlash(filepath.Join(dir, "file-out"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			work := filepath.Join(dir, tc.name+"-work")
			r := xpMustRun(t, append(s.env(), awsEnv("test-key")...), "export", "--out", tc.url, "--work-dir", work, "--include", xpAll, "--no-progress")
			if strings.Contains(r.stdout+r.stderr, "endpoint=") {
				t.Errorf("the output shows the URL's query:\n%s%s", r.stdout, r.stderr)
			}
			b := objOpen(t, tc.url)
			m := objCheckComplete(t, b)
			got := objDownload(t, b)
			for _, name := range m.Files {
				a, _ := os.ReadFile(filepath.Join(ref, name))
				c, err := os.ReadFile(filepath.Join(got, name))
				if err != nil || !bytes.Equal(a, c) || len(a) == 0 {
					t.Errorf("%s: differs from the folder export's (%d and %d bytes, %v)", name, len(a), len(c), err)
				}
			}
			refM, _ := os.ReadFile(filepath.Join(ref, sinks.ManifestName))
			gotM, _ := os.ReadFile(filepath.Join(got, sinks.ManifestName))
			if a, c := manifestSansTimes(t, refM), manifestSansTimes(t, gotM); !maps.EqualFunc(a, c, func(x, y any) bool { return xpJSON(x) == xpJSON(y) }) {
				t.Errorf("manifest differs from the folder export's:\n%s\n%s", refM, gotM)
			}
		})
	}
}

// (c): a prefix holding an object no export wrote is refused, exit 2,
// before any request to HighLevel; so are credentials the bucket denies.
func TestE2EExportObjectStorageRefusals(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, sandbox.Options{Rate: -1, Contacts: 5, Seed: 32})
	srv := startS3(t)
	b := objOpen(t, srv.url("theirs"))
	if err := b.WriteBytes(context.Background(), "notes.txt", []byte("mine")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, url, key string
		says           []string
	}{
		{"foreign object", srv.url("theirs"), "test-key", []string{"s3://bkt/theirs", "notes.txt", "no ghlbulk export wrote"}},
		{"access denied", srv.url("mine"), "DENIED", []string{"s3://bkt/mine", "access denied", "AWS_ACCESS_KEY_ID", "s3:ListBucket"}},
		{"credentials in the URL", "s3://AKIAX:hunter2@bkt/p", "test-key", []string{"credentials in the URL are not read"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.ResetCounts()
			r := runCLI(t, append(s.env(), awsEnv(tc.key)...), "export", "--out", tc.url, "--work-dir", t.TempDir(), "--no-progress")
			if r.code != 2 {
				t.Errorf("exit %d, want 2\n%s", r.code, r.stderr)
			}
			for _, w := range tc.says {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr does not say %q:\n%s", w, r.stderr)
				}
			}
			if strings.Contains(r.stderr, "hunter2") || strings.Contains(r.stderr, "endpoint=") {
				t.Errorf("stderr shows a secret or the URL's query:\n%s", r.stderr)
			}
			if n := s.Counts().Total; n != 0 {
				t.Errorf("%d requests to HighLevel before the refusal", n)
			}
		})
	}
	if keys := objKeys(t, b); !slices.Equal(keys, []string{"notes.txt"}) {
		t.Errorf("the refused prefix now holds %v", keys)
	}
}

// The manifest is written last: an export whose contacts file cannot be
// uploaded leaves no manifest, so no reader starts from a half-written run.
func TestE2EExportObjectStorageManifestLast(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, sandbox.Options{Rate: -1, Contacts: 20, Seed: 36})
	srv := startS3(t)
	url := srv.url("failpub")
	r := runCLI(t, append(s.env(), awsEnv("test-key")...), "export", "--out", url, "--work-dir", t.TempDir(), "--include", "notes", "--no-progress")
	if r.code != 1 || !strings.Contains(r.stderr, "contacts.parquet: upload: access denied") {
		t.Errorf("exit %d, want 1 naming the upload that failed:\n%s", r.code, r.stderr)
	}
	keys := objKeys(t, objOpen(t, url))
	if slices.Contains(keys, sinks.ManifestName) {
		t.Errorf("a manifest was written although a data file was not: %v", keys)
	}
}

// A run that writes other files (here another format) deletes the objects
// of the previous export its manifest no longer names, and nothing else.
func TestE2EExportObjectStorageDropsOldFiles(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, sandbox.Options{Rate: -1, Contacts: 20, Seed: 35})
	srv := startS3(t)
	env := append(s.env(), awsEnv("test-key")...)
	url := srv.url("p")
	xpMustRun(t, env, "export", "--out", url, "--work-dir", t.TempDir(), "--include", "notes", "--no-progress")
	b := objOpen(t, url)
	if err := b.WriteBytes(context.Background(), "README.txt", []byte("a user's file beside the export")); err != nil {
		t.Fatal(err)
	}
	xpMustRun(t, env, "export", "--out", url, "--work-dir", t.TempDir(), "--format", "csv", "--no-progress")
	if ok, _ := b.Exists(context.Background(), "README.txt"); !ok {
		t.Error("the export deleted a user's object it never wrote")
	}
	if err := b.Delete(context.Background(), "README.txt"); err != nil {
		t.Fatal(err)
	}
	m := objCheckComplete(t, b)
	if m.Format != "csv" || len(m.Files) != 1 {
		t.Errorf("second manifest: format %s, files %v", m.Format, m.Files)
	}
}

// (d): the second --incremental and --snapshot run, from an empty work
// folder, reads the state (and the snapshot) back from the bucket: it
// exports only the changes, and ends with what a folder export ends with.
func TestE2EExportObjectStorageIncrementalNewMachine(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"--incremental", "--snapshot"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			s := startSandbox(t, sandbox.Options{Rate: -1, Contacts: 60, Seed: 33})
			srv := startS3(t)
			env := append(s.env(), awsEnv("test-key")...)
			dir := t.TempDir()
			ref, url := filepath.Join(dir, "ref"), srv.url("inc")
			run := func(machine string) {
				xpMustRun(t, env, "export", "--out", ref, mode, "--include", "tasks,notes", "--no-progress")
				xpMustRun(t, env, "export", "--out", url, "--work-dir", filepath.Join(dir, machine), mode, "--include", "tasks,notes", "--no-progress")
			}
			run("machine1")
			changed, _ := snapChange(t, s)
			run("machine2") // an empty work folder: a new machine
			b := objOpen(t, url)
			m := objCheckComplete(t, b)
			got := objDownload(t, b)
			if m.Mode != "incremental" || m.Cursor == nil {
				t.Errorf("second run: mode %q, cursor %v; want an incremental run", m.Mode, m.Cursor)
			}
			changesName := m.Files[sinks.EntityContacts]
			if mode == "--snapshot" {
				changesName = m.Changes[sinks.EntityContacts]
			}
			if _, rows := xpReadFile(t, filepath.Join(got, changesName)); len(rows) != len(changed) {
				t.Errorf("%s: %d contacts, want the %d changed: the run did not start from the bucket's state", changesName, len(rows), len(changed))
			}
			want, have := xpRowSet(t, ref), xpRowSet(t, got)
			delete(want, sinks.EntityDeleted) // detectedAt is each run's own time
			delete(have, sinks.EntityDeleted)
			xpSameRows(t, "second run from the bucket", have, want)
		})
	}
}

// (b): an export to s3:// killed (SIGKILL) at random points and resumed
// each time with an empty --work-dir ends complete: the manifest lists
// every object, every listed object is there, no stray object, and the
// rows of an uninterrupted export.
func TestE2EExportObjectStorageKilledAndResumed(t *testing.T) {
	t.Parallel()
	const n = 1050 // three search pages: 500, 500, 50
	faults, err := sandbox.ParseFaults("latency=1ms")
	if err != nil {
		t.Fatal(err)
	}
	s := startSandbox(t, sandbox.Options{Rate: -1, Contacts: n, Seed: 34, Faults: faults})
	srv := startS3(t)
	env := append(s.env(), awsEnv("test-key")...)
	dir := t.TempDir()
	ref := filepath.Join(dir, "ref")
	xpMustRun(t, s.env(), "export", "--out", ref, "--include", "tasks,notes", "--no-progress")
	want := xpRowSet(t, ref)

	url := srv.url("nightly/location_id=" + s.LocationID())
	args := func(i int) []string {
		return []string{"export", "--out", url, "--work-dir", filepath.Join(dir, "machine", string(rune('a'+i))),
			"--include", "tasks,notes", "--no-progress", "--state-upload-every", "0s"}
	}
	b := objOpen(t, url)
	// The first kill comes after the first page is checkpointed, so the
	// next machine has something to resume; the others anywhere.
	kills := []int64{700}
	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 34))
	for range 3 {
		kills = append(kills, 1+rnd.Int64N(600))
	}
	t.Logf("kill points (sub-resource requests): %v", kills)
	finished := false
	for i, at := range kills {
		s.ResetCounts()
		if !killAtSubRequests(t, env, args(i), s, at) {
			t.Logf("run %d finished before its kill point", i)
			finished = true
			break
		}
		if i == 0 && !slices.Contains(objKeys(t, b), ".ghlbulk/state.db") {
			t.Fatalf("after a kill mid-run the bucket holds no state: %v", objKeys(t, b))
		}
		raw, err := b.ReadBytes(context.Background(), sinks.ManifestName)
		if err == nil && len(raw) > 0 {
			t.Fatalf("a killed export left a manifest in the bucket")
		}
	}
	if !finished {
		s.ResetCounts()
		xpMustRun(t, env, args(len(kills))...)
		last := subRequests(s.Counts())
		t.Logf("the last run, on an empty work folder, made %d sub-resource requests (a whole run: about %d)", last, n)
		if last >= n {
			t.Errorf("the last run made %d sub-resource requests, as many as a whole run: it did not resume from the bucket", last)
		}
	}
	objCheckComplete(t, b)
	xpSameRows(t, "export killed and resumed on new machines", xpRowSet(t, objDownload(t, b)), want)
}

// killAtSubRequests runs the export and SIGKILLs it once the sandbox has served at
// requests to the per-contact routes; false if it ended first.
func killAtSubRequests(t *testing.T, env, args []string, s *testSandbox, at int64) bool {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.After(2 * time.Minute)
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("the export failed before its kill point: %v\n%s", err, stderr.String())
			}
			return false
		case <-deadline:
			cmd.Process.Kill()
			t.Fatal("the export neither ended nor reached its kill point")
		case <-time.After(2 * time.Millisecond):
			if subRequests(s.Counts()) >= at {
				cmd.Process.Signal(syscall.SIGKILL)
				err := <-done
				if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
					t.Logf("ended before the kill landed: %v", err)
					return false
				}
				return true
			}
		}
	}
}
