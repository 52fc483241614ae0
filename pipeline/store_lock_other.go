//go:build !unix

package pipeline

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// fileLock on systems without flock: an O_EXCL lock file, removed on
// release. A crashed run leaves it behind, and the message says so.
type fileLock struct {
	path string
}

func acquireLock(path string) (*fileLock, error) {
	state := strings.TrimSuffix(path, ".lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		b, _ := os.ReadFile(path)
		return nil, &StateError{
			Path:    state,
			Problem: fmt.Sprintf("another ghlbulk run is using %s (pid %s)", state, strings.TrimSpace(string(b))),
			Fix:     "wait for it to finish, or remove " + path + " if that run is gone",
		}
	}
	if err != nil {
		return nil, &StateError{Path: state, Problem: "cannot create its lock file " + path, Err: err}
	}
	fmt.Fprintf(f, "%d\n", os.Getpid())
	f.Close()
	return &fileLock{path: path}, nil
}

func (l *fileLock) release() {
	if l == nil || l.path == "" {
		return
	}
	_ = os.Remove(l.path)
	l.path = ""
}
