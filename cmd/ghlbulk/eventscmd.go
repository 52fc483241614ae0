package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ghlbulk/ghlbulk/jobs/listen"
)

type eventsOptions struct {
	f       *factory
	journal string
	since   string
	types   []string
	json    bool
	failed  bool
}

func newEventsCmd(f *factory) *cobra.Command {
	o := eventsOptions{f: f}
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Print the webhooks 'ghlbulk listen' journaled, oldest first",
		Long: `Print the events in a listener's journal, oldest first: one line each (journal order, time
received, type, location, webhookId), or with --json one JSON object a line (NDJSON) with the event's
webhookId, type, locationId, timestamp, receivedAt, the header that verified it, and its body exactly
as HighLevel sent it. It reads while a listener writes. Times the listener was not up are logged as
warnings on stderr.`,
		Example: `  ghlbulk events --journal events.db --since 2026-01-01T00:00:00Z --type ContactCreate,ContactUpdate --json`,
		Args:    usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runEvents(cmd.Context(), o)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.journal, "journal", "", "the listener's journal (a SQLite file)")
	fl.StringVar(&o.since, "since", "", "only events received at or after this time (RFC 3339, or a duration such as 2h for that long ago)")
	fl.StringSliceVar(&o.types, "type", nil, "only these event types, comma-separated (ContactCreate,NoteDelete,...)")
	fl.BoolVar(&o.json, "json", false, "one JSON object a line (NDJSON)")
	fl.BoolVar(&o.failed, "failed", false, "list the dead letters instead: relay deliveries and actions given up on after the rules' attempts")
	return cmd
}

func runEvents(ctx context.Context, o eventsOptions) error {
	filter, err := o.filter(time.Now())
	if err != nil {
		return refused(err)
	}
	if o.journal == "" {
		return refused(fmt.Errorf("--journal is required: the file 'ghlbulk listen --journal' writes"))
	}
	if _, err := os.Stat(o.journal); err != nil {
		return refused(fmt.Errorf("--journal %s: %w (is it the file 'ghlbulk listen --journal' writes?)", o.journal, err))
	}
	j, err := listen.OpenJournal(o.journal)
	if err != nil {
		return refused(fmt.Errorf("--journal: %w", err))
	}
	defer j.Close()
	out := bufio.NewWriter(o.f.stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	if o.failed {
		return o.printFailed(ctx, j, out, enc)
	}
	o.warnGaps(ctx, j, filter.Since)
	for e, err := range j.Events(ctx, filter) {
		if err != nil {
			return err
		}
		if o.json {
			if err := enc.Encode(e); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(out, "%d\t%s\t%s\t%s\t%s\n", e.Seq, e.ReceivedAt.Format(time.RFC3339Nano), e.Type, e.LocationID, e.WebhookID)
	}
	return nil
}

// warnGaps logs the times from the first start (or since) to the last
// moment the listener was seen in which it was not up. What follows that
// moment is not told: a listener running now was last seen at its last
// heartbeat.
func (o eventsOptions) warnGaps(ctx context.Context, j *listen.Journal, since time.Time) {
	spans, err := j.Spans(ctx)
	if err != nil || len(spans) == 0 {
		return
	}
	if since.IsZero() || since.Before(spans[0].Start) {
		since = spans[0].Start
	}
	gaps, err := j.Gaps(ctx, since, spans[len(spans)-1].Stop)
	if err != nil {
		return
	}
	for _, g := range gaps {
		o.f.logger().Warn("the listener was not up: events of this time may be missing", "from", g.From.Format(time.RFC3339), "to", g.To.Format(time.RFC3339))
	}
}

func (o eventsOptions) filter(now time.Time) (listen.Filter, error) {
	var f listen.Filter
	for _, t := range o.types {
		if t = strings.TrimSpace(t); t != "" {
			f.Types = append(f.Types, t)
		}
	}
	if o.since == "" {
		return f, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, o.since); err == nil {
		f.Since = t
		return f, nil
	}
	if d, err := time.ParseDuration(o.since); err == nil && d > 0 {
		f.Since = now.Add(-d)
		return f, nil
	}
	return f, fmt.Errorf("--since %q: want an RFC 3339 time such as 2026-01-02T15:04:05Z, or a duration such as 2h", o.since)
}

// printFailed lists the dead letters: one line each (journal order of the
// event, its webhookId, the target, attempts, the last error), or NDJSON.
func (o eventsOptions) printFailed(ctx context.Context, j *listen.Journal, out *bufio.Writer, enc *json.Encoder) error {
	dead, err := j.DeadLetters(ctx)
	if err != nil {
		return err
	}
	for _, d := range dead {
		if o.json {
			if err := enc.Encode(d); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(out, "%d\t%s\t%s\t%s\t%d attempts\t%s\n", d.Event.Seq, d.Event.WebhookID, d.Target, d.Rule, d.Attempts, d.LastError)
	}
	return nil
}
