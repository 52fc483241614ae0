package listen

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/expr-lang/expr"

	"github.com/ghlbulk/ghlbulk/ghl"
)

// outboxRow is one delivery an event owes: to a relay, or a rule's action.
// Key is its idempotency key: webhookId/relay, or webhookId/task:rule.
type outboxRow struct {
	Key, Target, Rule string
}

// Target prefixes in the outbox.
const (
	targetRelay  = "relay:"
	targetAction = "action:"
)

// fields is an event's body as the rules see it: its JSON object.
func fields(body []byte) map[string]any {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		m = map[string]any{}
	}
	return m
}

// route is what ev owes: one row per relay a matching rule names (a relay
// named by two rules is owed once) and one per matching rule's action.
// A condition that fails to run (its budget spent) is no match, logged by
// the caller through errs.
func (c *Config) route(ev *Event) (rows []outboxRow, errs []error) {
	if c == nil || len(c.Rules) == 0 {
		return nil, nil
	}
	env := fields(ev.Body)
	for _, r := range c.Rules {
		ok, err := r.matches(ev.Type, env)
		if err != nil {
			errs = append(errs, fmt.Errorf("rule %q on %s: %w", r.Name, ev.WebhookID, err))
		}
		if !ok {
			continue
		}
		for _, name := range r.Relays {
			key := ev.WebhookID + "/" + name
			if !slices.ContainsFunc(rows, func(o outboxRow) bool { return o.Key == key }) {
				rows = append(rows, outboxRow{Key: key, Target: targetRelay + name, Rule: r.Name})
			}
		}
		if r.Action != "" {
			rows = append(rows, outboxRow{Key: ev.WebhookID + "/task:" + r.Name, Target: targetAction + r.Action, Rule: r.Name})
		}
	}
	return rows, errs
}

func (r *Rule) matches(typ string, env map[string]any) (bool, error) {
	if len(r.Types) > 0 && !slices.Contains(r.Types, typ) {
		return false, nil
	}
	if r.when == nil {
		return true, nil
	}
	out, err := expr.Run(r.when, env)
	if err != nil {
		return false, err
	}
	b, _ := out.(bool)
	return b, nil
}

// maxRendered bounds a template's output: an event's text repeated by a
// template cannot grow a message without end.
const maxRendered = 64 << 10

type boundedBuffer struct{ bytes.Buffer }

var errTooLong = fmt.Errorf("the template's output is over %d bytes", maxRendered)

func (b *boundedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > maxRendered {
		return 0, errTooLong
	}
	return b.Buffer.Write(p)
}

func execute(t *template.Template, data any) (string, error) {
	if t == nil {
		return "", nil
	}
	var b boundedBuffer
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("template %s: %w", t.Name(), err)
	}
	return b.String(), nil
}

// message renders rule r's message for ev; with no message template, the
// text is a line naming the event.
func (r *Rule) renderMessage(ev *Event) (Message, error) {
	env := fields(ev.Body)
	text, err := execute(r.message, env)
	if err != nil {
		return Message{}, err
	}
	if text == "" {
		text = fmt.Sprintf("%s on location %s (webhookId %s)", ev.Type, ev.LocationID, ev.WebhookID)
	}
	subject, err := execute(r.subject, env)
	if err != nil {
		return Message{}, err
	}
	if subject == "" {
		subject = "ghlbulk: " + ev.Type
	}
	return Message{Subject: subject, Text: text, JSON: ev.Body}, nil
}

// renderTask is the task rule r creates for ev, and the contact it goes on.
func (r *Rule) renderTask(ev *Event) (string, ghl.TaskInput, error) {
	env := fields(ev.Body)
	contact, _ := env["contactId"].(string)
	if contact == "" {
		return "", ghl.TaskInput{}, errors.New("the event has no contactId: no contact to put the task on")
	}
	var parts [3]string
	for i, t := range r.task {
		s, err := execute(t, env)
		if err != nil {
			return "", ghl.TaskInput{}, err
		}
		parts[i] = strings.TrimSpace(s)
	}
	due, err := dueDate(parts[2], ev.ReceivedAt)
	if err != nil {
		return "", ghl.TaskInput{}, err
	}
	return contact, ghl.TaskInput{Title: parts[0], Body: parts[1], DueDate: due}, nil
}

// dueDate reads task.due: RFC 3339, or a duration after the event was
// received ("48h"); none is a day after.
func dueDate(s string, received time.Time) (string, error) {
	if s == "" {
		s = "24h"
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC().Format(time.RFC3339), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return "", fmt.Errorf("task.due %q: want RFC 3339 or a duration such as 48h", s)
	}
	return received.Add(d).UTC().Truncate(time.Second).Format(time.RFC3339), nil
}
