package listen

import (
	"context"
	"time"
)

// Gap is a time in which the listener was not up: HighLevel's events of
// that time may be missing from the journal (HighLevel retries a failed
// delivery for a while, so a short gap usually loses nothing).
type Gap struct {
	From, To time.Time
}

// Gaps lists the times within [since, until) the listener was not up, from
// the journaled uptime spans. A span the listener was killed in ends at the
// last moment it was seen alive (its heartbeat, or its last commit).
func (j *Journal) Gaps(ctx context.Context, since, until time.Time) ([]Gap, error) {
	spans, err := j.Spans(ctx)
	if err != nil {
		return nil, err
	}
	return gapsOf(spans, since, until), nil
}

// gapsOf is the complement of spans (sorted by start) within [since, until).
func gapsOf(spans []Span, since, until time.Time) []Gap {
	var gaps []Gap
	at := since
	for _, s := range spans {
		if !s.Stop.After(at) {
			continue
		}
		if s.Start.After(at) {
			if !s.Start.Before(until) {
				break
			}
			gaps = append(gaps, Gap{From: at, To: s.Start})
		}
		at = s.Stop
		if !at.Before(until) {
			return gaps
		}
	}
	if at.Before(until) {
		gaps = append(gaps, Gap{From: at, To: until})
	}
	return gaps
}
