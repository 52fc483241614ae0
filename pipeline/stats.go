package pipeline

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/ghlbulk/ghlbulk/record"
)

// Stats counts one run. Its methods are the only writers and are safe for
// concurrent use; Snapshot feeds both the --report JSON and the progress
// display. It satisfies pace.Recorder (Request, Retry, Throttled).
type Stats struct {
	start time.Time

	rowsRead, created, updated, unchanged, rejected atomic.Int64
	requests, retries, throttled                    atomic.Int64
	notesCreated, tasksCreated, tagCalls            atomic.Int64
	phonesDropped                                   atomic.Int64
	invalidPhones, invalidEmails                    atomic.Int64

	mu      sync.Mutex
	byKind  map[string]int64 // requests by kind (upsert, note, tag, ...); guarded by mu
	written map[string]int64 // export: rows written per entity; guarded by mu
}

// NewStats starts the run's clock.
func NewStats() *Stats {
	return &Stats{start: time.Now()}
}

// Read counts n rows read from the input.
func (s *Stats) Read(n int) { s.rowsRead.Add(int64(n)) }

// Created counts a contact the run created.
func (s *Stats) Created() { s.created.Add(1) }

// Updated counts a contact the run updated.
func (s *Stats) Updated() { s.updated.Add(1) }

// Unchanged counts a row that needed no write.
func (s *Stats) Unchanged() { s.unchanged.Add(1) }

// Rejected counts n rows that went to the rejects file.
func (s *Stats) Rejected(n int) { s.rejected.Add(int64(n)) }

// Demote moves a row counted as written (status record.StatusCreated or
// record.StatusUpdated) to rejected: its tags were refused after it was counted.
func (s *Stats) Demote(status string) {
	switch status {
	case record.StatusCreated:
		s.created.Add(-1)
	case record.StatusUpdated:
		s.updated.Add(-1)
	default:
		return
	}
	s.rejected.Add(1)
}

// Request counts one HTTP attempt (retries included).
func (s *Stats) Request() { s.requests.Add(1) }

// Retry counts one retried attempt.
func (s *Stats) Retry() { s.retries.Add(1) }

// Throttled counts one 429 answer.
func (s *Stats) Throttled() { s.throttled.Add(1) }

// RequestKind counts a logical API call by kind ("upsert", "note", "task",
// "tags", "list_notes", ...), whatever number of attempts it took.
func (s *Stats) RequestKind(kind string) {
	s.mu.Lock()
	if s.byKind == nil {
		s.byKind = make(map[string]int64)
	}
	s.byKind[kind]++
	s.mu.Unlock()
}

// NoteCreated counts a note the run created.
func (s *Stats) NoteCreated() { s.notesCreated.Add(1) }

// TaskCreated counts a task the run created.
func (s *Stats) TaskCreated() { s.tasksCreated.Add(1) }

// TagCall counts a request that added tags (bulk or per contact).
func (s *Stats) TagCall() { s.tagCalls.Add(1) }

// PhoneDropped counts a row let through without its phone, which belongs
// to another contact (--on-conflict drop-phone).
func (s *Stats) PhoneDropped() { s.phonesDropped.Add(1) }

// InvalidDropped counts a row kept without its invalid phone (or email):
// the mapping's invalid_phone: drop. It returns the count so far, of
// that field.
func (s *Stats) InvalidDropped(field string) int64 {
	if field == "email" {
		return s.invalidEmails.Add(1)
	}
	return s.invalidPhones.Add(1)
}

// Written counts n rows of entity written by an export.
func (s *Stats) Written(entity string, n int64) {
	s.mu.Lock()
	if s.written == nil {
		s.written = make(map[string]int64)
	}
	s.written[entity] += n
	s.mu.Unlock()
}

// Report is the --report JSON and what progress is drawn from.
type Report struct {
	RowsRead       int64            `json:"rows_read"`
	Created        int64            `json:"created"`
	Updated        int64            `json:"updated"`
	Unchanged      int64            `json:"unchanged"`
	Rejected       int64            `json:"rejected"`
	Requests       int64            `json:"requests"`
	Retries        int64            `json:"retries"`
	Throttled      int64            `json:"throttled"`
	ElapsedS       float64          `json:"elapsed_s"`
	RowsWritten    map[string]int64 `json:"rows_written,omitempty"`
	RequestsByKind map[string]int64 `json:"requests_by_kind,omitempty"`
	NotesCreated   int64            `json:"notes_created"`
	TasksCreated   int64            `json:"tasks_created"`
	TagCalls       int64            `json:"tag_calls"`
	PhonesDropped  int64            `json:"phones_dropped,omitempty"` // --on-conflict drop-phone: rows written without their phone
	// PhonesInvalid and EmailsInvalid are rows kept without an invalid
	// phone (they had a valid email) or email (they had a valid phone).
	PhonesInvalid int64 `json:"phones_dropped_invalid,omitempty"`
	EmailsInvalid int64 `json:"emails_dropped_invalid,omitempty"`
	// RelatedDeleted counts the notes or tasks --delete-missing deleted
	// (their rows gone from the input); the import sets it after the run.
	RelatedDeleted int64  `json:"related_deleted,omitempty"`
	DryRun         bool   `json:"dry_run,omitempty"`
	RunID          string `json:"run_id,omitempty"` // import: the run (ghlbulk undo --run)
	RunTag         string `json:"run_tag,omitempty"`
	RejectsFile    string `json:"rejects_file,omitempty"`
	Outcome        string `json:"outcome,omitempty"` // done, interrupted, quota, failed
	Error          string `json:"error,omitempty"`
}

// Snapshot reads the counters. Counters read while workers run may be a
// moment apart from each other; after the run they are exact.
func (s *Stats) Snapshot() Report {
	r := Report{
		RowsRead:     s.rowsRead.Load(),
		Created:      s.created.Load(),
		Updated:      s.updated.Load(),
		Unchanged:    s.unchanged.Load(),
		Rejected:     s.rejected.Load(),
		Requests:     s.requests.Load(),
		Retries:      s.retries.Load(),
		Throttled:    s.throttled.Load(),
		NotesCreated: s.notesCreated.Load(),
		TasksCreated: s.tasksCreated.Load(),
		TagCalls:     s.tagCalls.Load(),

		PhonesDropped: s.phonesDropped.Load(),
		PhonesInvalid: s.invalidPhones.Load(),
		EmailsInvalid: s.invalidEmails.Load(),
	}
	if !s.start.IsZero() {
		r.ElapsedS = time.Since(s.start).Seconds()
	}
	s.mu.Lock()
	if len(s.written) > 0 {
		r.RowsWritten = make(map[string]int64, len(s.written))
		for k, v := range s.written {
			r.RowsWritten[k] = v
		}
	}
	if len(s.byKind) > 0 {
		r.RequestsByKind = make(map[string]int64, len(s.byKind))
		for k, v := range s.byKind {
			r.RequestsByKind[k] = v
		}
	}
	s.mu.Unlock()
	return r
}

// Done is the number of rows with an outcome.
func (r Report) Done() int64 { return r.Created + r.Updated + r.Unchanged + r.Rejected }
