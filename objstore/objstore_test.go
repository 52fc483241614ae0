package objstore

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// s3Server starts a real S3-protocol server (gofakes3) on a loopback
// port with bucket "bkt", and sets the AWS credentials the SDK's default
// chain reads. Requests signed with the access key "DENIED" get S3's 403
// AccessDenied, as a bucket policy refusing that key would answer.
func s3Server(t *testing.T) string {
	t.Helper()
	be := s3mem.New()
	if err := be.CreateBucket("bkt"); err != nil {
		t.Fatal(err)
	}
	s3 := gofakes3.New(be).Server()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.Header.Get("Authorization"), "Credential=DENIED/") {
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`))
			return
		}
		s3.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Setenv("AWS_ACCESS_KEY_ID", "test-key")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	return srv.URL
}

func s3URL(endpoint, prefix string) string {
	return "s3://bkt/" + prefix + "?endpoint=" + endpoint + "&use_path_style=true&region=us-east-1"
}

func writeFile(t *testing.T, p string, data []byte) {
	t.Helper()
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// roundTrip runs every call of a Bucket against url.
func roundTrip(t *testing.T, url string) {
	ctx := context.Background()
	b, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	dir := t.TempDir()
	src := filepath.Join(dir, "src.parquet")
	data := bytes.Repeat([]byte("ghlbulk "), 1_500_000) // 12 MB: a multipart upload on S3
	writeFile(t, src, data)
	if err := b.Upload(ctx, "contacts.parquet", src); err != nil {
		t.Fatal(err)
	}
	if err := b.Upload(ctx, "changes/notes.parquet", src); err != nil {
		t.Fatal(err)
	}
	if err := b.WriteBytes(ctx, "manifest.json", []byte(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	objs, err := b.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range objs {
		keys = append(keys, o.Key)
	}
	if want := []string{"changes/notes.parquet", "contacts.parquet", "manifest.json"}; !slices.Equal(keys, want) {
		t.Errorf("List: %v, want %v", keys, want)
	}
	if objs, _ := b.List(ctx, "changes/"); len(objs) != 1 || objs[0].Size != int64(len(data)) {
		t.Errorf("List changes/: %+v", objs)
	}
	dst := filepath.Join(dir, "deep", "copy.parquet")
	if err := b.Download(ctx, "contacts.parquet", dst); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, data) {
		t.Error("Download: other bytes than uploaded")
	}
	if raw, err := b.ReadBytes(ctx, "manifest.json"); err != nil || string(raw) != `{"a":1}` {
		t.Errorf("ReadBytes: %q, %v", raw, err)
	}
	if ok, err := b.Exists(ctx, "contacts.parquet"); !ok || err != nil {
		t.Errorf("Exists: %v, %v", ok, err)
	}
	if err := b.Delete(ctx, "contacts.parquet"); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, "contacts.parquet"); err != nil {
		t.Errorf("deleting a gone key: %v", err)
	}
	if ok, _ := b.Exists(ctx, "contacts.parquet"); ok {
		t.Error("Exists after Delete")
	}
	if _, err := b.ReadBytes(ctx, "contacts.parquet"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadBytes of a gone key: %v, want fs.ErrNotExist", err)
	}
	if err := b.Download(ctx, "gone", filepath.Join(dir, "gone")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Download of a gone key: %v, want fs.ErrNotExist", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "gone")); err == nil {
		t.Error("a failed Download left a file")
	}
}

func TestRoundTripS3(t *testing.T) {
	roundTrip(t, s3URL(s3Server(t), "exports/nightly"))
}

func TestRoundTripFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	roundTrip(t, "file://"+filepath.ToSlash(dir))
	// No side files (metadata=skip) and no temporaries: the folder holds
	// exactly the objects.
	var names []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			names = append(names, filepath.ToSlash(rel))
		}
		return nil
	})
	if want := []string{"changes/notes.parquet", "manifest.json"}; !slices.Equal(names, want) {
		t.Errorf("folder holds %v, want %v", names, want)
	}
}

// The prefix is kept: two URLs on one bucket see only their own keys.
func TestPrefixIsolates(t *testing.T) {
	ep := s3Server(t)
	ctx := context.Background()
	a, err := Open(ctx, s3URL(ep, "a"))
	if err != nil {
		t.Fatal(err)
	}
	whole, err := Open(ctx, s3URL(ep, ""))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.WriteBytes(ctx, "x.json", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	objs, err := whole.List(ctx, "")
	if err != nil || len(objs) != 1 || objs[0].Key != "a/x.json" {
		t.Errorf("the bucket holds %+v (%v), want a/x.json", objs, err)
	}
	sub, _ := JoinURL(s3URL(ep, "a"), "location_id=L1")
	b, err := Open(ctx, sub)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != "s3://bkt/a/location_id=L1" {
		t.Errorf("JoinURL then Open: %s", got)
	}
}

// Fetch downloads only when the local file is not the object's bytes.
func TestFetch(t *testing.T) {
	ctx := context.Background()
	b, err := Open(ctx, s3URL(s3Server(t), "p"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src, local := filepath.Join(dir, "src"), filepath.Join(dir, "local")
	writeFile(t, src, []byte("v1"))
	if err := b.Upload(ctx, "k", src); err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct {
		local string // "" = missing
		want  bool
	}{{"", true}, {"v1", false}, {"v0", true}} {
		os.Remove(local)
		if tc.local != "" {
			writeFile(t, local, []byte(tc.local))
		}
		got, err := b.Fetch(ctx, "k", local)
		if err != nil || got != tc.want {
			t.Errorf("case %d: Fetch downloaded %v (%v), want %v", i, got, err, tc.want)
		}
		if raw, _ := os.ReadFile(local); string(raw) != "v1" {
			t.Errorf("case %d: local holds %q after Fetch", i, raw)
		}
	}
}

func TestErrors(t *testing.T) {
	ep := s3Server(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name, url string
		says      []string
	}{
		{"credentials in the URL", "s3://AKIA:hunter2@bkt/p", []string{"credentials in the URL are not read"}},
		{"prefix in the query", "s3://bkt?prefix=p", []string{"in the URL's path"}},
		{"no bucket", "s3:///p", []string{"no bucket"}},
		{"relative file", "file://./out", []string{"file:///ABSOLUTE/FOLDER"}},
		{"not a URL", "/tmp/out", []string{"not an object storage URL"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(ctx, tc.url)
			if err == nil {
				t.Fatal("opened")
			}
			for _, s := range tc.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("%q does not say %q", err, s)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error shows the secret: %v", err)
			}
		})
	}
	t.Run("access denied", func(t *testing.T) {
		t.Setenv("AWS_ACCESS_KEY_ID", "DENIED")
		b, err := Open(ctx, s3URL(ep, "p"))
		if err == nil {
			_, err = b.List(ctx, "")
		}
		if !errors.Is(err, fs.ErrPermission) {
			t.Fatalf("List: %v, want fs.ErrPermission", err)
		}
		for _, s := range []string{"s3://bkt/p", "access denied", "AWS_ACCESS_KEY_ID", "s3:ListBucket"} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%q does not say %q", err, s)
			}
		}
		if strings.Contains(err.Error(), "endpoint=") || strings.Contains(err.Error(), "profile=") {
			t.Errorf("the error shows the URL's query: %v", err)
		}
	})
	t.Run("open error hides the query", func(t *testing.T) {
		_, err := Open(ctx, s3URL(ep, "p")+"&profile=nosuchprofile")
		if err == nil || !strings.Contains(err.Error(), "s3://bkt/p: open:") {
			t.Fatalf("Open with a missing profile: %v", err)
		}
		if strings.Contains(err.Error(), "endpoint=") || strings.Contains(err.Error(), "?") {
			t.Errorf("the error shows the URL's query: %v", err)
		}
	})
	t.Run("no such bucket", func(t *testing.T) {
		b, err := Open(ctx, strings.Replace(s3URL(ep, "p"), "bkt", "nobucket", 1))
		if err == nil {
			_, err = b.List(ctx, "")
		}
		if err == nil || !strings.Contains(err.Error(), "s3://nobucket/p") {
			t.Errorf("List of a missing bucket: %v", err)
		}
	})
}

func TestIsURL(t *testing.T) {
	for s, want := range map[string]bool{
		"s3://b/p": true, "S3://b": true, "gs://b": true, "azblob://c/p": true, "file:///x": true,
		"out": false, "/tmp/s3://x": false, "./s3:": false, "http://x": false, "C:\\out": false,
	} {
		if got := IsURL(s); got != want {
			t.Errorf("IsURL(%q) = %v, want %v", s, got, want)
		}
	}
}

// Entries is the top level only: folders once, however deep their keys.
func TestEntries(t *testing.T) {
	ctx := context.Background()
	for name, raw := range map[string]string{
		"s3":   s3URL(s3Server(t), "p"),
		"file": "file://" + filepath.ToSlash(filepath.Join(t.TempDir(), "out")),
	} {
		t.Run(name, func(t *testing.T) {
			b, err := Open(ctx, raw)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			for _, k := range []string{"manifest.json", "location_id=A/contacts.csv", "location_id=A/.ghlbulk/state.db", "location_id=B/x/y.csv"} {
				if err := b.WriteBytes(ctx, k, []byte("x")); err != nil {
					t.Fatal(err)
				}
			}
			got, err := b.Entries(ctx)
			want := []Entry{{"location_id=A", true}, {"location_id=B", true}, {"manifest.json", false}}
			if err != nil || !slices.Equal(got, want) {
				t.Errorf("Entries = %+v, %v; want %+v", got, err, want)
			}
		})
	}
}

// SweepTemps removes the temporaries a killed fileblob upload left under
// the bucket's folder once they are StaleTempAge unwritten, and nothing
// else: not a fresh one (a live writer's, maybe another machine's), not
// an old file of another name, not a temporary outside the folder.
func TestObjstoreSweepTemps(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	dir := filepath.Join(root, "exports")
	old := time.Now().Add(-StaleTempAge - time.Minute)
	recent := time.Now().Add(-StaleTempAge + 5*time.Minute)
	files := []struct {
		path string
		mod  time.Time
		gone bool
	}{
		{"exports/contacts.parquet.18a2b3c4d5e6f708.tmp", old, true},               // a killed upload's
		{"exports/.ghlbulk/staging/r1/p1.parquet.18a2b3c4d5e6f709.tmp", old, true}, // nested: under the prefix
		{"exports/run=20250101T000000Z/notes.csv.18a2b3c4d5e6f70a.tmp", old, true}, // an earlier run's folder
		{"exports/manifest.json.18a2b3c4d5e6f70b.tmp", recent, false},              // maybe a live writer's
		{"exports/contacts.parquet", old, false},                                   // an object
		{"exports/notes.tmp", old, false},                                          // not fileblob's name
		{"exports/notes.csv.xyz123456789abcd.tmp", old, false},                     // not hex
		{"exports/.contacts.parquet.ghlbulk-1-2.tmp", old, false},                  // internal/fsx's, its own sweep's
		{"exports-2/contacts.parquet.18a2b3c4d5e6f70c.tmp", old, false},            // a sibling prefix
		{"contacts.parquet.18a2b3c4d5e6f70d.tmp", old, false},                      // above the prefix
	}
	for _, tc := range files {
		p := filepath.Join(root, filepath.FromSlash(tc.path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, p, []byte("partial"))
		if err := os.Chtimes(p, tc.mod, tc.mod); err != nil {
			t.Fatal(err)
		}
	}
	b, err := Open(ctx, "file://"+filepath.ToSlash(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	n, err := b.SweepTemps(ctx)
	if err != nil || n != 3 {
		t.Errorf("SweepTemps: %d removed, %v; want 3", n, err)
	}
	for _, tc := range files {
		_, err := os.Stat(filepath.Join(root, filepath.FromSlash(tc.path)))
		if gone := errors.Is(err, fs.ErrNotExist); gone != tc.gone {
			t.Errorf("%s: removed %v, want %v", tc.path, gone, tc.gone)
		}
	}
	if n, err := b.SweepTemps(ctx); err != nil || n != 0 {
		t.Errorf("second SweepTemps: %d removed, %v; want none", n, err)
	}
}
