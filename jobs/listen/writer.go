package listen

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrBusy is an event the journal cannot take now (its queue is full, or
// it is closing): the answer is 429 with Retry-After.
var ErrBusy = errors.New("journal busy")

// pending is one event waiting for its batch's commit.
type pending struct {
	ev   *Event
	done chan result // buffered: the writer never waits for a request
}

type result struct {
	kept bool // false: its webhookId was journaled before
	err  error
}

// writer is the journal's single writer: group commit. It takes every
// event that is queued when it starts a batch (up to maxBatch) and commits
// them in one transaction, so N concurrent requests cost one fsync, not N.
type writer struct {
	j        *Journal
	span     int64
	queue    chan *pending
	maxBatch int
	route    func(*Event) []outboxRow // what an event owes; nil: nothing
	wake     func()                   // after a commit that owed something

	mu     sync.RWMutex // guards closed against a send on a closed queue
	closed bool
	done   chan struct{}
}

func newWriter(j *Journal, span int64, queueSize, maxBatch int) *writer {
	w := &writer{j: j, span: span, queue: make(chan *pending, queueSize), maxBatch: maxBatch, done: make(chan struct{})}
	go w.run()
	return w
}

// submit queues ev and waits for its batch's commit. A full queue is
// ErrBusy at once: the request is not held waiting for room.
func (w *writer) submit(ctx context.Context, ev *Event) (kept bool, err error) {
	p := &pending{ev: ev, done: make(chan result, 1)}
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return false, ErrBusy
	}
	select {
	case w.queue <- p:
		w.mu.RUnlock()
	default:
		w.mu.RUnlock()
		return false, ErrBusy
	}
	select {
	case r := <-p.done:
		return r.kept, r.err
	case <-ctx.Done():
		// The event may still be committed; the sender, gone, will retry
		// and be answered as a repeat.
		return false, ctx.Err()
	}
}

func (w *writer) run() {
	defer close(w.done)
	batch := make([]*pending, 0, w.maxBatch)
	evs := make([]*Event, 0, w.maxBatch)
	for p := range w.queue {
		batch = append(batch[:0], p)
	fill:
		for len(batch) < w.maxBatch {
			select {
			case q, ok := <-w.queue:
				if !ok {
					break fill
				}
				batch = append(batch, q)
			default:
				break fill
			}
		}
		evs = evs[:0]
		for _, q := range batch {
			evs = append(evs, q.ev)
		}
		w.commit(batch, evs)
	}
}

// commit journals one batch and answers each of its requests. It is not
// cancelled by the server's shutdown: what is queued is written.
func (w *writer) commit(batch []*pending, evs []*Event) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var owed [][]outboxRow
	if w.route != nil {
		owed = make([][]outboxRow, len(evs))
		for i, e := range evs {
			owed[i] = w.route(e)
		}
	}
	kept, err := w.j.appendBatch(ctx, w.span, evs, owed)
	if err == nil && owed != nil && w.wake != nil {
		w.wake()
	}
	for i, q := range batch {
		if err != nil {
			q.done <- result{err: err}
			continue
		}
		q.done <- result{kept: kept[i]}
	}
}

// close stops taking events and waits until every queued one is written.
func (w *writer) close() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.queue)
	}
	w.mu.Unlock()
	<-w.done
}
