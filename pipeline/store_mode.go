package pipeline

import (
	"errors"
	"os"

	"github.com/ghlbulk/ghlbulk/internal/fsx"
)

// createPrivate makes a new state file empty with fsx.Mode before SQLite
// opens it: SQLite would create it 0644 (less the umask), and it holds
// the rejected rows as read and every contact's match key, that is
// people's emails and phones. SQLite gives its -wal and -shm files the
// database file's mode. An existing state keeps the mode it has.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, fsx.Mode)
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	if err != nil {
		return &StateError{Path: path, Problem: "cannot create", Err: err}
	}
	return f.Close()
}
