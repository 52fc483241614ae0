// Package objstore is object storage for the files ghlbulk leaves
// (s3://, gs://, azblob:// and file:// URLs), over gocloud.dev/blob: a
// bucket and a key prefix opened from one URL, and the few calls an export
// needs (Upload and Download a local file, streamed; List, Exists, Delete;
// small bytes for a manifest).
//
// Credentials come only from each cloud's own chain (AWS_PROFILE,
// AWS_ACCESS_KEY_ID and ~/.aws; Google's application default credentials;
// AZURE_STORAGE_ACCOUNT with a key, a SAS token or DefaultAzureCredential),
// never from a flag or the URL. Errors name the URL without its query and
// say what to check.
//
// Floor 1 (docs/design.md): imports internal/fsx only.
package objstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"gocloud.dev/blob"

	"github.com/ghlbulk/ghlbulk/internal/fsx"
)

// schemes are the URL schemes IsURL takes for object storage.
var schemes = []string{"s3", "gs", "azblob", "file"}

// IsURL reports whether s names object storage (by its scheme) rather
// than a local path: s3://, gs://, azblob:// or file://.
func IsURL(s string) bool {
	low := strings.ToLower(s)
	for _, sc := range schemes {
		if strings.HasPrefix(low, sc+"://") {
			return true
		}
	}
	return false
}

// digestKey is the metadata entry that carries an object's SHA-256, set at
// upload: gocloud's MD5 is missing for multipart uploads and on Azure, and
// Fetch needs a digest to tell a local copy is current.
const digestKey = "ghlbulk-sha256"

// Bucket is an open bucket and the key prefix of its URL. Keys passed to
// its methods are relative to that prefix, "/"-separated.
type Bucket struct {
	b      *blob.Bucket
	scheme string
	shown  string // scheme://bucket/prefix, no query: what errors name
	driver string // the URL handed to gocloud, which its errors may quote
	dir    string // file:// only: the folder the bucket is rooted at
}

// Object is one listed object.
type Object struct {
	Key  string // relative to the bucket's prefix
	Size int64
}

// Open opens the bucket a URL names and keeps its path as the key prefix:
// s3://bucket/prefix?region=R&endpoint=E&use_path_style=true (any query
// gocloud's s3blob takes), gs://bucket/prefix, azblob://container/prefix,
// file:///abs/dir (created if missing).
func Open(ctx context.Context, raw string) (*Bucket, error) {
	u, err := url.Parse(raw)
	if err != nil || !IsURL(raw) {
		return nil, fmt.Errorf("%s: not an object storage URL: want s3://BUCKET/PREFIX, gs://BUCKET/PREFIX, azblob://CONTAINER/PREFIX or file:///ABS/DIR", Redact(raw))
	}
	if u.User != nil {
		return nil, fmt.Errorf("%s: credentials in the URL are not read: use the cloud's own environment or config (see ghlbulk export --help)", Redact(raw))
	}
	scheme := strings.ToLower(u.Scheme)
	if u.Query().Has("prefix") || u.Query().Has("key") {
		return nil, fmt.Errorf("%s: put the prefix in the URL's path (%s://BUCKET/PREFIX), not in ?prefix= or ?key=", Redact(raw), scheme)
	}
	if scheme == "file" {
		return openFile(ctx, u)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%s: no bucket: want %s://BUCKET/PREFIX", Redact(raw), scheme)
	}
	prefix := strings.Trim(u.Path, "/")
	driver := url.URL{Scheme: scheme, Host: u.Host, RawQuery: u.RawQuery}
	bk := &Bucket{scheme: scheme, shown: shownURL(scheme, u.Host, prefix), driver: driver.String()}
	b, err := blob.OpenBucket(ctx, bk.driver)
	if err != nil {
		return nil, bk.fail("open", "", err)
	}
	if prefix != "" {
		b = blob.PrefixedBucket(b, prefix+"/")
	}
	bk.b = b
	return bk, nil
}

// openFile opens file:///abs/dir as a bucket rooted at the folder, writing
// aside beside each file (no_tmp_dir: a rename never crosses a mount) and
// no metadata side files, so the folder looks as a local export's does.
func openFile(ctx context.Context, u *url.URL) (*Bucket, error) {
	if (u.Host != "" && u.Host != "localhost") || !path.IsAbs(u.Path) || u.RawQuery != "" {
		return nil, fmt.Errorf("%s: want file:///ABSOLUTE/FOLDER (no host, no query)", Redact(u.String()))
	}
	dir := filepath.FromSlash(path.Clean(u.Path))
	driver := url.URL{Scheme: "file", Path: u.Path, RawQuery: "create_dir=true&metadata=skip&no_tmp_dir=true"}
	bk := &Bucket{scheme: "file", shown: "file://" + filepath.ToSlash(dir), driver: driver.String(), dir: dir}
	b, err := blob.OpenBucket(ctx, bk.driver)
	if err != nil {
		return nil, bk.fail("open", "", err)
	}
	bk.b = b
	return bk, nil
}

// shownURL is a URL as errors and logs show it.
func shownURL(scheme, bucket, prefix string) string {
	s := scheme + "://" + bucket
	if prefix != "" {
		s += "/" + prefix
	}
	return s
}

// Redact is raw without user info and query (an endpoint or a profile is
// no secret, but a query is where one would be put by mistake).
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		if i := strings.IndexAny(raw, "?@"); i >= 0 {
			return raw[:i]
		}
		return raw
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment = nil, "", false, ""
	return u.String()
}

// JoinURL is raw with elem added to its path (its query kept): the URL of
// a folder under it, e.g. JoinURL("s3://b/p?region=r", "location_id=X").
func JoinURL(raw, elem string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("%s: %w", Redact(raw), err)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/" + strings.Trim(elem, "/")
	return u.String(), nil
}

// String is the bucket's URL as errors show it: no query.
func (b *Bucket) String() string { return b.shown }

// Close releases the bucket's clients.
func (b *Bucket) Close() error { return b.b.Close() }

// Upload streams the local file at p to key, recording its SHA-256 in the
// object's metadata. The object appears whole or not at all.
func (b *Bucket) Upload(ctx context.Context, key, p string) error {
	sum, err := FileDigest(p)
	if err != nil {
		return err
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := b.b.Upload(ctx, key, f, b.writerOptions(key, sum)); err != nil {
		return b.fail("upload", key, err)
	}
	return nil
}

// WriteBytes writes data (a manifest, a ledger) to key.
func (b *Bucket) WriteBytes(ctx context.Context, key string, data []byte) error {
	h := sha256.Sum256(data)
	if err := b.b.WriteAll(ctx, key, data, b.writerOptions(key, hex.EncodeToString(h[:]))); err != nil {
		return b.fail("write", key, err)
	}
	return nil
}

func (b *Bucket) writerOptions(key, sum string) *blob.WriterOptions {
	ct := "application/octet-stream"
	switch path.Ext(key) {
	case ".json":
		ct = "application/json"
	case ".csv":
		ct = "text/csv"
	}
	return &blob.WriterOptions{ContentType: ct, Metadata: map[string]string{digestKey: sum}}
}

// ReadBytes reads a small object whole. A missing key is an error that
// errors.Is(err, fs.ErrNotExist).
func (b *Bucket) ReadBytes(ctx context.Context, key string) ([]byte, error) {
	data, err := b.b.ReadAll(ctx, key)
	if err != nil {
		return nil, b.fail("read", key, err)
	}
	return data, nil
}

// Download writes key to the local file p (its folder created), atomically
// (internal/fsx): p holds the old bytes or the new, whole.
func (b *Bucket) Download(ctx context.Context, key, p string) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := fsx.Create(p)
	if err != nil {
		return err
	}
	defer f.Abort()
	if err := b.b.Download(ctx, key, f, nil); err != nil {
		return b.fail("download", key, err)
	}
	return f.Commit()
}

// Fetch downloads key to p unless p already holds the same bytes (by the
// SHA-256 recorded at upload; an object without one is always
// downloaded). It reports whether it downloaded.
func (b *Bucket) Fetch(ctx context.Context, key, p string) (bool, error) {
	a, err := b.b.Attributes(ctx, key)
	if err != nil {
		return false, b.fail("read", key, err)
	}
	if want := a.Metadata[digestKey]; want != "" {
		if got, err := FileDigest(p); err == nil && got == want {
			return false, nil
		}
	}
	return true, b.Download(ctx, key, p)
}

// Exists reports whether key exists.
func (b *Bucket) Exists(ctx context.Context, key string) (bool, error) {
	ok, err := b.b.Exists(ctx, key)
	if err != nil {
		return false, b.fail("read", key, err)
	}
	return ok, nil
}

// fileTemp is the name fileblob writes aside under (NAME.<hex time>.tmp);
// a kill leaves it behind, and it is no object of anyone's.
var fileTemp = regexp.MustCompile(`\.[0-9a-f]{12,16}\.tmp$`)

// StaleTempAge is how long a file:// temporary must have gone unwritten
// (by mtime) before SweepTemps takes it for a killed writer's. Its name
// carries no pid (fileblob names it by the time alone, unlike
// internal/fsx's ".NAME.ghlbulk-<pid>-<n>.tmp", which a sweep keeps while
// that process lives), and the writer may be another machine sharing the
// folder, so age is all there is to go by: a live upload copies a local
// file and touches its temporary at every write, so an hour without one
// is no live writer's, with room for a share whose clock is minutes off
// ours. A leftover kept an hour longer costs nothing: the next export
// removes it.
const StaleTempAge = time.Hour

// SweepTemps removes, under a file:// bucket's folder only, the
// temporaries fileblob left behind (NAME.<hex time>.tmp, see fileTemp)
// that have not been written for StaleTempAge: what an upload killed
// midway leaves, which List hides but nothing else would ever remove. It
// reports how many it removed; for other schemes (whose uploads leave no
// temporary) it does nothing. Files of other names, symlinks and anything
// outside the folder are never touched.
func (b *Bucket) SweepTemps(ctx context.Context) (int, error) {
	if b.scheme != "file" || b.dir == "" {
		return 0, nil
	}
	// The folder itself may be a symlink (a share mounted elsewhere);
	// WalkDir follows none below it.
	root, err := filepath.EvalSymlinks(b.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("%s: %w", b.shown, err)
	}
	cutoff := time.Now().Add(-StaleTempAge)
	n := 0
	var errs []error
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			errs = append(errs, err)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !d.Type().IsRegular() || !fileTemp.MatchString(d.Name()) {
			return nil
		}
		fi, err := d.Info()
		if err != nil || !fi.ModTime().Before(cutoff) {
			return nil // gone already, or maybe a live writer's
		}
		switch err := os.Remove(p); {
		case err == nil:
			n++
		case !errors.Is(err, fs.ErrNotExist):
			errs = append(errs, err)
		}
		return nil
	})
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return n, fmt.Errorf("%s: removing upload leftovers (NAME.<hex>.tmp): %w", b.shown, errors.Join(errs...))
	}
	return n, nil
}

// List is every object under prefix ("" for all), keys relative to the
// bucket's prefix, in key order.
func (b *Bucket) List(ctx context.Context, prefix string) ([]Object, error) {
	var out []Object
	it := b.b.List(&blob.ListOptions{Prefix: prefix})
	for {
		o, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, b.fail("list", prefix, err)
		}
		if o.IsDir || (b.scheme == "file" && fileTemp.MatchString(o.Key)) {
			continue
		}
		out = append(out, Object{Key: o.Key, Size: o.Size})
	}
}

// Delete removes key; a key already gone is no error.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	err := b.b.Delete(ctx, key)
	if err != nil && !errors.Is(b.fail("delete", key, err), fs.ErrNotExist) {
		return b.fail("delete", key, err)
	}
	return nil
}

// FileDigest is the hex SHA-256 of the local file p, read streamed.
func FileDigest(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("reading %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Entry is one name at the top of a bucket's prefix: an object, or a
// "folder" (a common prefix of several keys).
type Entry struct {
	Name string
	Dir  bool
}

// Entries lists the top level of the bucket's prefix, as a folder
// listing does: one request a thousand names, however many objects lie
// under each folder.
func (b *Bucket) Entries(ctx context.Context) ([]Entry, error) {
	var out []Entry
	it := b.b.List(&blob.ListOptions{Delimiter: "/"})
	for {
		o, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, b.fail("list", "", err)
		}
		if !o.IsDir && b.scheme == "file" && fileTemp.MatchString(o.Key) {
			continue
		}
		out = append(out, Entry{Name: strings.TrimSuffix(o.Key, "/"), Dir: o.IsDir})
	}
}
