package listen

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
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
	app      *appender
	span     int64
	queue    chan *pending
	maxBatch int
	route    func(*Event) []outboxRow // what an event owes; nil: nothing
	wake     func()                   // after a commit that owed something

	mu     sync.RWMutex // guards closed against a send on a closed queue
	closed bool
	done   chan struct{}

	commits atomic.Int64 // transactions committed: events per commit is the batching's gain

	sinceCkpt  int         // commits (and events, scaled) since the last checkpoint
	ckptFailed func(error) // a checkpoint failed: the WAL grows until one succeeds
}

// The writer checkpoints after this many commits, or events, since the
// last checkpoint: about SQLite's own default of 1,000 WAL pages.
const (
	checkpointCommits = 200
	checkpointEvents  = 2000
)

func newWriter(j *Journal, span int64, queueSize, maxBatch int, ckptFailed func(error)) (*writer, error) {
	app, err := j.newAppender()
	if err != nil {
		return nil, err
	}
	w := &writer{
		j: j, app: app, span: span, queue: make(chan *pending, queueSize), maxBatch: maxBatch, done: make(chan struct{}),
		ckptFailed: ckptFailed,
	}
	go w.run()
	return w, nil
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
	defer w.app.close()
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
		w.checkpoint()
	}
}

// commit journals one batch and answers each of its requests. It is not
// cancelled by the server's shutdown: what is queued is written. The
// next batch starts as soon as this one's COMMIT returns: no timer, so a
// lone event waits for one fsync and a burst is taken by the events that
// queued during the previous one.
func (w *writer) commit(batch []*pending, evs []*Event) {
	var owed [][]outboxRow
	if w.route != nil {
		owed = make([][]outboxRow, len(evs))
		for i, e := range evs {
			owed[i] = w.route(e)
		}
	}
	kept := make([]bool, len(evs))
	err := w.app.appendBatch(w.span, evs, owed, kept)
	if err == nil {
		w.commits.Add(1)
		w.sinceCkpt += 1 + len(evs)*checkpointCommits/checkpointEvents
		if owed != nil && w.wake != nil {
			w.wake()
		}
	}
	for i, q := range batch {
		if err != nil {
			q.done <- result{err: err}
			continue
		}
		q.done <- result{kept: kept[i]}
	}
}

// checkpoint copies the WAL into the database once enough is in it. It
// runs here, on the writer's connection, after the batch's requests are
// answered: none waits for it, and the WAL is then wholly copied, so the
// next commit writes it again from its start rather than growing it (a
// checkpoint on another connection, racing the writer, never catches up
// under a steady load). The events that queue meanwhile go in the next
// batch.
func (w *writer) checkpoint() {
	if w.sinceCkpt < checkpointCommits {
		return
	}
	w.sinceCkpt = 0
	if err := w.app.checkpoint(); err != nil {
		w.ckptFailed(err)
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
