package archtest

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestKubernetesManifests: every document of deploy/kubernetes/*.yaml
// parses, and the ones a fleet depends on carry what it needs: an
// Indexed Job whose completions, parallelism and JOB_COMPLETIONS agree,
// resource requests, and the export of every location.
func TestKubernetesManifests(t *testing.T) {
	files, _ := filepath.Glob("../../deploy/kubernetes/*.yaml")
	if len(files) == 0 {
		t.Fatal("no manifest in deploy/kubernetes/")
	}
	kinds := map[string]int{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for i := 0; ; i++ {
			var doc map[string]any
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: document %d: %v", f, i, err)
			}
			kind, _ := doc["kind"].(string)
			if doc["apiVersion"] == nil || kind == "" || dig(doc, "metadata", "name") == nil {
				t.Errorf("%s: document %d lacks apiVersion, kind or metadata.name", f, i)
			}
			kinds[kind]++
			switch {
			case kind == "CronJob" && dig(doc, "metadata", "name") == "ghlbulk-login-refresh":
				checkRefreshCronJob(t, f, doc)
			case kind == "CronJob":
				checkCronJob(t, f, doc)
			case kind == "Role":
				checkRole(t, f, doc)
			}
		}
	}
	if kinds["CronJob"] != 2 || kinds["Secret"] < 1 || kinds["Role"] != 1 || kinds["RoleBinding"] != 1 {
		t.Errorf("kinds %v: want the export's and the login refresh's CronJobs, the Secret and the refresh's Role", kinds)
	}
}

func checkCronJob(t *testing.T, f string, doc map[string]any) {
	job := dig(doc, "spec", "jobTemplate", "spec")
	if dig(job, "completionMode") != "Indexed" {
		t.Errorf("%s: the Job is not Indexed", f)
	}
	n, p := dig(job, "completions"), dig(job, "parallelism")
	if n == nil || n != p {
		t.Errorf("%s: completions %v and parallelism %v differ", f, n, p)
	}
	containers, _ := dig(job, "template", "spec", "containers").([]any)
	if len(containers) != 1 {
		t.Fatalf("%s: %d containers, want 1", f, len(containers))
	}
	c := containers[0]
	var args []string
	for _, a := range dig(c, "args").([]any) {
		args = append(args, a.(string))
	}
	if s := strings.Join(args, " "); !strings.Contains(s, "export --locations all") || !strings.Contains(s, "--incremental") {
		t.Errorf("%s: args %q: want export --locations all ... --incremental", f, s)
	}
	completions := ""
	for _, e := range dig(c, "env").([]any) {
		if dig(e, "name") == "JOB_COMPLETIONS" {
			completions, _ = dig(e, "value").(string)
		}
	}
	if completions == "" || completions != strings.TrimSpace(yamlScalar(n)) {
		t.Errorf("%s: JOB_COMPLETIONS %q, want the completions %v", f, completions, n)
	}
	for _, r := range []string{"cpu", "memory"} {
		if dig(c, "resources", "requests", r) == nil {
			t.Errorf("%s: no %s request", f, r)
		}
	}
}

// checkRefreshCronJob: the login refresh runs `auth refresh` on the
// token file and writes it back without the token in any argument.
func checkRefreshCronJob(t *testing.T, f string, doc map[string]any) {
	spec := dig(doc, "spec", "jobTemplate", "spec", "template", "spec")
	var refresh, writeBack bool
	inits, _ := dig(spec, "initContainers").([]any)
	conts, _ := dig(spec, "containers").([]any)
	for _, c := range append(inits, conts...) {
		args, _ := yaml.Marshal(dig(c, "args"))
		cmd, _ := yaml.Marshal(dig(c, "command"))
		refresh = refresh || strings.Contains(string(args), "refresh")
		if strings.Contains(string(cmd), "kubectl") {
			writeBack = strings.Contains(string(cmd), "--patch-file") && !strings.Contains(string(cmd), "-p ")
		}
	}
	if !refresh || !writeBack || dig(spec, "serviceAccountName") == nil {
		t.Errorf("%s: the refresh job must run auth refresh, write back with kubectl patch --patch-file under its service account", f)
	}
}

// checkRole: the refresh's Role reaches the login Secret alone.
func checkRole(t *testing.T, f string, doc map[string]any) {
	rules, _ := dig(doc, "rules").([]any)
	for _, r := range rules {
		names, _ := yaml.Marshal(dig(r, "resourceNames"))
		verbs, _ := yaml.Marshal(dig(r, "verbs"))
		if strings.TrimSpace(string(names)) != "- ghlbulk-login" || strings.Contains(string(verbs), "list") || strings.Contains(string(verbs), "*") {
			t.Errorf("%s: a rule reaches %s with %s: want the ghlbulk-login Secret alone, get and patch", f, names, verbs)
		}
	}
}

// dig walks maps by key.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func yamlScalar(v any) string {
	b, _ := yaml.Marshal(v)
	return string(b)
}
