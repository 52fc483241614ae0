package main

// End-to-end tests of an agency fleet (issue 17): export --shard I/N over
// one OUT, shards killed and restarted, the Indexed Job's environment, and
// --tokens (one private integration token a location).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
	"github.com/ghlbulk/ghlbulk/jobs/agency"
)

// sameAsSingle checks that each location's files in out equal, byte for
// byte, a one-location export with that location's own token.
func sameAsSingle(t *testing.T, sb *testSandbox, out string, ids []string, files ...string) {
	t.Helper()
	for _, id := range ids {
		tok, err := sb.IssueToken(id, sandbox.AllScopes, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		single := filepath.Join(t.TempDir(), "single")
		r := runCLI(t, []string{"GHL_API_URL=" + sb.URL, "GHL_LOCATION_ID=" + id, "GHL_TOKEN=" + tok},
			"export", "--out", single, "--format", "csv", "--include", "tasks,notes")
		if r.code != 0 {
			t.Fatalf("single export of %s: exit %d\n%s", id, r.code, r.stderr)
		}
		for _, file := range files {
			got := mustRead(t, filepath.Join(out, "location_id="+id, file))
			want := mustRead(t, filepath.Join(single, file))
			if !bytes.Equal(got, want) {
				t.Errorf("%s of %s differs from its single-location export (%d vs %d bytes)", file, id, len(got), len(want))
			}
		}
	}
}

// freshWorkDir in runShardKilled's args is a new, empty folder at every
// attempt: the restarted shard is a pod on another node.
const freshWorkDir = "@FRESH_WORK_DIR"

// runShardKilled runs shard i of n, SIGKILLs it at a random moment up to
// kills times, and runs it again until it exits 0. It returns how many
// runs were killed.
func runShardKilled(t *testing.T, env []string, args []string, seed uint64, kills int) (killed int, err error) {
	rng := rand.New(rand.NewPCG(seed, 17))
	for attempt := 0; attempt < kills+5; attempt++ {
		runArgs := slices.Clone(args)
		if i := slices.Index(runArgs, freshWorkDir); i >= 0 {
			if runArgs[i], err = os.MkdirTemp(t.TempDir(), "work"); err != nil {
				return killed, err
			}
		}
		cmd := exec.Command(binPath, runArgs...)
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = io.Discard, &stderr
		if err := cmd.Start(); err != nil {
			return killed, err
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		var werr error
		if attempt < kills {
			select {
			case werr = <-done:
			case <-time.After(time.Duration(20+rng.IntN(400)) * time.Millisecond):
				cmd.Process.Signal(syscall.SIGKILL)
				werr = <-done
			}
		} else {
			werr = <-done
		}
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			killed++
			continue
		}
		if werr == nil {
			return killed, nil
		}
		// A killed shard's restart may meet a location whose run was cut
		// short; only exit 0 ends the loop, but a refusal never heals.
		if cmd.ProcessState.ExitCode() == exitRefused {
			return killed, fmt.Errorf("shard %v: refused: %s", args, stderr.String())
		}
	}
	return killed, fmt.Errorf("shard %v never exited 0", args)
}

// TestE2EAgencyShardsKilledAndRestarted: 3 shard processes of the real
// binary share one OUT over 8 locations, are killed at random moments and
// restarted until each exits 0; every location is then in exactly one
// shard, equal to its one-location export, and the combined manifest
// lists all 8 done.
func TestE2EAgencyShardsKilledAndRestarted(t *testing.T) {
	t.Parallel()
	faults, err := sandbox.ParseFaults("latency=15ms")
	if err != nil {
		t.Fatal(err)
	}
	sb := startSandbox(t, sandbox.Options{Contacts: 60, Locations: 8, Rate: -1, Faults: faults})
	ids := sb.Locations()
	out := filepath.Join(t.TempDir(), "fleet")
	base := append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, agencyEnv(t, sb)...)
	const n = 3
	var wg sync.WaitGroup
	errs := make([]error, n)
	killed := make([]int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			args := []string{"--no-progress", "export", "--out", out, "--locations", "all", "--format", "csv",
				"--include", "tasks,notes", "--parallel-locations", "2", "--shard", fmt.Sprintf("%d/%d", i, n)}
			killed[i], errs[i] = runShardKilled(t, base, args, uint64(i+1), 3)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("shard %d: %v", i, err)
		}
	}
	t.Logf("runs killed by shard: %v", killed)
	for i, k := range killed {
		if k == 0 {
			t.Errorf("shard %d was never killed: the test did not test a restart", i)
		}
	}

	seen := map[string]int{}
	for i := range n {
		var m agency.Manifest
		if err := json.Unmarshal(mustRead(t, filepath.Join(out, fmt.Sprintf("manifest.shard-%d-of-%d.json", i, n))), &m); err != nil {
			t.Fatal(err)
		}
		if m.Status != "complete" || m.Shard != fmt.Sprintf("%d/%d", i, n) {
			t.Errorf("shard %d manifest: %s %s", i, m.Status, m.Shard)
		}
		for _, l := range m.Locations {
			seen[l.LocationID]++
			if agency.ShardOf(l.LocationID, n) != i {
				t.Errorf("location %s in shard %d, its hash says %d", l.LocationID, i, agency.ShardOf(l.LocationID, n))
			}
		}
	}
	for _, id := range ids {
		if seen[id] != 1 {
			t.Errorf("location %s is in %d shards, want 1", id, seen[id])
		}
	}
	m := readAgencyManifest(t, out)
	if m.Status != "complete" || len(m.Locations) != len(ids) || m.Shards != n {
		t.Fatalf("combined manifest: %s, %d locations, %d shards", m.Status, len(m.Locations), m.Shards)
	}
	for _, l := range m.Locations {
		if l.Status != agency.Done {
			t.Errorf("combined manifest: %s %s", l.LocationID, l.Status)
		}
	}
	sameAsSingle(t, sb, out, ids, "contacts.csv", "tasks.csv", "notes.csv")
}

func TestE2EAgencyShardRefusals(t *testing.T) {
	t.Parallel()
	sb := startSandbox(t, sandbox.Options{Locations: 2})
	env := agencyEnv(t, sb)
	out := filepath.Join(t.TempDir(), "o")
	for _, c := range []struct {
		name string
		env  []string
		args []string
		say  string
	}{
		{"--shard without --locations", nil, []string{"--shard", "0/2"}, "--shard needs --locations"},
		{"--tokens without --locations", nil, []string{"--tokens", "t.csv"}, "--tokens needs --locations"},
		{"a bad --shard", nil, []string{"--locations", "all", "--shard", "2/2"}, "--shard \"2/2\""},
		{"an index without completions", []string{"JOB_COMPLETION_INDEX=1"}, []string{"--locations", "all"}, "JOB_COMPLETIONS is not"},
		{"completions without an index", []string{"JOB_COMPLETIONS=3"}, []string{"--locations", "all"}, "JOB_COMPLETION_INDEX is not"},
		{"an index out of range", []string{"JOB_COMPLETION_INDEX=3", "JOB_COMPLETIONS=3"}, []string{"--locations", "all"}, "JOB_COMPLETION_INDEX=\"3\""},
		{"an Indexed Job without --locations", []string{"JOB_COMPLETION_INDEX=0", "JOB_COMPLETIONS=3"}, nil, "--locations is not"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := runCLI(t, append(slices.Clone(env), c.env...), append([]string{"export", "--out", out}, c.args...)...)
			if r.code != exitRefused || !strings.Contains(r.stderr, c.say) {
				t.Errorf("exit %d, want %d saying %q\n%s", r.code, exitRefused, c.say, r.stderr)
			}
		})
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("a refused run wrote %s", out)
	}
}

// TestE2EAgencyShardFromEnv: an Indexed Job's pod takes its shard from
// JOB_COMPLETION_INDEX and JOB_COMPLETIONS; the combined manifest waits
// for the last shard.
func TestE2EAgencyShardFromEnv(t *testing.T) {
	t.Parallel()
	sb := startSandbox(t, sandbox.Options{Contacts: 5, Locations: 4})
	env := agencyEnv(t, sb)
	out := filepath.Join(t.TempDir(), "fleet")
	for i := range 2 {
		if i == 1 {
			if _, err := os.Stat(filepath.Join(out, "manifest.json")); err == nil {
				t.Fatal("the combined manifest was written before the last shard finished")
			}
		}
		e := append(slices.Clone(env), fmt.Sprintf("JOB_COMPLETION_INDEX=%d", i), "JOB_COMPLETIONS=2")
		r := runCLI(t, e, "export", "--out", out, "--locations", "all", "--format", "csv")
		if r.code != 0 {
			t.Fatalf("shard %d: exit %d\n%s", i, r.code, r.stderr)
		}
		if !strings.Contains(r.stdout, fmt.Sprintf("(shard %d/2)", i)) {
			t.Errorf("shard %d's summary does not name it:\n%s", i, r.stdout)
		}
	}
	if m := readAgencyManifest(t, out); m.Status != "complete" || len(m.Locations) != 4 {
		t.Fatalf("combined manifest: %s, %d locations", m.Status, len(m.Locations))
	}
}

// TestE2EAgencyTokensFile: --tokens FILE gives each location its own
// token from the variable its row names, with no Company token; a
// location whose variable is unset is refused alone, and the re-run with
// it set finishes it; the tokens reach no output.
func TestE2EAgencyTokensFile(t *testing.T) {
	t.Parallel()
	sb := startSandbox(t, sandbox.Options{Contacts: 10, Locations: 3})
	ids := sb.Locations()
	dir := t.TempDir()
	toks := map[string]string{}
	var rows strings.Builder
	rows.WriteString("location_id,env\n")
	for i, id := range ids {
		tok, err := sb.IssueToken(id, sandbox.AllScopes, time.Hour) // a location-scoped token
		if err != nil {
			t.Fatal(err)
		}
		toks[fmt.Sprintf("TOK_%d", i)] = tok
		fmt.Fprintf(&rows, "%s,TOK_%d\n", id, i)
	}
	tokens := filepath.Join(dir, "tokens.csv")
	writeFiles(t, dir, map[string]string{"tokens.csv": rows.String()})
	env := []string{"GHL_API_URL=" + sb.URL, "GHL_TOKEN_FILE=" + filepath.Join(dir, "none.json"),
		"TOK_0=" + toks["TOK_0"], "TOK_2=" + toks["TOK_2"]} // TOK_1 unset
	noSecret := func(what, s string) {
		t.Helper()
		for k, v := range toks {
			if strings.Contains(s, v) {
				t.Errorf("%s shows %s's token", what, k)
			}
		}
	}

	r := runCLI(t, env, "locations", "--tokens", tokens)
	if r.code != 0 || !strings.Contains(r.stdout, ids[1]+"  token from TOK_1 (unset") || !strings.Contains(r.stdout, ids[0]+"  token from TOK_0 (set)") {
		t.Fatalf("locations --tokens: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	noSecret("locations", r.stdout+r.stderr)

	out := filepath.Join(dir, "agency")
	args := []string{"export", "--out", out, "--locations", "all", "--tokens", tokens, "--format", "csv", "--include", "tasks,notes"}
	r = runCLI(t, env, args...)
	if r.code != exitFailed {
		t.Fatalf("TOK_1 unset: exit %d, want %d\n%s\n%s", r.code, exitFailed, r.stdout, r.stderr)
	}
	m := readAgencyManifest(t, out)
	if got, want := statusOf(m), map[string]string{ids[0]: agency.Done, ids[1]: agency.Refused, ids[2]: agency.Done}; !mapsEqual(got, want) {
		t.Fatalf("statuses %v, want %v", got, want)
	}
	for _, l := range m.Locations {
		if l.LocationID == ids[1] && !strings.Contains(l.Error, "TOK_1 is unset") {
			t.Errorf("the refused location's row does not name its variable: %s", l.Error)
		}
	}
	noSecret("export", r.stdout+r.stderr+string(mustRead(t, filepath.Join(out, "manifest.json"))))

	r = runCLI(t, append(env, "TOK_1="+toks["TOK_1"]), args...)
	if r.code != 0 {
		t.Fatalf("re-run with TOK_1: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if m := readAgencyManifest(t, out); m.Status != "complete" {
		t.Fatalf("re-run manifest: %s", m.Status)
	}
	sameAsSingle(t, sb, out, ids, "contacts.csv", "tasks.csv", "notes.csv")

	// A location named but missing from the file is refused alone.
	r = runCLI(t, env, "export", "--out", filepath.Join(dir, "two"), "--locations", ids[0]+",nosuchloc", "--tokens", tokens, "--format", "csv")
	if r.code != exitFailed || !strings.Contains(r.stdout, "nosuchloc") {
		t.Errorf("a location with no row: exit %d, want %d\n%s\n%s", r.code, exitFailed, r.stdout, r.stderr)
	}
}

// TestE2EAgencyTokensFileRefusesTokens: a token written into the file
// instead of a variable's name is refused (exit 2) and never echoed.
func TestE2EAgencyTokensFileRefusesTokens(t *testing.T) {
	t.Parallel()
	sb := startSandbox(t, sandbox.Options{Locations: 2})
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"tokens.csv": sb.Locations()[0] + "," + sb.Token + "\n"})
	env := []string{"GHL_API_URL=" + sb.URL}
	for _, args := range [][]string{
		{"locations", "--tokens", filepath.Join(dir, "tokens.csv")},
		{"export", "--out", filepath.Join(dir, "o"), "--locations", "all", "--tokens", filepath.Join(dir, "tokens.csv")},
	} {
		r := runCLI(t, env, args...)
		if r.code != exitRefused || !strings.Contains(r.stderr, "not an environment variable name") {
			t.Errorf("%s: exit %d, want %d\n%s", args[0], r.code, exitRefused, r.stderr)
		}
		if strings.Contains(r.stdout+r.stderr, sb.Token) {
			t.Errorf("%s echoed the token", args[0])
		}
	}
}

// TestE2EAgencyImportTokensFile: import --location-column with --tokens
// and no Company token: each row goes to its location with that
// location's own token; a location whose variable is unset is refused
// alone (its row in the summary names the variable, exit 1) and the
// re-run with it set imports only its rows; a row naming a location the
// file lacks is rejected.
func TestE2EAgencyImportTokensFile(t *testing.T) {
	t.Parallel()
	sb := startSandbox(t, sandbox.Options{Locations: 3})
	ids := sb.Locations()
	dir := t.TempDir()
	toks := map[string]string{}
	rows := "location_id,env\n"
	for i, id := range ids[:2] { // the third location is not in the file
		tok, err := sb.IssueToken(id, sandbox.AllScopes, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		toks[fmt.Sprintf("TOK_%d", i)] = tok
		rows += fmt.Sprintf("%s,TOK_%d\n", id, i)
	}
	writeFiles(t, dir, map[string]string{
		"tokens.csv": rows,
		"m.yaml":     "version: 1\nkey: [email]\nfields:\n  firstName: \"First Name\"\n  email: \"Email\"\n",
		"in.csv": "Location,First Name,Email\n" + ids[0] + ",Ann,ann@example.com\n" + ids[1] + ",Bob,bob@example.com\n" +
			ids[2] + ",Cid,cid@example.com\n" + ids[1] + ",Dee,dee@example.com\n",
	})
	in := filepath.Join(dir, "in.csv")
	env := []string{"GHL_API_URL=" + sb.URL, "GHL_TOKEN_FILE=" + filepath.Join(dir, "none.json"), "TOK_0=" + toks["TOK_0"]} // TOK_1 unset
	args := []string{"import", in, "--mapping", filepath.Join(dir, "m.yaml"), "--location-column", "Location", "--tokens", filepath.Join(dir, "tokens.csv")}
	r := runCLI(t, env, args...)
	if r.code != exitFailed || !strings.Contains(r.stdout, "TOK_1") {
		t.Fatalf("TOK_1 unset: exit %d, want %d with the variable named\n%s\n%s", r.code, exitFailed, r.stdout, r.stderr)
	}
	rejects := voReadCSV(t, in+".rejects.csv")
	if len(rejects) != 2 || rejects[1][len(rejects[1])-3] != "3" {
		t.Errorf("rejects: %v, want row 3 alone (its location is not in --tokens)", rejects)
	}
	before := sb.Counts()
	r = runCLI(t, append(env, "TOK_1="+toks["TOK_1"]), args...)
	after := sb.Counts()
	if r.code != 0 {
		t.Fatalf("re-run with TOK_1: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if w := after.ByRoute["POST /contacts/upsert"] - before.ByRoute["POST /contacts/upsert"]; w != 2 {
		t.Errorf("the re-run sent %d upserts, want 2 (Bob and Dee, the refused location's rows)", w)
	}
	for _, tok := range toks {
		if strings.Contains(r.stdout+r.stderr, tok) {
			t.Error("the output shows a token")
		}
	}
	if r := runCLI(t, env, "import", in, "--mapping", filepath.Join(dir, "m.yaml"), "--tokens", filepath.Join(dir, "tokens.csv")); r.code != exitRefused || !strings.Contains(r.stderr, "--location-column") {
		t.Errorf("--tokens without --location-column: exit %d\n%s", r.code, r.stderr)
	}
}
