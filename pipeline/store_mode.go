package pipeline

import (
	"errors"
	"os"
)

// createState makes a new state file empty, 0666 less the umask as every
// file ghlbulk writes (internal/fsx), before SQLite opens it: SQLite would
// create it 0644 less the umask, narrower than the rule for no reason.
// SQLite gives its -wal and -shm files the database file's mode. An
// existing state keeps the mode it has.
func createState(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	if err != nil {
		return &StateError{Path: path, Problem: "cannot create", Err: err}
	}
	return f.Close()
}
