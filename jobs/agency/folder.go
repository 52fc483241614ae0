package agency

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/ghlbulk/ghlbulk/internal/fsx"
	"github.com/ghlbulk/ghlbulk/objstore"
)

// folder is where an agency export keeps its manifests and finds its
// locations' folders: OUT on disk, or an object storage prefix (the
// locations' files reach the bucket through the one-location export's own
// publishing; only the manifests are written here).
type folder interface {
	// entries is the top level; a folder that does not exist yet has none.
	entries(ctx context.Context) ([]objstore.Entry, error)
	// read is a whole file; a missing one is fs.ErrNotExist.
	read(ctx context.Context, name string) ([]byte, error)
	// write replaces a file whole: a reader sees the old one or the new.
	write(ctx context.Context, name string, data []byte) error
	String() string
}

// localFolder is OUT on disk.
type localFolder string

func (d localFolder) String() string { return string(d) }

func (d localFolder) entries(context.Context) ([]objstore.Entry, error) {
	ents, err := os.ReadDir(string(d))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	out := make([]objstore.Entry, 0, len(ents))
	for _, e := range ents {
		out = append(out, objstore.Entry{Name: e.Name(), Dir: e.IsDir()})
	}
	return out, err
}

func (d localFolder) read(_ context.Context, name string) ([]byte, error) {
	return os.ReadFile(filepath.Join(string(d), filepath.FromSlash(name)))
}

func (d localFolder) write(_ context.Context, name string, data []byte) error {
	p := filepath.Join(string(d), filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return fsx.WriteFile(p, data)
}

// bucketFolder is OUT in object storage.
type bucketFolder struct{ b *objstore.Bucket }

func (f bucketFolder) String() string { return f.b.String() }

func (f bucketFolder) entries(ctx context.Context) ([]objstore.Entry, error) {
	return f.b.Entries(ctx)
}

func (f bucketFolder) read(ctx context.Context, name string) ([]byte, error) {
	return f.b.ReadBytes(ctx, name)
}

func (f bucketFolder) write(ctx context.Context, name string, data []byte) error {
	return f.b.WriteBytes(ctx, name, data)
}
