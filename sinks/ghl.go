package sinks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/ghl/pace"
	"github.com/ghlbulk/ghlbulk/record"
)

// GHLOptions configures the GHL sink.
type GHLOptions struct {
	// LocationID is set on every upsert that has none.
	LocationID string
	// Policy is the retry policy of each call; zero means pace.DefaultPolicy.
	Policy pace.Policy
	// BulkTagMax is the most contacts per bulk tag request (the API does
	// not document its limit); 0 means 100.
	BulkTagMax int
	// MappingFaultAfter is how many rows in a row may fail with the same
	// 422 message before the run stops as a mapping fault; 0 means 5.
	MappingFaultAfter int
	// Journal records each note and task around its create request (the
	// run's checkpoint store); required.
	Journal record.Journal
	// Sources keeps the notes and tasks a contacts mapping writes in step
	// with their rows (record.ContactItemIdentity); nil: the Journal's, if
	// it keeps them too (the checkpoint store does). Required for a row
	// with notes or tasks.
	Sources record.Sources
}

// GHL writes rows to HighLevel: POST /contacts/upsert for each row (never
// with tags, which would replace the contact's tags), then the tags the
// rows add, grouped into bulk requests by tag set, then each row's notes
// and tasks, kept in step with the row (writeRelated): each created once
// (a journal entry is written before a create and after it, and a create
// whose outcome is unknown is looked up before it is sent again), then
// updated when the row's item changes and deleted by its deleted:. It is the engine's pipeline.Sink and pipeline.TagWriter, and
// is safe for concurrent use.
type GHL struct {
	c   *ghl.Client
	opt GHLOptions

	mu        sync.Mutex
	streakMsg string // the last 422 message met on an upsert; guarded by mu
	streak    int    // how many rows in a row failed with it; guarded by mu

	// made is the contact id written this run for each match key that the
	// upsert can't match on (a source key: "key:..."), so that a second
	// row with that key updates the contact rather than creating another.
	made sync.Map
}

// confirmAttempts is how many times a write refused with a 4xx (other than
// 401, 403, 404, 429) is sent in all before the row is rejected. A 4xx on
// a write is not proof that nothing was written: the API has applied a
// write and still answered 422. Sending the write again is safe: the upsert
// and tag calls are idempotent, and a note or task is looked up before it
// is sent again.
const confirmAttempts = 3

// NewGHL returns a sink writing through c (whose http.Client carries auth
// and pacing).
func NewGHL(c *ghl.Client, opt GHLOptions) *GHL {
	if opt.Policy == (pace.Policy{}) {
		opt.Policy = pace.DefaultPolicy()
	}
	if opt.BulkTagMax <= 0 {
		opt.BulkTagMax = 100
	}
	if opt.MappingFaultAfter <= 0 {
		opt.MappingFaultAfter = 5
	}
	if src, ok := opt.Journal.(record.Sources); ok && opt.Sources == nil {
		opt.Sources = src
	}
	return &GHL{c: c, opt: opt}
}

// Write writes one row: its upsert (never with tags, which would replace
// the contact's tags), then its notes and tasks. The tags the contact lacks
// are left in the outcome for the run to add in bulk (AddTags). The error
// is a run-level fault only; the outcome is then StatusUnknown.
func (s *GHL) Write(ctx context.Context, m record.Meter, it record.Item) (record.Outcome, error) {
	if s.opt.Journal == nil {
		return record.Outcome{}, errors.New("ghl sink: a journal is required (GHLOptions.Journal)")
	}
	m = meterOr(m)
	resp, err := s.upsert(ctx, m, it)
	if err != nil {
		return s.refused(err)
	}
	s.reset422()
	out := record.Outcome{ContactID: resp.Contact.ID, Tags: missingTags(it.Row.Tags, resp.Contact.Tags)}
	reason, err := s.writeRelated(ctx, m, it.Row, out.ContactID, !resp.New)
	switch {
	case err != nil:
		return record.Outcome{}, err
	case reason != "":
		out.Status, out.Reason = record.StatusRejected, reason
	case resp.New:
		out.Status = record.StatusCreated
	default:
		out.Status = record.StatusUpdated
	}
	return out, nil
}

// refused is the outcome of a row whose upsert failed: its reject, or the
// run's fault (one the API gave, or the same 422 on row after row).
func (s *GHL) refused(err error) (record.Outcome, error) {
	reason, fault := s.judge(err, true)
	if fault != nil {
		return record.Outcome{}, fault
	}
	if fault := s.count422(err); fault != nil {
		return record.Outcome{}, fault
	}
	return record.Rejected(reason), nil
}

// missingTags is want less have, normalised (record.NormTags).
func missingTags(want, have []string) []string {
	has := record.NormTags(have)
	return slices.DeleteFunc(record.NormTags(want), func(t string) bool {
		_, found := slices.BinarySearch(has, t)
		return found
	})
}

// call runs fn through pace.Retry, counted under kind.
func (s *GHL) call(ctx context.Context, m record.Meter, kind string, fn func(context.Context) error) error {
	m.RequestKind(kind)
	return pace.Retry(ctx, s.opt.Policy, m, fn)
}

// callWrite is call for a write that is safe to send again (idempotent, or
// fn looks up what an earlier attempt may have done): a refusal that would
// reject the row is sent again, up to confirmAttempts in all, before it is
// believed.
func (s *GHL) callWrite(ctx context.Context, m record.Meter, kind string, fn func(context.Context) error) error {
	var err error
	for attempt := range confirmAttempts {
		if attempt > 0 {
			m.Retry()
		}
		if err = s.call(ctx, m, kind, fn); !rowRefusal(err) {
			return err
		}
	}
	return err
}

// rowRefusal reports a 4xx that judge would make a row's reject.
func rowRefusal(err error) bool {
	var ae *ghl.APIError
	if err == nil || !errors.As(err, &ae) {
		return false
	}
	switch code := ae.StatusCode; {
	case code == http.StatusUnauthorized, code == http.StatusForbidden, code == http.StatusNotFound, code == http.StatusTooManyRequests:
		return false
	case code >= 400 && code < 500:
		return true
	}
	return false
}

// matchable reports a match key the upsert itself matches on.
func matchable(key string) bool {
	return strings.HasPrefix(key, "email:") || strings.HasPrefix(key, "phone:")
}

// upsert writes a row's contact: POST /contacts/upsert, or, for a key the
// upsert can't match on, an update of the contact the key was written to.
func (s *GHL) upsert(ctx context.Context, m record.Meter, it record.Item) (*ghl.UpsertContactResponse, error) {
	req := it.Row.Contact
	if req.LocationID == "" {
		req.LocationID = s.opt.LocationID
	}
	req.Tags = nil // tags in an upsert replace all of the contact's tags
	key := it.Row.Key
	if !matchable(key) {
		if resp, handled, err := s.updateKnown(ctx, m, it, req); handled {
			return resp, err
		}
	}
	resp, err := s.sendUpsert(ctx, m, req, it.Since)
	if err == nil && !matchable(key) && key != "" {
		s.made.Store(key, resp.Contact.ID)
	}
	return resp, err
}

// updateKnown writes a row with no email or phone (the upsert can't find
// its contact, and would create it again) to the contact its key was
// written to, by this run or an earlier one (Item.Known). handled is false
// when no contact is known, or the one known was deleted since: the row is
// then upserted, which creates it again.
func (s *GHL) updateKnown(ctx context.Context, m record.Meter, it record.Item, req ghl.UpsertContactRequest) (resp *ghl.UpsertContactResponse, handled bool, err error) {
	known := it.Known
	if v, ok := s.made.Load(it.Row.Key); ok {
		known = v.(string)
	}
	if known == "" {
		return nil, false, nil
	}
	resp, err = s.update(ctx, m, known, req)
	if err == nil || !rowRefusal(err) || !strings.Contains(strings.ToLower(err.Error()), "not found") {
		return resp, true, err
	}
	return nil, false, nil // deleted since: create it again
}

// sendUpsert sends POST /contacts/upsert, confirming a refusal (callWrite).
// A contact it finds that was added since an attempt at this row may have
// been applied unheard (by this call, or, since is set, by a run that was
// stopped) counts as new: this run created it.
func (s *GHL) sendUpsert(ctx context.Context, m record.Meter, req ghl.UpsertContactRequest, since time.Time) (*ghl.UpsertContactResponse, error) {
	var resp *ghl.UpsertContactResponse
	// unsure is set once an attempt may have been applied without this
	// run hearing of it (the answer was lost, or a 422 that the API sends
	// after a write): a later attempt then finds the contact an earlier
	// one created, and answers new: false.
	unsure := false
	sent := time.Now()
	err := s.callWrite(ctx, m, "upsert", func(ctx context.Context) error {
		r, err := s.c.UpsertContact(ctx, req)
		if err != nil {
			if pace.IsUnknownOutcome(err) || rowRefusal(err) {
				unsure = true
			}
			return err
		}
		if r.Contact.ID == "" {
			return &ghl.DecodeError{Method: http.MethodPost, Path: "/contacts/upsert", StatusCode: 200, Err: errors.New("answer has no contact id")}
		}
		resp = r
		return nil
	})
	if err == nil && !resp.New && ((unsure && addedSince(resp.Contact.DateAdded, sent.Add(-time.Second))) ||
		(!since.IsZero() && addedSince(resp.Contact.DateAdded, since))) {
		resp.New = true
	}
	return resp, err
}

// addedSince reports a contact added (dateAdded, RFC 3339) at or after
// since: one that an earlier attempt of this row made, when an attempt may
// have been applied unheard. Counting it as created puts the run tag on it
// and lets undo delete it, so the bounds err towards leaving a contact
// alone: the run's start exactly, and a second before the attempt (for
// the API's milliseconds and clock). A clock behind this one by more
// leaves a contact the run made out of undo; only one ahead by more could
// hand undo a contact somebody else created with this row's email or
// phone in those seconds.
func addedSince(dateAdded string, since time.Time) bool {
	t, err := time.Parse(time.RFC3339Nano, dateAdded)
	return err == nil && !t.Before(since)
}

// update writes a contact known by id (PUT /contacts/{id}), answering as
// an upsert that found it.
func (s *GHL) update(ctx context.Context, m record.Meter, id string, req ghl.UpsertContactRequest) (*ghl.UpsertContactResponse, error) {
	var resp *ghl.UpsertContactResponse
	err := s.callWrite(ctx, m, "update", func(ctx context.Context) error {
		c, err := s.c.UpdateContact(ctx, id, req)
		if err != nil {
			return err
		}
		if c.ID == "" {
			c.ID = id
		}
		resp = &ghl.UpsertContactResponse{Contact: *c}
		return nil
	})
	return resp, err
}

// judge sorts an error into a row's reject reason or a run-level fault.
// onLocation is true for calls where a 404 means the location (or the
// endpoint) is missing, not one contact.
func (s *GHL) judge(err error, onLocation bool) (reason string, fault error) {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, pace.ErrDailyQuota) {
		return "", err
	}
	var ae *ghl.APIError
	if !errors.As(err, &ae) {
		return "", &record.FaultError{Kind: record.FaultAPI, Err: err, Hint: "the state is kept: run the same command again to resume"}
	}
	switch code := ae.StatusCode; {
	case code == http.StatusUnauthorized:
		return "", &record.FaultError{Kind: record.FaultAuth, Err: err, Hint: "the token was refused: check GHL_TOKEN, or run ghlbulk auth login"}
	case code == http.StatusForbidden:
		return "", &record.FaultError{Kind: record.FaultScope, Err: err, Hint: "the token lacks the contacts.write scope or access to this location"}
	case code == http.StatusNotFound && onLocation:
		return "", &record.FaultError{Kind: record.FaultLocation, Err: err, Hint: "check --location / GHL_LOCATION_ID and --api-url"}
	case code == http.StatusTooManyRequests, code >= 500:
		return "", &record.FaultError{Kind: record.FaultAPI, Err: err, Hint: "the state is kept: run the same command again to resume"}
	case code >= 400:
		return rejectReason(ae), nil
	}
	return "", &record.FaultError{Kind: record.FaultAPI, Err: err}
}

// rejectReason reads `422 Unprocessable Entity: email must be an email
// (POST /contacts/upsert)`.
func rejectReason(ae *ghl.APIError) string {
	msg := fmt.Sprintf("%d %s", ae.StatusCode, http.StatusText(ae.StatusCode))
	if ae.Message != "" {
		msg += ": " + ae.Message
	}
	return msg + " (" + ae.Method + " " + ae.Path + ")"
}

// count422 tracks rows failing with the same 422 one after another: the
// same complaint on MappingFaultAfter rows in a row is the mapping's fault,
// not the rows', and stops the run.
func (s *GHL) count422(err error) error {
	var ae *ghl.APIError
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusUnprocessableEntity {
		s.reset422()
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ae.Message == s.streakMsg {
		s.streak++
	} else {
		s.streakMsg, s.streak = ae.Message, 1
	}
	if s.streak >= s.opt.MappingFaultAfter {
		return &record.FaultError{
			Kind: record.FaultMapping,
			Err:  fmt.Errorf("%d rows in a row refused with %q: %w", s.streak, ae.Message, err),
			Hint: "the mapping is probably wrong; fix it, check it with ghlbulk validate --online, and run again",
		}
	}
	return nil
}

func (s *GHL) reset422() {
	s.mu.Lock()
	s.streakMsg, s.streak = "", 0
	s.mu.Unlock()
}

// AddTags adds tags to the contacts ids in one bulk request; contacts it
// fails for (the whole request refused with a 4xx, or an error for some in
// its answer) are tried one by one, which names the contact it fails for:
// those are refused, with the reason. It implements pipeline.TagWriter.
func (s *GHL) AddTags(ctx context.Context, m record.Meter, tags, ids []string) (map[string]string, error) {
	m = meterOr(m)
	var resp *ghl.BulkTagsResponse
	err := s.call(ctx, m, "bulk_tags", func(ctx context.Context) error {
		m.TagCall()
		r, err := s.c.BulkTags(ctx, "add", ghl.BulkTagsRequest{Contacts: ids, Tags: tags, LocationID: s.opt.LocationID})
		resp = r
		return err
	})
	retry := ids
	if err == nil {
		retry = nil
		for _, r := range resp.Responses {
			if r.Type == "error" && slices.Contains(ids, r.ContactID) && !slices.Contains(retry, r.ContactID) {
				retry = append(retry, r.ContactID)
			}
		}
	} else if _, fault := s.judge(err, false); fault != nil {
		return nil, fault
	}
	refused := make(map[string]string)
	for _, id := range retry {
		err := s.callWrite(ctx, m, "tags", func(ctx context.Context) error {
			m.TagCall()
			_, err := s.c.AddTags(ctx, id, tags)
			return err
		})
		if err != nil {
			reason, fault := s.judge(err, false)
			if fault != nil {
				return nil, fault
			}
			refused[id] = "tags: " + reason
		}
	}
	return refused, nil
}

// remote is a note or a task as listed, reduced to what identifies it.
type remote struct {
	id      string
	content string
}

// relatedRec is one note or task to write.
type relatedRec struct {
	kind    string
	n       int    // 1-based, for messages
	content string // what identifies it remotely (body, or title+body)
	hash    string
	create  func(ctx context.Context) (string, error)
	list    func(ctx context.Context) ([]remote, error)
}

// writeRelated keeps a row's notes and tasks on contact id in step with
// it, as sinks.Related keeps a notes or tasks file's rows with a
// source_key: each item is known by the contact's source key and its
// position in the mapping (ContactItems) in the source journal, created
// once, updated (PUT) when its content changes, deleted when its deleted:
// holds; one an earlier ghlbulk journaled by content is taken over. When
// the contact existed before this row (existed), an item the journals do
// not know is looked up first: the contact may have it from an import
// whose state is gone (--restart, another --state, a lost file), and it
// is not sent twice. A refusal is the row's reject reason; err is a fault.
func (s *GHL) writeRelated(ctx context.Context, m record.Meter, rec *record.Row, id string, existed bool) (reason string, err error) {
	items := ContactItems(rec, id)
	if len(items) == 0 {
		return "", nil
	}
	if s.opt.Sources == nil {
		return "", errors.New("ghl sink: a source journal is required for notes and tasks (GHLOptions.Sources)")
	}
	key := rec.SourceKey
	if key == "" {
		key = rec.Key
	}
	w := &sourceWrite{r: &Related{s: s, lookup: existed, src: s.opt.Sources}, m: m, rec: rec, contactID: id, sourceKey: key,
		kinds: []string{record.KindNote, record.KindTask}}
	if w.journal, err = s.journalOf(ctx, rec.Key); err != nil {
		return "", err
	}
	w.claimed = claimsOf(w.journal)
	recs := relatedOf(s.c, id, rec, func(any) string { return "" }, w.claimed.unclaimed)
	for i, it := range items {
		var sb relatedRec
		if i < len(recs) {
			sb = recs[i]
		}
		if reason, err := w.item(ctx, it, sb); reason != "" || err != nil {
			return reason, err
		}
	}
	return "", nil
}

// journalOf is the journal's entries for a contact key, by their JournalKey.
func (s *GHL) journalOf(ctx context.Context, key string) (map[string]record.RelatedEntry, error) {
	entries, err := s.opt.Journal.RelatedOf(ctx, key)
	if err != nil {
		return nil, &record.FaultError{Kind: record.FaultState, Err: err}
	}
	journal := make(map[string]record.RelatedEntry, len(entries))
	for _, e := range entries {
		journal[e.JournalKey()] = e
	}
	return journal, nil
}

// mark writes a journal entry; failing to is the run's fault.
func (s *GHL) mark(ctx context.Context, ref record.RelatedRef, state, remoteID string) error {
	if err := s.opt.Journal.MarkRelated(ctx, ref, state, remoteID); err != nil {
		return &record.FaultError{Kind: record.FaultState, Err: err}
	}
	return nil
}

// relatedOf is a row's notes then its tasks, to write on contact id. hash
// identifies each in the journal; keep, if set, filters what a lookup
// lists (the remote ones that may be taken for this row's).
func relatedOf(c *ghl.Client, id string, rec *record.Row, hash func(in any) string, keep func([]remote) []remote) []relatedRec {
	if keep == nil {
		keep = func(list []remote) []remote { return list }
	}
	var out []relatedRec
	for i, n := range rec.Notes {
		in := n
		out = append(out, relatedRec{
			kind: record.KindNote, n: i + 1, content: noteContent(in.Body), hash: hash(in),
			create: func(ctx context.Context) (string, error) {
				got, err := c.CreateNote(ctx, id, in)
				if err != nil {
					return "", err
				}
				return got.ID, nil
			},
			list: func(ctx context.Context) ([]remote, error) {
				ns, err := c.ListNotes(ctx, id)
				out := make([]remote, len(ns))
				for i, n := range ns {
					out[i] = remote{id: n.ID, content: noteContent(n.Body)}
				}
				return keep(out), err
			},
		})
	}
	for i, t := range rec.Tasks {
		in := t
		out = append(out, relatedRec{
			kind: record.KindTask, n: i + 1, content: taskContent(in.Title, in.Body), hash: hash(in),
			create: func(ctx context.Context) (string, error) {
				got, err := c.CreateTask(ctx, id, in)
				if err != nil {
					return "", err
				}
				return got.ID, nil
			},
			list: func(ctx context.Context) ([]remote, error) {
				ts, err := c.ListTasks(ctx, id)
				out := make([]remote, len(ts))
				for i, t := range ts {
					out[i] = remote{id: t.ID, content: taskContent(t.Title, t.Body)}
				}
				return keep(out), err
			},
		})
	}
	return out
}

// sendRelated creates one note or task unless it is found to exist already:
// first when the journal says it may have been sent by a run that was
// killed (pending) or the contact may have it from elsewhere (lookup),
// then before every attempt that follows an attempt with an unknown
// outcome (a dropped connection, or a 4xx: the API has created and still
// answered 422).
func (s *GHL) sendRelated(ctx context.Context, m record.Meter, sb relatedRec, seq int, pending, lookup bool, mark marker) (string, error) {
	find := func(ctx context.Context) (string, bool, error) {
		m.RequestKind("list_" + sb.kind + "s")
		list, err := sb.list(ctx)
		if err != nil {
			return "", false, err
		}
		var match []string
		for _, r := range list {
			if r.content == sb.content {
				match = append(match, r.id)
			}
		}
		if len(match) > seq {
			return match[seq], true, nil
		}
		return "", false, nil
	}
	if !pending {
		if err := mark(ctx, record.RelatedPending, "", false); err != nil {
			return "", err
		}
	}
	// unsure is set while an earlier attempt (in this run or a killed
	// one) may have created it: then it is looked up before it is sent.
	// It stays set until a lookup succeeds, however many attempts fail.
	unsure := pending || lookup
	var id string
	// created: this run made it; sent: an attempt of this call may have
	// (so one found afterwards is this run's too).
	var created, sent bool
	err := s.callWrite(ctx, m, sb.kind, func(ctx context.Context) error {
		if unsure {
			got, found, err := find(ctx)
			if err != nil {
				return err
			}
			if found {
				id, created = got, sent
				return nil
			}
			unsure = false
			// The create is a second HTTP request in the attempt
			// pace.Retry counts as one.
			m.Request()
		}
		sent = true
		got, err := sb.create(ctx)
		if err != nil {
			if pace.IsUnknownOutcome(err) || rowRefusal(err) {
				unsure = true
			}
			return err
		}
		id, created = got, true
		switch sb.kind {
		case record.KindNote:
			m.NoteCreated()
		case record.KindTask:
			m.TaskCreated()
		}
		return nil
	})
	if err == nil && (created || pending) {
		// This run made it (or an attempt of this run's did: found after
		// a pending mark, or after an attempt whose answer was lost): the
		// record ghlbulk undo reads.
		if err := mark(ctx, record.RelatedDone, id, true); err != nil {
			return "", err
		}
	}
	return id, err
}

// marker journals a note or task around its create request: state
// record.RelatedPending before it, record.RelatedDone with its id after
// (created: this run's request made it, for ghlbulk undo).
type marker func(ctx context.Context, state, remoteID string, created bool) error

// subsMarker journals in the content journal (record.Journal) under ref.
func (s *GHL) subsMarker(ref record.RelatedRef) marker {
	return func(ctx context.Context, state, remoteID string, created bool) error {
		ref.Created = created
		return s.mark(ctx, ref, state, remoteID)
	}
}

// noteContent is what identifies a note when it is looked up.
func noteContent(body string) string { return strings.TrimSpace(body) }

// taskContent is what identifies a task when it is looked up (the due
// date is left out: the API may write it back in another format).
func taskContent(title, body string) string {
	return strings.TrimSpace(title) + "\x00" + strings.TrimSpace(body)
}

// ContentHash identifies a note or task input in the journal.
func ContentHash(v any) string {
	b, _ := json.Marshal(v)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// nopMeter counts nothing: for a caller that passes no Meter.
type nopMeter struct{}

func (nopMeter) Request()           {}
func (nopMeter) Retry()             {}
func (nopMeter) Throttled()         {}
func (nopMeter) RequestKind(string) {}
func (nopMeter) TagCall()           {}
func (nopMeter) NoteCreated()       {}
func (nopMeter) TaskCreated()       {}

func meterOr(m record.Meter) record.Meter {
	if m == nil {
		return nopMeter{}
	}
	return m
}
