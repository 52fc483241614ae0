package pipeline

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/gofrs/flock"
)

// fileLock is an exclusive lock on STATE.lock, held for the run:
// github.com/gofrs/flock, which is flock(2) on Unix and LockFileEx on
// Windows. The OS drops it when the process dies, so a crashed run never
// leaves a stale lock behind; the pid written in the file is only for the
// message.
type fileLock struct {
	fl *flock.Flock
}

// pidOffset is where the holder's pid is written. LockFileEx locks byte 0
// only (that is how gofrs/flock locks on Windows), and a locked byte can be
// neither written through another handle nor read by another process, so
// the pid starts after it. Fixed width, so a shorter pid overwrites a
// longer one whole.
const pidOffset = 1

// acquireLock takes the lock without waiting: a second run on the same
// state is refused at once, naming the pid that holds it.
func acquireLock(path string) (*fileLock, error) {
	state := strings.TrimSuffix(path, ".lock")
	fl := flock.New(path, flock.SetFlag(os.O_CREATE|os.O_RDWR), flock.SetPermissions(0o600))
	ok, err := fl.TryLock()
	if err != nil {
		return nil, &StateError{Path: state, Problem: "cannot lock " + path, Fix: "point --state at a writable place", Err: err}
	}
	if !ok {
		return nil, &StateError{
			Path:    state,
			Problem: fmt.Sprintf("another ghlbulk run is using %s (pid %s)", state, lockHolder(path)),
			Fix:     "wait for it to finish, or point --state elsewhere",
		}
	}
	writeLockPid(path)
	return &fileLock{fl: fl}, nil
}

// lockHolder reads the pid the holder wrote, or "unknown".
func lockHolder(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, pidOffset)
	pid := strings.TrimSpace(string(b[:n]))
	if _, err := strconv.Atoi(pid); err != nil {
		return "unknown"
	}
	return pid
}

// writeLockPid is best effort: the pid only decorates the refusal above.
func writeLockPid(path string) {
	f, err := os.OpenFile(path, os.O_WRONLY, 0o600)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = f.WriteAt([]byte(fmt.Sprintf("%-20d\n", os.Getpid())), pidOffset)
}

// release unlocks and closes; the lock file itself stays (removing it would
// race with a run that has just opened it).
func (l *fileLock) release() {
	if l == nil || l.fl == nil {
		return
	}
	_ = l.fl.Unlock()
	l.fl = nil
}
