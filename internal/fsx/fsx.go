// Package fsx writes the files ghlbulk leaves for people to read (rejects,
// plans, reports, ID maps): written aside and renamed into place, mode
// 0600, and never over a file the same run reads (CheckOutputs).
//
// It sits below pipeline and cmd/ghlbulk and imports neither, so both can
// use it.
package fsx

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Mode is the mode of every file fsx writes. These files hold people's
// names, emails and phones, so they get the rule of the token file, the
// state and the export files: 0600 whatever the umask (os.CreateTemp
// creates 0600 and a umask can only take bits away; the Chmod makes it so
// on filesystems that ignore the create mode too). Widen it with chmod when
// a file is to be shared.
const Mode os.FileMode = 0o600

// File is a file written aside (".NAME.<pid>-<random>.tmp" in the same
// directory, so the rename never crosses a filesystem) and renamed into
// place by Commit: a reader, or a kill, sees the old file or the new one,
// whole. Abort, or a failed Commit, leaves no temporary file behind.
type File struct {
	*os.File
	path string
	done bool
}

// Create starts writing path. Nothing appears at path until Commit. A
// temporary file that an earlier run of ours left beside path when it was
// killed is removed first.
func Create(path string) (*File, error) {
	dir, base := split(path)
	RemoveStale(path)
	f, err := os.CreateTemp(dir, tempPrefix(base)+strconv.Itoa(os.Getpid())+"-*"+tempSuffix)
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(Mode); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return &File{File: f, path: path}, nil
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
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.File.Close()
	os.Remove(f.File.Name())
}

// WriteFile writes data to path through a File.
func WriteFile(path string, data []byte) error {
	f, err := Create(path)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Abort()
		return err
	}
	return f.Commit()
}

const tempSuffix = ".tmp"

func tempPrefix(base string) string { return "." + base + "." }

func split(path string) (dir, base string) {
	dir, base = filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	return dir, base
}

// RemoveStale removes the temporary files of path that runs of ours left
// when they were killed before their rename: only names Create makes
// (".NAME.<pid>-<random>.tmp"), and only when that process is gone, so a
// run writing the same file right now keeps its own.
func RemoveStale(path string) {
	dir, base := split(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	prefix := tempPrefix(base)
	for _, e := range entries {
		pid, ok := tempPID(e.Name(), prefix)
		if !ok || !e.Type().IsRegular() || pid == os.Getpid() || alive(pid) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			continue // not ours to fight over: the next run tries again
		}
	}
}

// tempPID is the process id in a temporary file name of Create's making.
func tempPID(name, prefix string) (int, bool) {
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return 0, false
	}
	rest, ok = strings.CutSuffix(rest, tempSuffix)
	if !ok {
		return 0, false
	}
	p, r, ok := strings.Cut(rest, "-")
	if !ok || !digits(p) || !digits(r) {
		return 0, false
	}
	pid, err := strconv.Atoi(p)
	return pid, err == nil && pid > 0
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// syncDir makes a rename durable; a filesystem that can't sync a directory
// (some network ones) still did the rename, so the error is not reported.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
