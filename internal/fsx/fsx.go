// Package fsx writes the files ghlbulk leaves for people to read (rejects,
// plans, reports, ID maps, export files, the token file): written aside
// and renamed into place, created 0666 less the umask like any tool's output
// (a file holding a credential: Secret, 0600 whatever the umask), and never
// over a file the same run reads (CheckOutputs). It is the one way ghlbulk writes a file
// atomically, so there is one temporary name to recognise and clear.
//
// It sits below every other package and imports none of ours, so all of
// them can use it.
package fsx

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
)

// SecretMode is the mode of a file holding a credential (the token
// file): 0600 whatever the umask. Every other file follows the umask, the
// one rule for what ghlbulk writes: rejects, plans, reports, the state and
// export files hold people's data, and whoever runs ghlbulk decides who
// may read them with the umask and the folder's permissions (umask 077
// keeps them private), as with any tool's output.
const SecretMode os.FileMode = 0o600

// File is a file written aside (".NAME.ghlbulk-<pid>-<random>.tmp" in the
// same directory, so the rename never crosses a filesystem) and renamed
// into place by Commit: a reader, or a kill, sees the old file or the new
// one, whole. Abort, or a failed Commit, leaves no temporary file behind.
type File struct {
	*os.File
	path string
	done bool
}

// Option changes how a file is created.
type Option func(*options)

type options struct{ secret bool }

// Secret creates the file SecretMode whatever the umask: for a file
// that holds a credential.
func Secret() Option { return func(o *options) { o.secret = true } }

// Create starts writing path. Nothing appears at path until Commit. A
// temporary file that an earlier run of ours left beside path when it was
// killed is removed first (RemoveStale).
func Create(path string, opts ...Option) (*File, error) {
	RemoveStale(path)
	return CreateNoSweep(path, opts...)
}

// CreateNoSweep is Create without the look for leftovers beside path, for
// a writer that clears the whole directory once with RemoveTemps before
// it writes many files there (export's staging: one directory read per
// file would cost the square of the file count).
func CreateNoSweep(path string, opts ...Option) (*File, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	dir, base := split(path)
	pattern := tempPrefix(base) + strconv.Itoa(os.Getpid()) + "-"
	// The lock spans create and register, so that a sweep in this process
	// never sees our file unregistered (see removeTemp).
	inflight.Lock()
	var f *os.File
	var err error
	if o.secret {
		f, err = os.CreateTemp(dir, pattern+"*"+tempSuffix)
	} else {
		f, err = createShared(dir, pattern)
	}
	if err == nil {
		inflight.names[filepath.Base(f.Name())] = true
	}
	inflight.Unlock()
	if err != nil {
		return nil, err
	}
	if !o.secret {
		return &File{File: f, path: path}, nil
	}
	// os.CreateTemp creates 0600 and a umask can only take bits away; the
	// Chmod makes it so on filesystems that ignore the create mode too.
	if err := f.Chmod(SecretMode); err != nil {
		f.Close()
		os.Remove(f.Name())
		forget(f.Name())
		return nil, err
	}
	return &File{File: f, path: path}, nil
}

// createShared is os.CreateTemp with the mode os.Create uses (0666, which
// the kernel narrows by the umask and the folder's default ACL), since
// os.CreateTemp always creates 0600.
func createShared(dir, pattern string) (*os.File, error) {
	for range 100 {
		name := filepath.Join(dir, pattern+strconv.FormatUint(uint64(rand.Uint32()), 10)+tempSuffix)
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if !errors.Is(err, os.ErrExist) {
			return f, err
		}
	}
	return nil, fmt.Errorf("creating a temporary file in %s: too many names taken", dir)
}

// Path is the final path.
func (f *File) Path() string { return f.path }

// Commit flushes the file to disk and renames it over path.
func (f *File) Commit() error {
	if f.done {
		return fmt.Errorf("%s: already closed", f.path)
	}
	f.done = true
	tmp := f.File.Name()
	defer forget(tmp) // after the rename: a sweep must not take it before
	if err := f.File.Sync(); err != nil {
		f.File.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.File.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, f.path); err != nil {
		os.Remove(tmp)
		return err
	}
	syncDir(filepath.Dir(f.path))
	return nil
}

// Abort drops the temporary file; path is left as it was. After Commit it
// does nothing, so it can be deferred.
func (f *File) Abort() error {
	if f.done {
		return nil
	}
	f.done = true
	tmp := f.File.Name()
	defer forget(tmp)
	f.File.Close()
	if err := os.Remove(tmp); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("removing the partial %s: %w", f.path, err)
	}
	return nil
}

// WriteFile writes data to path through a File.
func WriteFile(path string, data []byte, opts ...Option) error {
	f, err := Create(path, opts...)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Abort()
		return err
	}
	return f.Commit()
}

func split(path string) (dir, base string) {
	dir, base = filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	return dir, base
}

// syncDir makes a rename durable; a filesystem that can't sync a directory
// (some network ones) still did the rename, so the error is not reported.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
