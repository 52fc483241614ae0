package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// The shell completions the README tells people to install come from
// cobra's default completion command, run through the real binary.
func TestCompletionScripts(t *testing.T) {
	marks := map[string]string{
		"bash":       "__start_ghlbulk",
		"zsh":        "#compdef ghlbulk",
		"fish":       "complete -c ghlbulk",
		"powershell": "Register-ArgumentCompleter",
	}
	for shell, mark := range marks {
		t.Run(shell, func(t *testing.T) {
			r := runCLI(t, nil, "completion", shell)
			if r.code != 0 || !strings.Contains(r.stdout, mark) {
				t.Fatalf("completion %s: exit %d, stdout lacks %q; stderr: %s", shell, r.code, mark, r.stderr)
			}
		})
	}
}

// TestGenManPages builds ghlbulk with -tags genman, as scripts/genman.sh
// and the release do, and writes the man pages: one per command.
func TestGenManPages(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary once more")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "ghlbulk-genman")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	build := exec.Command("go", "build", "-tags", "genman", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build -tags genman: %v\n%s", err, out)
	}
	man := filepath.Join(dir, "man")
	if out, err := exec.Command(bin, "gen-man", man).CombinedOutput(); err != nil {
		t.Fatalf("gen-man: %v\n%s", err, out)
	}
	for _, page := range []string{"ghlbulk.1", "ghlbulk-import.1", "ghlbulk-export.1", "ghlbulk-auth-login.1"} {
		b, err := os.ReadFile(filepath.Join(man, page))
		if err != nil || !strings.Contains(string(b), `.TH "GHLBULK" "1"`) {
			t.Errorf("%s: %v\n%.200s", page, err, b)
		}
	}
	// The shipped binary has no gen-man.
	if r := runCLI(t, nil, "gen-man", man); r.code != exitRefused {
		t.Errorf("gen-man in the default build: exit %d, want the unknown command refusal", r.code)
	}
}
