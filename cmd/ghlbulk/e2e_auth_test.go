package main

// End-to-end tests of credentials (issue 6): the real binary's `auth login`
// against the sandbox's OAuth endpoints with the test as the browser, the
// token file's mode and rotation, refresh in the middle of an import, the
// preflight refusals, and that a token never reaches any output or file.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
)

// Paths of the repo's sample and preset, from cmd/ghlbulk.
var (
	auSample  = filepath.Join("..", "..", "samples", "hubspot-contacts.csv")
	auMapping = filepath.Join("..", "..", "mappings", "hubspot.yaml")
)

// auEnv is the environment for the token-file flow: no GHL_TOKEN.
func auEnv(s *testSandbox, tokenFile string) []string {
	return []string{"GHL_API_URL=" + s.URL, "GHL_LOCATION_ID=" + s.LocationID(), "GHL_TOKEN_FILE=" + tokenFile,
		"GHL_CLIENT_ID=" + sandbox.DefaultClientID, "GHL_CLIENT_SECRET=" + sandbox.DefaultClientSecret}
}

// auLogin runs `ghlbulk auth login` and plays the browser: it reads the
// authorization URL from the child's stderr as it appears and GETs it,
// following the sandbox's redirect to the child's loopback listener.
func auLogin(t *testing.T, s *testSandbox, tokenFile string) (stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, "auth", "login")
	// PATH has no browser opener: the URL on stderr is the only way in.
	cmd.Env = append([]string{"PATH=" + t.TempDir(), "HOME=" + t.TempDir(), "XDG_CONFIG_HOME=" + t.TempDir()}, auEnv(s, tokenFile)...)
	var out bytes.Buffer
	cmd.Stdout = &out
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var errb strings.Builder
	urls := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pipe)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			mu.Lock()
			errb.WriteString(line + "\n")
			mu.Unlock()
			if f := strings.TrimSpace(line); !sent && strings.HasPrefix(f, "http") && strings.Contains(f, "/oauth/chooselocation") {
				urls <- f
				sent = true
			}
		}
		io.Copy(io.Discard, pipe)
	}()
	var authURL string
	select {
	case authURL = <-urls:
	case <-done:
	case <-ctx.Done():
	}
	if authURL == "" {
		cmd.Process.Kill()
		cmd.Wait()
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("auth login printed no authorization URL; stderr:\n%s", errb.String())
	}
	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	if q := u.Query(); q.Get("client_id") != sandbox.DefaultClientID || q.Get("state") == "" || q.Get("redirect_uri") == "" || !strings.Contains(q.Get("scope"), "contacts.write") {
		t.Errorf("authorization URL lacks client_id, state, redirect_uri or scope: %s", authURL)
	}
	// PKCE: the sandbox checks the verifier against this challenge.
	if q := u.Query(); q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" {
		t.Errorf("authorization URL has no PKCE S256 challenge: %s", authURL)
	}
	if ru, err := url.Parse(u.Query().Get("redirect_uri")); err != nil || ru.Hostname() != "127.0.0.1" {
		t.Errorf("redirect_uri %q is not on 127.0.0.1", u.Query().Get("redirect_uri"))
	}
	resp, err := http.Get(authURL) // follows the 302 to the loopback listener
	if err != nil {
		t.Fatalf("browser: GET %s: %v", authURL, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "logged in") {
		t.Errorf("browser landed on %s: %d %s", resp.Request.URL, resp.StatusCode, body)
	}
	werr := cmd.Wait()
	<-done
	mu.Lock()
	stderr = errb.String()
	mu.Unlock()
	if werr != nil {
		t.Fatalf("auth login: %v\nstdout:\n%s\nstderr:\n%s", werr, out.String(), stderr)
	}
	return out.String(), stderr
}

// auTokenFile is the token file's JSON.
type auTokenFile struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	LocationID   string `json:"location_id"`
	Scope        string `json:"scope"`
}

func auReadToken(t *testing.T, path string) auTokenFile {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("token file: %v", err)
	}
	var tf auTokenFile
	if err := json.Unmarshal(raw, &tf); err != nil {
		t.Fatalf("token file: %v", err)
	}
	if tf.AccessToken == "" || tf.RefreshToken == "" {
		t.Fatalf("token file holds no access or refresh token")
	}
	return tf
}

func auCheckMode(t *testing.T, path string) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("token file %s has mode %v, want 0600", path, st.Mode().Perm())
	}
}

// auNoSecret fails if any of the secrets is in text.
func auNoSecret(t *testing.T, where string, text []byte, secrets ...string) {
	t.Helper()
	for _, sec := range secrets {
		if sec != "" && bytes.Contains(text, []byte(sec)) {
			t.Errorf("a token appears in %s", where)
		}
	}
}

func TestE2EAuthTokenNeverLeaks(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, sandbox.Options{Rate: -1, Contacts: 30, Seed: 21})
	dir := t.TempDir()
	files := map[string]string{
		"import report": filepath.Join(dir, "import-report.json"),
		"import state":  filepath.Join(dir, "import.state"),
		"rejects":       filepath.Join(dir, "rejects.csv"),
		"export report": filepath.Join(dir, "export-report.json"),
		"export state":  filepath.Join(dir, "export.state"),
	}
	out := filepath.Join(dir, "out")
	imp := runCLI(t, s.env(), "-v", "-v", "--log-format", "json", "--no-progress", "import", auSample, "--mapping", auMapping,
		"--state", files["import state"], "--rejects", files["rejects"], "--report", files["import report"])
	if imp.code != 0 {
		t.Fatalf("import: exit %d\n%s", imp.code, imp.stderr)
	}
	exp := runCLI(t, s.env(), "-v", "-v", "--log-format", "json", "--no-progress", "export", "--out", out, "--include", xpAll,
		"--state", files["export state"], "--report", files["export report"])
	if exp.code != 0 {
		t.Fatalf("export: exit %d\n%s", exp.code, exp.stderr)
	}
	// A refused token: the error names the problem, not the token.
	bad := "bogus-" + strings.Repeat("x", 20) + "-token"
	refusedRun := runCLI(t, []string{"GHL_API_URL=" + s.URL, "GHL_LOCATION_ID=" + s.LocationID(), "GHL_TOKEN=" + bad},
		"-v", "-v", "--log-format", "json", "export", "--out", filepath.Join(dir, "refused"))
	if refusedRun.code != 2 {
		t.Errorf("export with a refused token: exit %d, want 2\n%s", refusedRun.code, refusedRun.stderr)
	}

	for name, r := range map[string]result{"import": imp, "export": exp, "refused export": refusedRun} {
		auNoSecret(t, name+" stdout", []byte(r.stdout), s.Token, bad)
		auNoSecret(t, name+" stderr", []byte(r.stderr), s.Token, bad)
	}
	// The logs were there to leak into: JSON lines, some at debug level.
	lines := strings.Split(strings.TrimSpace(imp.stderr+exp.stderr), "\n")
	debug := 0
	for _, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Errorf("stderr line is not JSON with --log-format json: %q", l)
			continue
		}
		if rec["level"] == "DEBUG" {
			debug++
		}
	}
	if debug == 0 {
		t.Errorf("no debug log lines with -v -v; stderr:\n%s", imp.stderr+exp.stderr)
	}
	// Every file the runs wrote, including the state databases' -wal and
	// -shm when they are there, and everything under --out.
	var paths []string
	for _, p := range files {
		for _, suf := range []string{"", "-wal", "-shm", "-journal"} {
			if _, err := os.Stat(p + suf); err == nil {
				paths = append(paths, p+suf)
			}
		}
	}
	for _, must := range []string{"import report", "import state", "rejects", "export report", "export state"} {
		if _, err := os.Stat(files[must]); err != nil {
			t.Errorf("%s was not written: %v", must, err)
		}
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			paths = append(paths, p)
		}
		return nil
	})
	if _, err := os.Stat(filepath.Join(out, "manifest.json")); err != nil {
		t.Errorf("no manifest: %v", err)
	}
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		auNoSecret(t, p, raw, s.Token, bad)
	}
	t.Logf("checked %d files and %d log lines", len(paths), len(lines))
}

func TestE2EAuthLoginStatusImportLogout(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, sandbox.Options{Rate: -1})
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "cfg", "token.json")
	stdout, stderr := auLogin(t, s, tokenFile)
	auCheckMode(t, tokenFile)
	tf := auReadToken(t, tokenFile)
	if tf.LocationID != s.LocationID() {
		t.Errorf("token file location %q, want %q", tf.LocationID, s.LocationID())
	}
	auNoSecret(t, "login output", []byte(stdout+stderr), tf.AccessToken, tf.RefreshToken, sandbox.DefaultClientSecret)
	if !strings.Contains(stdout, "logged in") {
		t.Errorf("login stdout: %q", stdout)
	}
	// The directory it created is private too.
	if st, err := os.Stat(filepath.Dir(tokenFile)); err == nil && st.Mode().Perm()&0o077 != 0 {
		t.Errorf("token directory has mode %v: others can list it", st.Mode().Perm())
	}

	env := auEnv(s, tokenFile)
	st := runCLI(t, env, "auth", "status")
	if st.code != 0 {
		t.Fatalf("auth status: exit %d\n%s", st.code, st.stderr)
	}
	for _, want := range []string{s.LocationID(), "contacts.readonly", "contacts.write", tokenFile, "OAuth"} {
		if !strings.Contains(st.stdout, want) {
			t.Errorf("auth status does not show %q:\n%s", want, st.stdout)
		}
	}
	auNoSecret(t, "auth status", []byte(st.stdout+st.stderr), tf.AccessToken, tf.RefreshToken)

	// An import with the token file, no GHL_TOKEN.
	rep := filepath.Join(dir, "report.json")
	imp := runCLI(t, env, "--no-progress", "import", auSample, "--mapping", auMapping,
		"--state", filepath.Join(dir, "s.state"), "--rejects", filepath.Join(dir, "rej.csv"), "--report", rep)
	if imp.code != 0 {
		t.Fatalf("import with the token file: exit %d\n%s", imp.code, imp.stderr)
	}
	if r := xpReport(t, rep); r.Created == 0 {
		t.Errorf("import with the token file created nothing: %+v", r)
	}
	auNoSecret(t, "import output", []byte(imp.stdout+imp.stderr), tf.AccessToken, tf.RefreshToken)

	lo := runCLI(t, env, "auth", "logout")
	if lo.code != 0 {
		t.Fatalf("auth logout: exit %d\n%s", lo.code, lo.stderr)
	}
	if _, err := os.Stat(tokenFile); !os.IsNotExist(err) {
		t.Errorf("token file still there after logout: %v", err)
	}
	if st := runCLI(t, env, "auth", "status"); st.code != 2 {
		t.Errorf("auth status after logout: exit %d, want 2\n%s%s", st.code, st.stdout, st.stderr)
	}
	if r := runCLI(t, env, "export", "--out", filepath.Join(dir, "x")); r.code != 2 || !strings.Contains(r.stderr, "auth login") {
		t.Errorf("export after logout: exit %d, want 2 and a hint to log in\n%s", r.code, r.stderr)
	}
}

// auWriteHubSpotCSV writes n rows with the sample's columns; every third
// row has a message (a note) that asks for a follow-up (a task).
func auWriteHubSpotCSV(t *testing.T, path string, n int) (notes int) {
	t.Helper()
	src, err := os.Open(auSample)
	if err != nil {
		t.Fatal(err)
	}
	header, err := csv.NewReader(src).Read()
	src.Close()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := csv.NewWriter(f)
	w.Write(header)
	for i := range n {
		vals := map[string]string{
			"Record ID": fmt.Sprint(90000 + i), "First Name": fmt.Sprintf("First%d", i), "Last Name": "Refresh",
			"Email": fmt.Sprintf("refresh.%d@example.com", i), "Company Name": "Rotation Inc", "Lifecycle Stage": "lead",
			"Lead Status": "NEW", "City": "Boston", "State/Region": "MA", "Country/Region": "United States",
			"Postal Code": "02110", "Create Date": "2024-03-01 09:00", "Original Source": "Direct Traffic",
		}
		if i%3 == 0 {
			vals["Message"] = "please follow up on the quote"
			notes++
		}
		rec := make([]string, len(header))
		for j, h := range header {
			rec[j] = vals[h]
		}
		w.Write(rec)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return notes
}

func TestE2EAuthRefreshMidImport(t *testing.T) {
	t.Parallel()
	// Access tokens live 5 min 2 s (expires_in 301 s) and are replaced 5
	// min before expiry, so each one is used for about 1 s: a 2-3 s import
	// refreshes in its middle, with requests in flight.
	const n = 240
	faults, err := sandbox.ParseFaults("latency=8ms")
	if err != nil {
		t.Fatal(err)
	}
	s := startSandbox(t, sandbox.Options{Rate: -1, AccessTTL: 5*time.Minute + 2*time.Second, Faults: faults})
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token.json")
	auLogin(t, s, tokenFile)
	before := auReadToken(t, tokenFile)
	input := filepath.Join(dir, "big.csv")
	notes := auWriteHubSpotCSV(t, input, n)

	s.ResetCounts()
	rep := filepath.Join(dir, "report.json")
	imp := runCLI(t, auEnv(s, tokenFile), "--no-progress", "-v", "import", input, "--mapping", auMapping, "--workers", "2",
		"--state", filepath.Join(dir, "s.state"), "--report", rep)
	if imp.code != 0 {
		t.Fatalf("import: exit %d\n%s", imp.code, imp.stderr)
	}
	c := s.Counts()
	refreshes := c.ByRoute["POST /oauth/token"]
	r := xpReport(t, rep)
	t.Logf("import: %.1f s, %d requests, %d token refreshes, %d answered 401", r.ElapsedS, c.Total, refreshes, c.ByStatus[401])
	if refreshes < 1 {
		t.Fatalf("no token refresh during a %.1f s import with 1 s tokens", r.ElapsedS)
	}
	// Nothing lost, nothing twice.
	if r.Created != n || r.Rejected != 0 {
		t.Errorf("report: created %d, rejected %d; want %d, 0", r.Created, r.Rejected, n)
	}
	if got := c.ByRoute["POST /contacts/upsert"]; got != n {
		t.Errorf("%d upserts for %d rows", got, n)
	}
	if got := c.ByRoute["POST /contacts/{contactId}/notes"]; got != int64(notes) {
		t.Errorf("%d notes created, want %d", got, notes)
	}
	if c.ByStatus[401] != 0 {
		t.Errorf("%d requests answered 401: a token was used after it expired", c.ByStatus[401])
	}
	cl := s.client()
	res, err := cl.SearchContacts(context.Background(), ghl.SearchRequest{LocationID: s.LocationID(), PageLimit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Total != n {
		t.Errorf("sandbox holds %d contacts, want %d", res.Total, n)
	}
	// The rotation was saved: a new refresh token in the file (still
	// 0600), and the old one refused by the token endpoint.
	auCheckMode(t, tokenFile)
	after := auReadToken(t, tokenFile)
	if after.RefreshToken == before.RefreshToken || after.AccessToken == before.AccessToken {
		t.Fatal("the token file was not rotated")
	}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {before.RefreshToken},
		"client_id": {sandbox.DefaultClientID}, "client_secret": {sandbox.DefaultClientSecret}}
	resp, err := http.PostForm(s.URL+"/oauth/token", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode < 400 {
		t.Errorf("the old refresh token still works: %d", resp.StatusCode)
	}
	// And the new one is the live one: a later run uses it.
	if st := runCLI(t, auEnv(s, tokenFile), "auth", "status"); st.code != 0 || !strings.Contains(st.stdout, "refreshable: true") {
		t.Errorf("auth status after the rotation: exit %d\n%s%s", st.code, st.stdout, st.stderr)
	}
}

func TestE2EAuthPreflightRefusals(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, sandbox.Options{Rate: -1, Contacts: 5})
	readonly, err := s.IssueToken(s.LocationID(), []string{"contacts.readonly"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.IssueToken("OtherLocation0000001", nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, token string
		args        []string
		says        string
	}{
		{"readonly token, import", readonly, []string{"import", auSample, "--mapping", auMapping}, "contacts.write"},
		{"other location, import", other, []string{"import", auSample, "--mapping", auMapping}, "location"},
		{"other location, export", other, []string{"export", "--include", "tasks"}, "location"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			args := append([]string{}, tc.args...)
			if args[0] == "import" {
				args = append(args, "--state", filepath.Join(dir, "s.state"), "--rejects", filepath.Join(dir, "r.csv"))
			} else {
				args = append(args, "--out", filepath.Join(dir, "out"))
			}
			s.ResetCounts()
			r := runCLI(t, []string{"GHL_API_URL=" + s.URL, "GHL_LOCATION_ID=" + s.LocationID(), "GHL_TOKEN=" + tc.token}, args...)
			if r.code != 2 {
				t.Errorf("exit %d, want 2\n%s", r.code, r.stderr)
			}
			if !strings.Contains(r.stderr, tc.says) {
				t.Errorf("the refusal does not name %q:\n%s", tc.says, r.stderr)
			}
			auNoSecret(t, "output", []byte(r.stdout+r.stderr), tc.token)
			// No write: the only request on a write route may be the
			// preflight's probe, an empty PUT to a contact id that can't
			// exist (HighLevel cannot be asked for a token's scopes), which
			// the sandbox answers without changing anything.
			c := s.Counts()
			probes := c.ByRoute["PUT /contacts/{contactId}"]
			if c.Writes != probes || probes > 1 {
				t.Errorf("%d write requests before the refusal, %d of them the probe (%v)", c.Writes, probes, c.ByRoute)
			}
			for st, n := range c.ByStatus {
				if st >= 200 && st < 300 && c.Writes > 0 && n > c.Total-c.Writes {
					t.Errorf("a write request was answered %d before the refusal (%v)", st, c.ByStatus)
				}
			}
			// At most: the read probe, the custom field definitions the
			// mapping needs, and the write probe (sent only once a write is
			// due, so that a re-run with nothing to write sends none).
			if c.Total > 3 {
				t.Errorf("%d requests before the refusal (%v)", c.Total, c.ByRoute)
			}
			if _, err := os.Stat(filepath.Join(dir, "out", "manifest.json")); err == nil {
				t.Error("a refused export wrote a manifest")
			}
		})
	}
}

func TestE2EAuthHelp(t *testing.T) {
	t.Parallel()
	r := runCLI(t, nil, "auth", "--help")
	if r.code != 0 {
		t.Fatalf("auth --help: exit %d\n%s", r.code, r.stderr)
	}
	for _, s := range []string{"login", "status", "logout", "GHL_TOKEN", "token file", "0600"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("auth --help does not mention %q:\n%s", s, r.stdout)
		}
	}
	r = runCLI(t, nil, "auth", "login", "--help")
	for _, s := range []string{"GHL_CLIENT_ID", "--client-file", "--listen", "--scopes", "callback"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("auth login --help does not mention %q", s)
		}
	}
}

// Least privilege: contacts.readonly alone exports (without the typed custom
// field columns, which need locations/customFields.readonly), and writes
// nothing.
func TestE2EAuthReadonlyExport(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, sandbox.Options{Rate: -1, Contacts: 20, Seed: 22})
	ro, err := s.IssueToken(s.LocationID(), []string{"contacts.readonly"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	s.ResetCounts()
	r := runCLI(t, []string{"GHL_API_URL=" + s.URL, "GHL_LOCATION_ID=" + s.LocationID(), "GHL_TOKEN=" + ro},
		"--no-progress", "export", "--out", out, "--include", xpAll, "--format", "csv")
	if r.code != 0 {
		t.Fatalf("export with contacts.readonly: exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "locations/customFields.readonly") {
		t.Errorf("no warning naming the missing scope:\n%s", r.stderr)
	}
	got := xpReadExport(t, out)
	if len(got.rows["contacts"]) != 20 || len(got.manifest.CustomFields) != 0 {
		t.Errorf("%d contacts, custom fields %v", len(got.rows["contacts"]), got.manifest.CustomFields)
	}
	if w := s.Counts().Writes; w != 0 {
		t.Errorf("%d write requests during an export", w)
	}
}
