package fsx

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// A temporary file of ours is named ".NAME.ghlbulk-<pid>-<random>.tmp":
// hidden, beside NAME, recognisably ghlbulk's, and carrying the process
// that writes it, so that a sweep takes only what a run that is gone left
// and never the file a live run is writing. Two older names are still
// recognised, where the code that made them cleared them:
//
//   - ".NAME.ghlbulk-<random>.tmp" (no pid), made by the export files'
//     writer: cleared like a current name of a dead process, as it was;
//   - ".NAME.<pid>-<random>.tmp", made by this package before: only beside
//     NAME itself (RemoveStale), as it was, since without "ghlbulk-" the
//     name alone is not clearly ours.
//
// (Export clears a still older ".NAME.<digits>.tmp" for its own file names
// only; see jobs/export.)
const (
	tempInfix  = ".ghlbulk-"
	tempSuffix = ".tmp"
)

func tempPrefix(base string) string { return "." + base + tempInfix }

// tempName is what a temporary file's name says.
type tempName struct {
	of  string // the final file's name
	pid int    // the writing process; 0 when the name carries none
}

// parseTemp reads a current or pid-less ".OF.ghlbulk-….tmp" name.
func parseTemp(name string) (tempName, bool) {
	rest, ok := strings.CutPrefix(name, ".")
	if !ok {
		return tempName{}, false
	}
	if rest, ok = strings.CutSuffix(rest, tempSuffix); !ok {
		return tempName{}, false
	}
	i := strings.LastIndex(rest, tempInfix)
	if i <= 0 {
		return tempName{}, false
	}
	of, tail := rest[:i], rest[i+len(tempInfix):]
	if digits(tail) {
		return tempName{of: of}, true // the pid-less older name
	}
	pid, ok := pidRandom(tail)
	return tempName{of: of, pid: pid}, ok
}

// pidRandom reads "<pid>-<random>".
func pidRandom(s string) (int, bool) {
	p, r, ok := strings.Cut(s, "-")
	if !ok || !digits(p) || !digits(r) {
		return 0, false
	}
	pid, err := strconv.Atoi(p)
	return pid, err == nil && pid > 0
}

// IsTempName reports whether name is a temporary file of ours for the file
// named of (for any file when of is ""): ".OF.ghlbulk-<pid>-<random>.tmp",
// or the older ".OF.ghlbulk-<random>.tmp". Whether it may be removed is
// another matter (a live run may be writing it): RemoveTemps decides.
func IsTempName(name, of string) bool {
	t, ok := parseTemp(name)
	return ok && (of == "" || t.of == of)
}

// RemoveStale removes the temporary files of path that runs of ours left
// when they were killed before their rename, and only when that process is
// gone, so a run writing the same file right now keeps its own. Errors are
// not reported: a file that can't be removed is not ours to fight over,
// and the next run tries again.
func RemoveStale(path string) {
	dir, base := split(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		t, ok := parseTemp(e.Name())
		if !ok || t.of != base {
			t, ok = parseOldTemp(e.Name(), base)
		}
		if ok && e.Type().IsRegular() {
			removeTemp(dir, e.Name(), t.pid)
		}
	}
}

// parseOldTemp reads the ".BASE.<pid>-<random>.tmp" this package made
// before the names carried "ghlbulk-".
func parseOldTemp(name, base string) (tempName, bool) {
	rest, ok := strings.CutPrefix(name, "."+base+".")
	if !ok {
		return tempName{}, false
	}
	if rest, ok = strings.CutSuffix(rest, tempSuffix); !ok {
		return tempName{}, false
	}
	pid, ok := pidRandom(rest)
	return tempName{of: base, pid: pid}, ok
}

// RemoveTemps removes from dir the temporary files of ours that killed
// runs left: names IsTempName(name, of) accepts, regular files only, and
// of a process that is gone. A missing dir is no error. It returns the
// names it removed.
func RemoveTemps(dir, of string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("looking for leftover temporary files in %s: %w", dir, err)
	}
	var removed []string
	for _, e := range ents {
		t, ok := parseTemp(e.Name())
		if !ok || (of != "" && t.of != of) || !e.Type().IsRegular() {
			continue
		}
		gone, err := removeTemp(dir, e.Name(), t.pid)
		if err != nil {
			return removed, fmt.Errorf("removing the leftover temporary file %s: %w", filepath.Join(dir, e.Name()), err)
		}
		if gone {
			removed = append(removed, e.Name())
		}
	}
	return removed, nil
}

// inflight is the temporary files this process is writing, by base name
// (pid and random make it unique). A name with our own pid that is not
// here was left by an earlier process that had the same pid, as every run
// has in a container where ghlbulk is pid 1.
var inflight = struct {
	sync.Mutex
	names map[string]bool
}{names: map[string]bool{}}

func forget(tmp string) {
	inflight.Lock()
	delete(inflight.names, filepath.Base(tmp))
	inflight.Unlock()
}

// removeTemp removes dir/name, a temporary file written by pid (0: not
// known), unless a live run is writing it. It reports whether it removed
// it. It holds the inflight lock, so a file this process is creating is
// registered before it is judged.
func removeTemp(dir, name string, pid int) (bool, error) {
	inflight.Lock()
	defer inflight.Unlock()
	switch {
	case pid == os.Getpid() && inflight.names[name]:
		return false, nil
	case pid != 0 && pid != os.Getpid() && alive(pid):
		return false, nil
	}
	err := os.Remove(filepath.Join(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
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
