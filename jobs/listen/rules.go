package listen

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
	"gopkg.in/yaml.v3"

	"github.com/ghlbulk/ghlbulk/ghl/pace"
	"github.com/ghlbulk/ghlbulk/transform"
)

// ConfigError is a rules file or --relay problem: where, what, and the fix.
// It stops listen (and import/export's --notify) before anything starts.
type ConfigError struct {
	Where string // "rules.yaml:12" or "--relay ops=..."
	What  string
	Fix   string
}

func (e *ConfigError) Error() string {
	if e.Fix == "" {
		return e.Where + ": " + e.What
	}
	return e.Where + ": " + e.What + " (" + e.Fix + ")"
}

// ActionCreateTask is the one action a rule may take.
const ActionCreateTask = "create_task"

// Rule is one compiled rule: which events, the condition, where it goes.
type Rule struct {
	Name    string
	Types   []string // none = every type
	Relays  []string
	Action  string // "" or ActionCreateTask
	when    *vm.Program
	message *template.Template
	subject *template.Template
	task    [3]*template.Template // title, body, due
}

// Config is the relays and rules listen sends events through.
type Config struct {
	Relays      map[string]*Relay
	Rules       []*Rule
	Policy      pace.Policy // the backoff between attempts
	MaxAttempts int         // attempts before a row is a dead letter
}

// HasActions reports whether a rule acts on HighLevel (listen then needs
// credentials).
func (c *Config) HasActions() bool {
	return c != nil && slices.ContainsFunc(c.Rules, func(r *Rule) bool { return r.Action != "" })
}

func (c *Config) rules() []*Rule {
	if c == nil {
		return nil
	}
	return c.Rules
}

// ConfigInput is where a Config comes from.
type ConfigInput struct {
	RulesPath string   // --rules; "" = no rules file
	Relays    []string // --relay NAME=URL, repeatable
	Getenv    func(string) string
}

// rulesFile is the YAML of --rules.
type rulesFile struct {
	Relays map[string]relayEntry `yaml:"relays"`
	Retry  struct {
		Initial  string `yaml:"initial"`
		Max      string `yaml:"max"`
		Attempts int    `yaml:"attempts"`
	} `yaml:"retry"`
	Rules []ruleEntry `yaml:"rules"`
}

type relayEntry struct {
	URL         string `yaml:"url"`
	SecretEnv   string `yaml:"secret_env"`
	UsernameEnv string `yaml:"username_env"`
	PasswordEnv string `yaml:"password_env"`
	line        int
}

type ruleEntry struct {
	Name    string   `yaml:"name"`
	Events  []string `yaml:"events"`
	When    string   `yaml:"when"`
	Relays  []string `yaml:"relays"`
	Message string   `yaml:"message"`
	Subject string   `yaml:"subject"`
	Action  string   `yaml:"action"`
	Task    struct {
		Title string `yaml:"title"`
		Body  string `yaml:"body"`
		Due   string `yaml:"due"`
	} `yaml:"task"`
	line int
}

func (r *relayEntry) UnmarshalYAML(n *yaml.Node) error {
	r.line = n.Line
	if n.Kind == yaml.ScalarNode {
		r.URL = n.Value
		return nil
	}
	if err := knownKeys(n, "url", "secret_env", "username_env", "password_env"); err != nil {
		return err
	}
	type plain relayEntry
	return n.Decode((*plain)(r))
}

func (r *ruleEntry) UnmarshalYAML(n *yaml.Node) error {
	r.line = n.Line
	if err := knownKeys(n, "name", "events", "when", "relays", "message", "subject", "action", "task"); err != nil {
		return err
	}
	type plain ruleEntry
	return n.Decode((*plain)(r))
}

// knownKeys refuses a key the rules file does not know: a typo would
// otherwise silently drop a condition.
func knownKeys(n *yaml.Node, keys ...string) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: want a mapping", n.Line)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; !slices.Contains(keys, k.Value) {
			return fmt.Errorf("line %d: unknown key %q (known: %s)", k.Line, k.Value, strings.Join(keys, ", "))
		}
	}
	return nil
}

// LoadConfig reads the rules file and the --relay flags. Every problem is
// a *ConfigError naming the file and line, or the flag, and the fix.
func LoadConfig(in ConfigInput) (*Config, error) {
	if in.Getenv == nil {
		in.Getenv = os.Getenv
	}
	var rf rulesFile
	if in.RulesPath != "" {
		data, err := os.ReadFile(in.RulesPath)
		if err != nil {
			return nil, &ConfigError{Where: "--rules " + in.RulesPath, What: err.Error(), Fix: "give the path of a rules YAML file"}
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&rf); err != nil && !errors.Is(err, io.EOF) {
			return nil, yamlError(in.RulesPath, err)
		}
	}
	c := &Config{Relays: map[string]*Relay{}}
	if err := c.addRelays(in, rf.Relays); err != nil {
		return nil, err
	}
	if err := c.setRetry(in.RulesPath, rf); err != nil {
		return nil, err
	}
	for _, re := range rf.Rules {
		r, err := c.compileRule(in.RulesPath, re)
		if err != nil {
			return nil, err
		}
		c.Rules = append(c.Rules, r)
	}
	return c, nil
}

// yamlError turns yaml's "yaml: line 3: ..." into file:line.
func yamlError(path string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.ReplaceAll(msg, "unmarshal errors:\n  ", "")
	where := path
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, tail, ok := strings.Cut(rest, ":"); ok {
			where, msg = path+":"+n, strings.TrimSpace(tail)
		}
	}
	return &ConfigError{Where: where, What: msg, Fix: "see README, Relays and rules, for the rules file's keys"}
}

// addRelays merges --relay NAME=URL with the rules file's relays: a flag
// gives or replaces the URL, the file gives the secrets' variable names.
func (c *Config) addRelays(in ConfigInput, entries map[string]relayEntry) error {
	for _, fl := range in.Relays {
		name, u, ok := strings.Cut(fl, "=")
		if !ok || name == "" || u == "" {
			return &ConfigError{Where: "--relay " + fl, What: "want NAME=URL", Fix: "such as --relay ops=https://hooks.slack.com/services/..."}
		}
		e := entries[name]
		e.URL = u
		if entries == nil {
			entries = map[string]relayEntry{}
		}
		entries[name] = e
	}
	for name, e := range entries {
		where := fmt.Sprintf("%s:%d", in.RulesPath, e.line)
		if e.line == 0 {
			where = "--relay " + name + "=" + e.URL
		}
		r, err := NewRelay(name, e.URL, relaySecrets(e, in.Getenv))
		if err != nil {
			return &ConfigError{Where: where, What: "relay " + name + ": " + err.Error(), Fix: relayFix}
		}
		if msg := missingEnv(e, in.Getenv); msg != "" {
			return &ConfigError{Where: where, What: "relay " + name + ": " + msg, Fix: "export the variable, or remove its name from the rules file"}
		}
		c.Relays[name] = r
	}
	return nil
}

const relayFix = "want https://hooks.slack.com/..., https://...webhook.office.com/..., http(s)://... (JSON), " +
	"smtp://HOST:PORT?from=A&to=B, or a kind forced as slack+https://..., teams+https://..."

func relaySecrets(e relayEntry, getenv func(string) string) Secrets {
	var s Secrets
	if e.SecretEnv != "" {
		s.HMAC = getenv(e.SecretEnv)
	}
	if e.UsernameEnv != "" {
		s.Username = getenv(e.UsernameEnv)
	}
	if e.PasswordEnv != "" {
		s.Password = getenv(e.PasswordEnv)
	}
	return s
}

// missingEnv names a variable the rules file names but the environment
// lacks: a secret silently empty would sign with "" or send unauthenticated.
func missingEnv(e relayEntry, getenv func(string) string) string {
	for _, v := range []string{e.SecretEnv, e.UsernameEnv, e.PasswordEnv} {
		if v != "" && getenv(v) == "" {
			return "environment variable " + v + " is not set"
		}
	}
	return ""
}

// Defaults of the rules file's retry section.
const (
	DefaultRelayAttempts = 8
	defaultRelayInitial  = time.Second
	defaultRelayMax      = 5 * time.Minute
)

func (c *Config) setRetry(path string, rf rulesFile) error {
	c.Policy = pace.Policy{Initial: defaultRelayInitial, Max: defaultRelayMax, MaxAttempts: DefaultRelayAttempts}
	c.MaxAttempts = DefaultRelayAttempts
	if rf.Retry.Attempts > 0 {
		c.MaxAttempts, c.Policy.MaxAttempts = rf.Retry.Attempts, rf.Retry.Attempts
	}
	for _, d := range []struct {
		v   string
		dst *time.Duration
	}{{rf.Retry.Initial, &c.Policy.Initial}, {rf.Retry.Max, &c.Policy.Max}} {
		if d.v == "" {
			continue
		}
		v, err := time.ParseDuration(d.v)
		if err != nil || v <= 0 {
			return &ConfigError{Where: path + ": retry", What: fmt.Sprintf("%q is not a duration", d.v), Fix: "such as 2s or 5m"}
		}
		*d.dst = v
	}
	return nil
}

func (c *Config) compileRule(path string, re ruleEntry) (*Rule, error) {
	where := fmt.Sprintf("%s:%d", path, re.line)
	bad := func(what, fix string) error {
		return &ConfigError{Where: where, What: "rule " + strconvQuote(re.Name) + ": " + what, Fix: fix}
	}
	if re.Name == "" {
		return nil, bad("no name", "give each rule a name: it keys the rule's deliveries")
	}
	for _, name := range re.Relays {
		if c.Relays[name] == nil {
			return nil, bad("relay "+strconvQuote(name)+" is not declared", "give --relay "+name+"=URL, or declare it under relays:")
		}
	}
	if re.Action != "" && re.Action != ActionCreateTask {
		return nil, bad("unknown action "+strconvQuote(re.Action), "the one action is create_task")
	}
	if len(re.Relays) == 0 && re.Action == "" {
		return nil, bad("neither relays nor an action", "give relays: [NAME] or action: create_task")
	}
	if re.Action == ActionCreateTask && re.Task.Title == "" {
		return nil, bad("create_task without task.title", "give task: {title: ..., body: ..., due: ...}")
	}
	r := &Rule{Name: re.Name, Types: re.Events, Relays: re.Relays, Action: re.Action}
	var err error
	if r.when, err = compileWhen(re.When); err != nil {
		return nil, bad("when: "+err.Error(), "an expression in the mappings' language, such as type == \"NoteCreate\" && body contains \"follow up\"")
	}
	for _, t := range []struct {
		name, text string
		dst        **template.Template
	}{{"message", re.Message, &r.message}, {"subject", re.Subject, &r.subject},
		{"task.title", re.Task.Title, &r.task[0]}, {"task.body", re.Task.Body, &r.task[1]}, {"task.due", re.Task.Due, &r.task[2]}} {
		if *t.dst, err = template.New(t.name).Option("missingkey=zero").Parse(t.text); err != nil {
			return nil, bad(t.name+": "+err.Error(), "a Go text/template over the event, such as {{.type}} for {{.contactId}}")
		}
	}
	return r, nil
}

func strconvQuote(s string) string { return fmt.Sprintf("%q", s) }

// compileWhen compiles a rule's condition: a boolean over the event's
// fields, bounded as the mappings' expressions are.
func compileWhen(src string) (*vm.Program, error) {
	if strings.TrimSpace(src) == "" {
		return nil, nil
	}
	return expr.Compile(src, expr.Env(map[string]any{}), expr.AllowUndefinedVariables(), expr.AsBool(), transform.ExprBudget())
}
