package pipeline

import (
	"context"
	"slices"
	"strings"
	"sync"
)

// TagWriter adds tags to contacts in bulk. A Sink that implements it
// leaves each row's tags in Item.Tags instead of sending them, and the run
// adds them in requests shared by rows of every lane and group: a tag is
// sent once BulkTagMax contacts need it (or at the end of the run), so a
// tag on one row in 200 still costs one request per 100 contacts. sinks.GHL
// implements it.
type TagWriter interface {
	// AddTags adds tags to the contacts ids (at most BulkTagMax of them).
	// refused names the contacts it could not add them to, with the reason
	// (the row's reject); err is a run-level fault.
	AddTags(ctx context.Context, stats *Stats, tags, ids []string) (refused map[string]string, err error)
}

// Defaults of the tag batcher.
const (
	// DefaultBulkTagMax is the most contacts per bulk tag request: the API
	// does not document its limit, and 100 is what HighLevel's own bulk
	// actions send.
	DefaultBulkTagMax = 100
	// DefaultMaxPendingTags bounds the (tag, contact) pairs held before
	// every pending tag is sent, whether its batch is full or not: a few
	// MB, and a bound on what a rare or per-row tag keeps waiting.
	DefaultMaxPendingTags = 100_000
)

// TagIntent is a row's tags that its contact lacked when the row was
// written: journaled in the state with the row's checkpoint (one
// transaction), and deleted once every tag is added. A run that stops
// first leaves it to the next run, which sends it before anything else.
type TagIntent struct {
	FP        string
	File      string
	Row       int64
	Key       string
	ContactID string
	Tags      []string // normalised (NormTags)
	Raw       []string // the source values, for the rejects file if the tags are refused

	// counted is the status this run counted the row as ("" for an intent
	// an earlier run left): a refusal moves it to rejected.
	counted string
	status  string // the row's status as checkpointed: undo's record
	run     string // the run that wrote the row
	left    int    // tag requests still to answer for it
	reason  string // why a request refused it, if one did
}

// TagCall is one bulk tag request: Tags added to the contacts IDs.
type TagCall struct {
	Tags []string
	IDs  []string
	// waiters are the intents this call answers for, once per tag.
	waiters []*TagIntent
}

// NormTags is how tags compare (HighLevel keeps them lower case): trimmed,
// lower case, without blanks or repeats, sorted.
func NormTags(tags []string) []string {
	var out []string
	for _, t := range tags {
		n := strings.ToLower(strings.TrimSpace(t))
		if n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// TagBatcher gathers the tags rows add and turns them into as few bulk
// requests as it can: a tag goes out as soon as max contacts need it
// (tags whose batches hold exactly the same contacts share the request),
// and Drain sends the rest, grouped whichever way needs fewer requests.
// It does no I/O; the planner runs it too, to count the requests. Safe for
// concurrent use.
type TagBatcher struct {
	max, maxPending int

	mu      sync.Mutex
	byTag   map[string]*pendingTag // guarded by mu
	order   []string               // tags in first-seen order; guarded by mu
	pairs   int                    // pending (tag, contact) pairs; guarded by mu
	waiting map[[2]string][]*TagIntent
}

type pendingTag struct {
	ids []string
	has map[string]bool
}

// NewTagBatcher returns a batcher of at most max contacts per request
// (0: DefaultBulkTagMax) that sends everything once maxPending pairs wait
// (0: DefaultMaxPendingTags).
func NewTagBatcher(max, maxPending int) *TagBatcher {
	if max <= 0 {
		max = DefaultBulkTagMax
	}
	if maxPending <= 0 {
		maxPending = DefaultMaxPendingTags
	}
	return &TagBatcher{max: max, maxPending: maxPending, byTag: make(map[string]*pendingTag), waiting: make(map[[2]string][]*TagIntent)}
}

// Add takes one row's intent and returns the requests that are now full.
func (b *TagBatcher) Add(in *TagIntent) []TagCall {
	b.mu.Lock()
	defer b.mu.Unlock()
	in.left = len(in.Tags)
	var full []string
	for _, t := range in.Tags {
		p := b.byTag[t]
		if p == nil {
			p = &pendingTag{has: make(map[string]bool)}
			b.byTag[t] = p
			b.order = append(b.order, t)
		}
		if !p.has[in.ContactID] {
			p.has[in.ContactID] = true
			p.ids = append(p.ids, in.ContactID)
			b.pairs++
		}
		pair := [2]string{t, in.ContactID}
		b.waiting[pair] = append(b.waiting[pair], in)
		if len(p.ids) >= b.max {
			full = append(full, t)
		}
	}
	if b.pairs >= b.maxPending {
		return b.drain()
	}
	if len(full) == 0 {
		return nil
	}
	// Full tags whose first max contacts are the same go in one request
	// (tags every row has fill up together).
	var calls []TagCall
	bySig := make(map[string]int)
	for _, t := range full {
		ids := b.byTag[t].ids[:b.max]
		sig := strings.Join(ids, "\x00")
		if i, ok := bySig[sig]; ok {
			calls[i].Tags = append(calls[i].Tags, t)
			continue
		}
		bySig[sig] = len(calls)
		calls = append(calls, TagCall{Tags: []string{t}, IDs: slices.Clone(ids)})
	}
	for i := range calls {
		for _, t := range calls[i].Tags {
			b.take(&calls[i], t, calls[i].IDs)
		}
	}
	return calls
}

// take moves (t, id) for each of ids from pending to the call.
func (b *TagBatcher) take(c *TagCall, t string, ids []string) {
	p := b.byTag[t]
	for _, id := range ids {
		if !p.has[id] {
			continue
		}
		pair := [2]string{t, id}
		c.waiters = append(c.waiters, b.waiting[pair]...)
		delete(b.waiting, pair)
		delete(p.has, id)
		b.pairs--
	}
	p.ids = slices.DeleteFunc(p.ids, func(id string) bool { return !p.has[id] })
	if len(p.ids) == 0 {
		delete(b.byTag, t)
		b.order = slices.DeleteFunc(b.order, func(x string) bool { return x == t })
	}
}

// Drain returns requests for everything pending, the fewer of two
// groupings: one request per set of contacts that need exactly the same
// tags, or one per block of tags that exactly the same contacts need, each
// chunked to max contacts.
func (b *TagBatcher) Drain() []TagCall {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.drain()
}

func (b *TagBatcher) drain() []TagCall {
	if b.pairs == 0 {
		return nil
	}
	// By block: tags needed by exactly the same contacts.
	var byBlock []TagCall
	blocks := make(map[string]int)
	for _, t := range b.order {
		ids := slices.Clone(b.byTag[t].ids)
		slices.Sort(ids)
		sig := strings.Join(ids, "\x00")
		if i, ok := blocks[sig]; ok {
			byBlock[i].Tags = append(byBlock[i].Tags, t)
			continue
		}
		blocks[sig] = len(byBlock)
		byBlock = append(byBlock, TagCall{Tags: []string{t}, IDs: ids})
	}
	// By set: contacts that need exactly the same tags.
	need := make(map[string][]string)
	var contacts []string
	for _, t := range b.order {
		for _, id := range b.byTag[t].ids {
			if need[id] == nil {
				contacts = append(contacts, id)
			}
			need[id] = append(need[id], t)
		}
	}
	var bySet []TagCall
	sets := make(map[string]int)
	for _, id := range contacts {
		sig := strings.Join(need[id], "\x00")
		if i, ok := sets[sig]; ok {
			bySet[i].IDs = append(bySet[i].IDs, id)
			continue
		}
		sets[sig] = len(bySet)
		bySet = append(bySet, TagCall{Tags: need[id], IDs: []string{id}})
	}
	calls := chunkCalls(byBlock, b.max)
	if s := chunkCalls(bySet, b.max); len(s) < len(calls) {
		calls = s
	}
	for i := range calls {
		for _, t := range calls[i].Tags {
			b.take(&calls[i], t, calls[i].IDs)
		}
	}
	return calls
}

func chunkCalls(calls []TagCall, max int) []TagCall {
	var out []TagCall
	for _, c := range calls {
		for part := range slices.Chunk(c.IDs, max) {
			out = append(out, TagCall{Tags: c.Tags, IDs: part})
		}
	}
	return out
}

// Pending is the number of (tag, contact) pairs waiting.
func (b *TagBatcher) Pending() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.pairs
}

// settle records a call's answer and returns the intents it finished:
// those whose every tag request has now answered, with the reason if any
// refused them.
func (c *TagCall) settle(refused map[string]string) (finished []*TagIntent) {
	for _, w := range c.waiters {
		if reason, ok := refused[w.ContactID]; ok && w.reason == "" {
			w.reason = reason
		}
		if w.left--; w.left == 0 {
			finished = append(finished, w)
		}
	}
	return finished
}
