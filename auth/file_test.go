package auth

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestTokenFileWriteClearsLeftovers: the token file is written 0600 in a
// 0700 folder with no temporary file left, and the temporary files a killed
// run left (they hold a refresh token) go: this version's of a process
// that is gone, and an older version's ".token-<n>.tmp" once it is a minute
// old. Anything else stays.
func TestTokenFileWriteClearsLeftovers(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ghlbulk")
	path := filepath.Join(dir, "token.json")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Skip("no process to outlive:", err)
	}
	old := time.Now().Add(-2 * oldTokenTempAge)
	stale := map[string]time.Time{
		".token.json.ghlbulk-" + strconv.Itoa(gone.Process.Pid) + "-7.tmp": time.Now(),
		".token-123456.tmp": old,
	}
	keep := map[string]time.Time{
		".token-654321.tmp": time.Now(), // an older ghlbulk may be writing it now
		"123.tmp":           old,
		".token-x.tmp":      old,
		".token.json.ghlbulk-" + strconv.Itoa(os.Getppid()) + "-7.tmp": old, // a live run's
	}
	for _, m := range []map[string]time.Time{stale, keep} {
		for name, mt := range m {
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, []byte(`{"access_token":"half`), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(p, mt, mt); err != nil {
				t.Fatal(err)
			}
		}
	}
	writeToken(t, path, storedToken{AccessToken: "a", RefreshToken: "r"})
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("token file: %v %v, want mode 0600", st, err)
	}
	if got := readToken(t, path); got.RefreshToken != "r" {
		t.Errorf("read back %v", got)
	}
	for name := range stale {
		if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
			t.Errorf("%s, left by a killed run, is still there (%v)", name, err)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != len(keep)+1 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("folder holds %q, want token.json and %d kept files", names, len(keep))
	}
	for name := range keep {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s was removed: %v", name, err)
		}
	}
}
