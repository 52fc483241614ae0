//go:build unix

package fsx

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestModeIgnoresUmask: a permissive umask (0) still gives 0600.
func TestModeIgnoresUmask(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "report.json")
	if err := WriteFile(path, []byte("{}\n")); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v under umask 0, want 0600", st.Mode().Perm())
	}
}

// TestSharedFollowsUmask: export files (Shared) are 0666 less the umask,
// like any tool's output, while every other file stays 0600.
func TestSharedFollowsUmask(t *testing.T) {
	cases := []struct {
		umask        int
		shared, priv os.FileMode
	}{
		{0o022, 0o644, 0o600},
		{0o027, 0o640, 0o600},
		{0o077, 0o600, 0o600},
	}
	for _, c := range cases {
		old := syscall.Umask(c.umask)
		dir := t.TempDir()
		shared, priv := filepath.Join(dir, "contacts.csv"), filepath.Join(dir, "rejects.csv")
		errS := WriteFile(shared, []byte("a\n"), Shared())
		errP := WriteFile(priv, []byte("a\n"))
		syscall.Umask(old)
		if errS != nil || errP != nil {
			t.Fatal(errS, errP)
		}
		for path, want := range map[string]os.FileMode{shared: c.shared, priv: c.priv} {
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != want {
				t.Errorf("umask %03o: %s is %v, want %v", c.umask, filepath.Base(path), st.Mode().Perm(), want)
			}
		}
		if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) != 0 {
			t.Errorf("temporary files left: %v", left)
		}
	}
}
