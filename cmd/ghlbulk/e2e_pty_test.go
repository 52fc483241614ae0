//go:build linux || darwin

package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/creack/pty"

	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
)

// TestImportOnTerminal records an import on a pseudo-terminal, as a user at
// a shell sees it: the bar says the job, rows done of the plan's total,
// rows/s and the ETA, redraws in place, and the summary starts on a line of
// its own, not glued to the last frame.
func TestImportOnTerminal(t *testing.T) {
	t.Parallel()
	const rows = 2000
	// 1,000 requests a second: about 3,100 requests (contacts, notes,
	// tasks, tags) take some 3 s, several frames of the bar at 200 ms.
	sb := startSandbox(t, sandbox.Options{Rate: 1000, Interval: time.Second})
	f := newImpFiles(t)
	file := genPeople(t, f.dir, rows, 0)
	args := f.args(file, peopleMapping)
	args = args[:len(args)-1] // drop --no-progress: the bar is what is under test

	raw, code := runOnPty(t, sb.env(), args...)
	if code != 0 {
		t.Fatalf("import on a terminal: exit %d\n%s", code, raw)
	}
	screen := terminalLines(raw)
	frames := strings.Count(stripANSI(raw), "\r")
	if frames < 3 {
		t.Errorf("the bar drew %d frames, want several:\n%q", frames, raw)
	}
	checkFrame(t, stripANSI(raw), rows)
	checkSummaryLine(t, screen)
}

// runOnPty runs the binary with stdin, stdout and stderr on a new pty and
// returns every byte it wrote there, and its exit code.
func runOnPty(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "XDG_CONFIG_HOME=" + t.TempDir(),
		"TERM=xterm"}, env...)
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 200})
	if err != nil {
		t.Fatalf("starting ghlbulk on a pty: %v", err)
	}
	defer tty.Close()
	var out bytes.Buffer
	copied := make(chan error, 1)
	go func() { _, err := io.Copy(&out, tty); copied <- err }()
	timer := time.AfterFunc(2*time.Minute, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	werr := cmd.Wait()
	// Linux answers EIO once the child's side is closed: the end of output.
	if err := <-copied; err != nil && !errors.Is(err, syscall.EIO) {
		t.Fatalf("reading the pty: %v", err)
	}
	return out.String(), exitOf(werr)
}

var ansiCode = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)

func stripANSI(s string) string { return ansiCode.ReplaceAllString(s, "") }

// terminalLines is what a terminal would show: \r moves to the start of the
// line and later text overwrites earlier text, ESC[2K clears the line, \n
// ends it (the pty turns \n into \r\n). Text a frame left behind and the
// summary overwrote only in part shows up glued to the summary.
func terminalLines(raw string) []string {
	var lines []string
	var cur []rune
	col := 0
	put := func(r rune) {
		if col < len(cur) {
			cur[col] = r
		} else {
			cur = append(cur, r)
		}
		col++
	}
	for i := 0; i < len(raw); {
		if loc := ansiCode.FindStringIndex(raw[i:]); loc != nil && loc[0] == 0 {
			if strings.HasSuffix(raw[i:i+loc[1]], "2K") {
				cur = cur[:0]
			}
			i += loc[1]
			continue
		}
		r, size := utf8.DecodeRuneInString(raw[i:])
		i += size
		switch r {
		case '\r':
			col = 0
		case '\n':
			lines = append(lines, strings.TrimRight(string(cur), " "))
			cur, col = cur[:0:0], 0
		default:
			put(r)
		}
	}
	if len(cur) > 0 {
		lines = append(lines, string(cur))
	}
	return lines
}

// checkFrame asserts one frame of the bar carries every figure the issue
// asks for: the job, rows of the total, a rate and the ETA.
func checkFrame(t *testing.T, text string, rows int) {
	t.Helper()
	frame := regexp.MustCompile(`import \[[= ]{20}\]\s+\d+% \d+/` + strconv.Itoa(rows) + ` rows  \d+ rows/s  [\d.]+ req/s \(\d+\)  ETA \d+[hms0-9]*s`)
	if !frame.MatchString(text) {
		t.Errorf("no frame with the job, rows/%d, rows/s, req/s and an ETA in:\n%q", rows, text)
	}
}

// checkSummaryLine asserts the summary's title, "import", is a line of its
// own on the screen, followed by its rows, and that no frame's text is left
// on any line of the summary.
func checkSummaryLine(t *testing.T, screen []string) {
	t.Helper()
	at := -1
	for i, l := range screen {
		if l == "import" {
			at = i
		}
	}
	if at < 0 || at+1 >= len(screen) {
		t.Fatalf("no summary title line \"import\" on the screen:\n%s", strings.Join(screen, "\n"))
	}
	if !strings.HasPrefix(strings.TrimSpace(screen[at+1]), "rows read") {
		t.Errorf("line after the summary title = %q, want rows read", screen[at+1])
	}
	for _, l := range screen[at:] {
		if strings.Contains(l, "ETA") || strings.Contains(l, "req/s") {
			t.Errorf("a frame's text is left on the summary's lines: %q\nscreen:\n%s", l, strings.Join(screen, "\n"))
		}
	}
}
