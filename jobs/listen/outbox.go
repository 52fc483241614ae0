package listen

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/ghl/pace"
)

// Tasks is what a create_task rule needs of HighLevel: *ghl.Client, behind
// the paced session (jobs/session), satisfies it.
type Tasks interface {
	CreateTask(ctx context.Context, contactID string, in ghl.TaskInput) (*ghl.Task, error)
	ListTasks(ctx context.Context, contactID string) ([]ghl.Task, error)
}

// sender delivers the outbox: one goroutine owned by the listener, so a
// relay that is down delays only its own deliveries' retries, never a
// webhook's answer. Each row is sent at least once; its key lets the
// receiver drop a repeat (a send whose answer was lost).
type sender struct {
	j     *Journal
	cfg   *Config
	tasks Tasks
	hc    *http.Client
	log   *slog.Logger
	now   func() time.Time
	poll  time.Duration

	wakeC  chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
}

func newSender(j *Journal, cfg *Config, tasks Tasks, log *slog.Logger, now func() time.Time) *sender {
	ctx, cancel := context.WithCancel(context.Background())
	s := &sender{
		j: j, cfg: cfg, tasks: tasks, log: log, now: now, poll: time.Second,
		hc:    &http.Client{Timeout: 15 * time.Second},
		wakeC: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{}),
	}
	if cfg.Policy.Initial < s.poll {
		s.poll = cfg.Policy.Initial
	}
	go s.run(ctx)
	return s
}

// wake tells the sender a commit owed something; it never blocks.
func (s *sender) wake() {
	select {
	case s.wakeC <- struct{}{}:
	default:
	}
}

// close stops the sender; a delivery cut short stays pending, for the next
// start.
func (s *sender) close() {
	s.cancel()
	<-s.done
}

func (s *sender) run(ctx context.Context) {
	defer close(s.done)
	t := time.NewTicker(s.poll)
	defer t.Stop()
	for {
		for s.drain(ctx) > 0 && ctx.Err() == nil {
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wakeC:
		case <-t.C:
		}
	}
}

// drain sends the rows due now; it returns how many it tried.
func (s *sender) drain(ctx context.Context) int {
	due, err := s.j.dueDeliveries(ctx, s.now(), 64)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("outbox: cannot read the journal", "journal", s.j.Path(), "err", err)
		}
		return 0
	}
	for _, d := range due {
		if ctx.Err() != nil {
			return 0
		}
		s.settle(ctx, d, s.deliver(ctx, d))
	}
	return len(due)
}

// settle journals an attempt's outcome.
func (s *sender) settle(ctx context.Context, d Delivery, err error) {
	if ctx.Err() != nil {
		return // stopped mid-send: not an attempt; pending for the next start
	}
	now := s.now()
	if err == nil {
		if err := s.j.deliveryDone(ctx, d.ID, now); err != nil {
			s.log.Warn("outbox: cannot mark a delivery done; it will be sent again", "key", d.Key, "err", err)
		}
		return
	}
	dead := d.Attempts+1 >= s.cfg.MaxAttempts
	next := now.Add(pace.Backoff(s.cfg.Policy, d.Attempts, rand.Float64))
	msg := err.Error()
	if dead {
		s.log.Warn("outbox: giving up on a delivery (see ghlbulk events --failed)", "key", d.Key, "attempts", d.Attempts+1, "err", msg)
	} else {
		s.log.Info("outbox: delivery failed; will retry", "key", d.Key, "attempt", d.Attempts+1, "retry_at", next.Format(time.RFC3339), "err", msg)
	}
	if err := s.j.deliveryFailed(ctx, d.ID, next, dead, msg); err != nil {
		s.log.Warn("outbox: cannot journal a failed attempt", "key", d.Key, "err", err)
	}
}

func (s *sender) rule(name string) *Rule {
	for _, r := range s.cfg.Rules {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// deliver makes one attempt at d.
func (s *sender) deliver(ctx context.Context, d Delivery) error {
	r := s.rule(d.Rule)
	if r == nil {
		return fmt.Errorf("rule %q is no longer in the rules file", d.Rule)
	}
	if name, ok := strings.CutPrefix(d.Target, targetRelay); ok {
		relay := s.cfg.Relays[name]
		if relay == nil {
			return fmt.Errorf("relay %q is no longer given (--relay %s=URL)", name, name)
		}
		m, err := r.renderMessage(&d.Event)
		if err != nil {
			return err
		}
		m.Key = d.Key
		return relay.Send(ctx, s.hc, m)
	}
	return s.createTask(ctx, r, d)
}

// createTask is a create_task rule's action, through the paced client and
// pace.Retry. After an attempt whose outcome is not known (an earlier try
// of this row, or of this call), it looks for the task first: one task
// per event, across restarts too.
func (s *sender) createTask(ctx context.Context, r *Rule, d Delivery) error {
	if s.tasks == nil {
		return errors.New("no HighLevel credentials for create_task: start listen with them (GHL_TOKEN or a token file, and --location)")
	}
	contact, in, err := r.renderTask(&d.Event)
	if err != nil {
		return err
	}
	return pace.Retry(ctx, pace.DefaultPolicy(), nil, func(ctx context.Context) error {
		if n, _ := pace.AttemptFromContext(ctx); n > 1 || d.Attempts > 0 {
			if found, err := s.hasTask(ctx, contact, in); err != nil || found {
				return err
			}
		}
		_, err := s.tasks.CreateTask(ctx, contact, in)
		return err
	})
}

func (s *sender) hasTask(ctx context.Context, contact string, in ghl.TaskInput) (bool, error) {
	tasks, err := s.tasks.ListTasks(ctx, contact)
	if err != nil {
		return false, err
	}
	for _, t := range tasks {
		if t.Title == in.Title && t.Body == in.Body && sameTime(t.DueDate, in.DueDate) {
			return true, nil
		}
	}
	return false, nil
}

func sameTime(a, b string) bool {
	ta, err1 := time.Parse(time.RFC3339, a)
	tb, err2 := time.Parse(time.RFC3339, b)
	if err1 != nil || err2 != nil {
		return a == b
	}
	return ta.Equal(tb)
}
