//go:build unix

package pipeline

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// fileLock is an exclusive flock(2) on STATE.lock, held for the run. The
// kernel drops it when the process dies, so a crashed run never leaves a
// stale lock behind; the pid written in the file is only for the message.
type fileLock struct {
	f *os.File
}

// acquireLock takes the lock without waiting: a second run on the same
// state is refused at once, naming the pid that holds it.
func acquireLock(path string) (*fileLock, error) {
	state := strings.TrimSuffix(path, ".lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, &StateError{Path: state, Problem: "cannot create its lock file " + path, Fix: "point --state at a writable place", Err: err}
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			b := make([]byte, 32)
			n, _ := f.ReadAt(b, 0)
			pid := strings.TrimSpace(string(b[:n]))
			if _, perr := strconv.Atoi(pid); perr != nil {
				pid = "unknown"
			}
			return nil, &StateError{
				Path:    state,
				Problem: fmt.Sprintf("another ghlbulk run is using %s (pid %s)", state, pid),
				Fix:     "wait for it to finish, or point --state elsewhere",
			}
		}
		return nil, &StateError{Path: state, Problem: "cannot lock " + path, Err: err}
	}
	// Best effort: the pid only decorates the message above.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &fileLock{f: f}, nil
}

// release unlocks and closes; the lock file itself stays (removing it would
// race with a run that has just opened it).
func (l *fileLock) release() {
	if l == nil || l.f == nil {
		return
	}
	_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	_ = l.f.Close()
	l.f = nil
}
