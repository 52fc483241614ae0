package pipeline

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/ghlbulk/ghlbulk/record"
)

// TagWriter adds tags to contacts in bulk: the run's declared dependency
// (ImportConfig.Tags). A Sink leaves each row's tags its contact lacks in
// record.Outcome.Tags instead of sending them, and the run adds them in
// requests shared by rows of every lane and group: a tag is sent once
// BulkTagMax contacts need it (or at the end of the run), so a tag on one
// row in 200 still costs one request per 100 contacts. sinks.GHL
// implements it.
type TagWriter interface {
	// AddTags adds tags to the contacts ids (at most BulkTagMax of them),
	// its requests counted in m. refused names the contacts it could not
	// add them to, with the reason (the row's reject); err is a run-level
	// fault.
	AddTags(ctx context.Context, m record.Meter, tags, ids []string) (refused map[string]string, err error)
}

// BusinessWriter puts contacts in a business in bulk: the run's declared
// dependency (ImportConfig.Business). A Sink leaves a written row's
// business in record.Outcome.Business instead of sending it, and the run
// links the contacts of one business in requests of up to
// BulkBusinessMax, journaled and settled as tags are.
// importer.BusinessLinker implements it.
type BusinessWriter interface {
	// LinkBusiness puts the contacts ids (at most BulkBusinessMax) in the
	// business, its requests counted in m. refused names the contacts it
	// could not link, with the reason (the row's reject); err is a
	// run-level fault.
	LinkBusiness(ctx context.Context, m record.Meter, businessID string, ids []string) (refused map[string]string, err error)
}

// Defaults of the tag batcher.
const (
	// DefaultBulkTagMax is the most contacts per bulk tag request: the API
	// does not document its limit, and 100 is what HighLevel's own bulk
	// actions send.
	DefaultBulkTagMax = 100
	// DefaultBulkBusinessMax is the most contacts per business link
	// request (POST /contacts/bulk/business): what the API accepts in its
	// other bulk endpoints (ghl/sandbox/DEVIATIONS.md, "Bulk sizes").
	DefaultBulkBusinessMax = 1000
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
	Tags      []string // normalised (record.NormTags)
	// Common are the tags batched as one set with the row's other common
	// tags (TagClassifier); the others are batched each on its own.
	Common map[string]bool
	// Business is the business the contact goes in ("" for none): linked
	// in bulk with the other contacts of that business (BusinessWriter).
	Business string

	// counted is the status this run counted the row as ("" for an intent
	// an earlier run left): a refusal moves it to rejected.
	counted string
	status  string // the row's status as checkpointed: undo's record
	run     string // the run that wrote the row
	left    int    // tag requests still to answer for it
	reason  string // why a request refused it, if one did
}

// TagCall is one bulk request: Tags added to the contacts IDs, or, when
// Business is set, the contacts IDs put in that business (and no Tags).
type TagCall struct {
	Tags     []string
	Business string
	IDs      []string
	// waiters are the intents this call answers for, once per tag.
	waiters []*TagIntent
}

// TagBatcher gathers the tags rows add and turns them into as few bulk
// requests as it can. A row's tags go to buckets: its common tags (those
// its TagIntent.Common names) together, as one set, and each other tag on
// its own; a bucket goes out as a request as soon as max contacts are in
// it (buckets that fill with the same contacts share the request), and
// Drain sends the rest, grouped whichever way needs fewer requests. So a
// tag every row has, or a handful of stages, cost a request per max rows
// between them, and a tag one row in 200 has costs one per max rows that
// have it, not one per lane group. It does no I/O; the planner runs it
// too, to count the requests. Safe for concurrent use.
//
// A row's business goes to its business's bucket, sent once bizMax
// contacts are in it: N rows of one business cost N/bizMax requests.
type TagBatcher struct {
	max, maxPending, bizMax int

	mu      sync.Mutex
	buckets map[string]*tagBucket // by tag set; guarded by mu
	order   []string              // bucket keys in first-seen order; guarded by mu
	pairs   int                   // pending (tag, contact) pairs; guarded by mu
	waiting map[[2]string][]*TagIntent

	biz      map[string]*tagBucket      // contacts by business; guarded by mu
	bizOrder []string                   // businesses in first-seen order; guarded by mu
	bizOf    map[string]string          // the business a pending contact goes in; guarded by mu
	linking  map[[2]string][]*TagIntent // intents by (business, contact); guarded by mu
}

// tagBucket is contacts waiting for the same set of tags.
type tagBucket struct {
	tags []string
	ids  []string
	has  map[string]bool
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
	return &TagBatcher{max: max, maxPending: maxPending, bizMax: DefaultBulkBusinessMax,
		buckets: make(map[string]*tagBucket), waiting: make(map[[2]string][]*TagIntent),
		biz: make(map[string]*tagBucket), bizOf: make(map[string]string), linking: make(map[[2]string][]*TagIntent)}
}

// SetBusinessMax sets the most contacts per business link request (0:
// DefaultBulkBusinessMax). Call it before the first Add.
func (b *TagBatcher) SetBusinessMax(n int) *TagBatcher {
	if n <= 0 {
		n = DefaultBulkBusinessMax
	}
	b.bizMax = n
	return b
}

// split is the tag sets of an intent's buckets: its common tags, then each
// other tag alone.
func split(in *TagIntent) [][]string {
	var common []string
	var out [][]string
	for _, t := range in.Tags {
		if in.Common[t] {
			common = append(common, t)
		} else {
			out = append(out, []string{t})
		}
	}
	if len(common) > 0 {
		out = append(out, common)
	}
	return out
}

// Add takes one row's intent and returns the requests that are now full.
func (b *TagBatcher) Add(in *TagIntent) []TagCall {
	b.mu.Lock()
	defer b.mu.Unlock()
	in.left = len(in.Tags)
	var linked []TagCall
	if in.Business != "" {
		in.left++
		linked = b.addLink(in)
	}
	for _, t := range in.Tags {
		pair := [2]string{t, in.ContactID}
		b.waiting[pair] = append(b.waiting[pair], in)
	}
	var full []string
	for _, set := range split(in) {
		key := strings.Join(set, "\x00")
		bk := b.buckets[key]
		if bk == nil {
			bk = &tagBucket{tags: set, has: make(map[string]bool)}
			b.buckets[key] = bk
			b.order = append(b.order, key)
		}
		if !bk.has[in.ContactID] {
			bk.has[in.ContactID] = true
			bk.ids = append(bk.ids, in.ContactID)
			b.pairs += len(set)
		}
		if len(bk.ids) >= b.max {
			full = append(full, key)
		}
	}
	if b.pairs >= b.maxPending {
		return append(linked, b.drain()...)
	}
	if len(full) == 0 {
		return linked
	}
	// Buckets whose first max contacts are the same go in one request.
	var calls []TagCall
	var keys [][]string
	bySig := make(map[string]int)
	for _, key := range full {
		bk := b.buckets[key]
		ids := bk.ids[:b.max]
		sig := strings.Join(ids, "\x00")
		if i, ok := bySig[sig]; ok {
			calls[i].Tags = append(calls[i].Tags, bk.tags...)
			keys[i] = append(keys[i], key)
			continue
		}
		bySig[sig] = len(calls)
		calls = append(calls, TagCall{Tags: slices.Clone(bk.tags), IDs: slices.Clone(ids)})
		keys = append(keys, []string{key})
	}
	for i := range calls {
		slices.Sort(calls[i].Tags)
		for _, key := range keys[i] {
			b.takeBucket(key, calls[i].IDs)
		}
		b.wait(&calls[i])
	}
	return append(linked, calls...)
}

// addLink puts the intent's contact in its business's bucket, and returns
// the request that fills, if it does. A contact still waiting for another
// business leaves that one: the later row wins, as it would one by one,
// and the earlier intents wait for the later request instead. Call with
// the lock held.
func (b *TagBatcher) addLink(in *TagIntent) []TagCall {
	id, bid := in.ContactID, in.Business
	if prev, ok := b.bizOf[id]; ok && prev != bid {
		b.takeLinks(prev, []string{id})
		from, to := [2]string{prev, id}, [2]string{bid, id}
		b.linking[to] = append(b.linking[to], b.linking[from]...)
		delete(b.linking, from)
	}
	pair := [2]string{bid, id}
	b.linking[pair] = append(b.linking[pair], in)
	bk := b.biz[bid]
	if bk == nil {
		bk = &tagBucket{has: make(map[string]bool)}
		b.biz[bid] = bk
		b.bizOrder = append(b.bizOrder, bid)
	}
	if !bk.has[id] {
		bk.has[id] = true
		bk.ids = append(bk.ids, id)
		b.bizOf[id] = bid
		b.pairs++
	}
	if len(bk.ids) < b.bizMax {
		return nil
	}
	c := TagCall{Business: bid, IDs: slices.Clone(bk.ids[:b.bizMax])}
	b.takeLinks(bid, c.IDs)
	b.waitLink(&c)
	return []TagCall{c}
}

// takeLinks takes ids out of the business's bucket. Call with the lock
// held.
func (b *TagBatcher) takeLinks(bid string, ids []string) {
	bk := b.biz[bid]
	for _, id := range ids {
		if bk.has[id] {
			delete(bk.has, id)
			delete(b.bizOf, id)
			b.pairs--
		}
	}
	bk.ids = slices.DeleteFunc(bk.ids, func(id string) bool { return !bk.has[id] })
	if len(bk.ids) == 0 {
		delete(b.biz, bid)
		b.bizOrder = slices.DeleteFunc(b.bizOrder, func(x string) bool { return x == bid })
	}
}

// waitLink moves the intents waiting on the call's (business, contact)
// pairs to it.
func (b *TagBatcher) waitLink(c *TagCall) {
	for _, id := range c.IDs {
		pair := [2]string{c.Business, id}
		c.waiters = append(c.waiters, b.linking[pair]...)
		delete(b.linking, pair)
	}
}

// takeBucket takes ids out of the bucket key.
func (b *TagBatcher) takeBucket(key string, ids []string) {
	bk := b.buckets[key]
	for _, id := range ids {
		if bk.has[id] {
			delete(bk.has, id)
			b.pairs -= len(bk.tags)
		}
	}
	bk.ids = slices.DeleteFunc(bk.ids, func(id string) bool { return !bk.has[id] })
	if len(bk.ids) == 0 {
		delete(b.buckets, key)
		b.order = slices.DeleteFunc(b.order, func(x string) bool { return x == key })
	}
}

// wait moves the intents waiting on the call's (tag, contact) pairs to it.
func (b *TagBatcher) wait(c *TagCall) {
	for _, t := range c.Tags {
		for _, id := range c.IDs {
			pair := [2]string{t, id}
			c.waiters = append(c.waiters, b.waiting[pair]...)
			delete(b.waiting, pair)
		}
	}
}

// Drain returns requests for everything pending: each business's
// contacts chunked to bizMax, then the tags in the fewer of two
// groupings: one request per set of contacts that need exactly the same
// tags, or one per block of tags that exactly the same contacts need, each
// chunked to max contacts.
func (b *TagBatcher) Drain() []TagCall {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.drain()
}

func (b *TagBatcher) drain() []TagCall {
	links := b.drainLinks()
	return append(links, b.drainTags()...)
}

// drainLinks returns a request per bizMax contacts of each business
// pending, in the order the businesses were first seen.
func (b *TagBatcher) drainLinks() []TagCall {
	var calls []TagCall
	for _, bid := range b.bizOrder {
		for part := range slices.Chunk(b.biz[bid].ids, b.bizMax) {
			c := TagCall{Business: bid, IDs: slices.Clone(part)}
			b.waitLink(&c)
			b.pairs -= len(part)
			calls = append(calls, c)
		}
	}
	b.biz = make(map[string]*tagBucket)
	b.bizOrder = nil
	b.bizOf = make(map[string]string)
	return calls
}

func (b *TagBatcher) drainTags() []TagCall {
	if b.pairs == 0 {
		return nil
	}
	// What each tag still needs, in first-seen order.
	var tagOrder []string
	byTag := make(map[string][]string)
	hasTag := make(map[[2]string]bool)
	for _, key := range b.order {
		bk := b.buckets[key]
		for _, t := range bk.tags {
			for _, id := range bk.ids {
				if hasTag[[2]string{t, id}] {
					continue
				}
				hasTag[[2]string{t, id}] = true
				if byTag[t] == nil {
					tagOrder = append(tagOrder, t)
				}
				byTag[t] = append(byTag[t], id)
			}
		}
	}
	// By block: tags needed by exactly the same contacts.
	var byBlock []TagCall
	blocks := make(map[string]int)
	for _, t := range tagOrder {
		ids := slices.Clone(byTag[t])
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
	for _, t := range tagOrder {
		for _, id := range byTag[t] {
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
		b.wait(&calls[i])
	}
	b.buckets = make(map[string]*tagBucket)
	b.order = nil
	b.pairs = 0
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

// Pending is the number of (tag, contact) and (business, contact) pairs
// waiting.
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

// Defaults of the TagClassifier.
const (
	// tagWindow is how many rows with tags decide which tags are common.
	tagWindow = 1000
	// commonShare is the share of those rows a common tag is on (1%: a tag
	// on one row in 200 is not common, a stage of five is).
	commonShare = 0.01
	// maxCommon bounds the common tags: their combinations are buckets,
	// and too many combinations leave every bucket half empty.
	maxCommon = 8
)

// TagClassifier picks the common tags (TagIntent.Common) from the first
// rows with tags, in input order, and then keeps them: the run and the
// planner classify the same rows alike, whatever order the rows are
// written in. Not safe for concurrent use (the run's reader calls it).
type TagClassifier struct {
	seen   int
	counts map[string]int
	common map[string]bool // nil until the window is full
}

// Chosen is the common tags once they are chosen (what Observe returns
// from then on, whatever the tags): a caller skips normalising tags that
// no longer count.
func (c *TagClassifier) Chosen() (map[string]bool, bool) { return c.common, c.common != nil }

// Observe counts the next row's tags (normalised) and returns the common
// tags as they stand for it: none until tagWindow rows with tags were seen.
// The map returned is shared; callers must not change it.
func (c *TagClassifier) Observe(tags []string) map[string]bool {
	if c.common != nil || len(tags) == 0 {
		return c.common
	}
	if c.counts == nil {
		c.counts = make(map[string]int)
	}
	for _, t := range tags {
		c.counts[t]++
	}
	if c.seen++; c.seen < tagWindow {
		return nil
	}
	var cands []string
	for t, n := range c.counts {
		if float64(n) >= commonShare*float64(c.seen) {
			cands = append(cands, t)
		}
	}
	slices.SortFunc(cands, func(a, b string) int {
		if d := c.counts[b] - c.counts[a]; d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	c.common = make(map[string]bool, maxCommon)
	for _, t := range cands[:min(len(cands), maxCommon)] {
		c.common[t] = true
	}
	c.counts = nil
	return nil // this row was counted before the choice: as before it
}
