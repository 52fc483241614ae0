//go:build unix

package fsx

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestSecretIgnoresUmask: a file holding a credential is 0600 even under a
// permissive umask (0).
func TestSecretIgnoresUmask(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "token.json")
	if err := WriteFile(path, []byte("{}\n"), Secret()); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != SecretMode {
		t.Errorf("mode %v under umask 0, want 0600", st.Mode().Perm())
	}
}

// TestFilesFollowUmask: every other file is 0666 less the umask, like any
// tool's output, while a Secret one stays 0600.
func TestFilesFollowUmask(t *testing.T) {
	cases := []struct {
		umask         int
		plain, secret os.FileMode
	}{
		{0o022, 0o644, 0o600},
		{0o027, 0o640, 0o600},
		{0o077, 0o600, 0o600},
	}
	for _, c := range cases {
		old := syscall.Umask(c.umask)
		dir := t.TempDir()
		plain, secret := filepath.Join(dir, "rejects.csv"), filepath.Join(dir, "token.json")
		errP := WriteFile(plain, []byte("a\n"))
		errS := WriteFile(secret, []byte("a\n"), Secret())
		syscall.Umask(old)
		if errS != nil || errP != nil {
			t.Fatal(errS, errP)
		}
		for path, want := range map[string]os.FileMode{plain: c.plain, secret: c.secret} {
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
