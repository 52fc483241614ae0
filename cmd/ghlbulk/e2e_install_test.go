package main

import (
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
