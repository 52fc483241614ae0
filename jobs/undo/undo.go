// Package undo takes back what one import run did: it deletes the contacts
// the run created (their notes and tasks go with them) and, when asked,
// deletes the notes and tasks it created on contacts it only updated and
// removes the tags it added to them. It reads the run's record from the
// import's state (pipeline.Store: runs, made, tags_added), is paced like
// any run, and deletes each record as it undoes it, so that a stopped undo
// resumes where it stopped.
//
// Notes and tasks a run updated or deleted (kept in step with their rows'
// source_key) are not restored either: it counts them (Result.NotUndone).
// Field values an update changed are not restored: the upsert answers with
// the contact as written, not as it was, and reading every contact before
// writing it would double an import's requests.
//
// Floor 4 (docs/design.md): imports the engine and the floors below it, never the command line.
package undo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/ghl/pace"
	"github.com/ghlbulk/ghlbulk/internal/fanout"
	"github.com/ghlbulk/ghlbulk/pipeline"
	records "github.com/ghlbulk/ghlbulk/record" // the package; record is undo's own type here
)

// Config is one undo.
type Config struct {
	Client     *ghl.Client // its http.Client carries auth and pacing
	Store      *pipeline.Store
	RunID      string
	LocationID string
	// Updated also undoes what the run did to contacts it did not create:
	// its notes and tasks are deleted and the tags it added removed.
	Updated bool
	// DryRun counts what would be undone and sends no write.
	DryRun  bool
	Workers int // requests in flight (0: pipeline.DefaultWorkers)
	Policy  pace.Policy
	Stats   *pipeline.Stats
	Log     *slog.Logger
}

// Result is what an undo did (or, in a dry run, would do).
type Result struct {
	Run             pipeline.Run
	ContactsDeleted int64 `json:"contacts_deleted"`
	NotesDeleted    int64 `json:"notes_deleted"`
	TasksDeleted    int64 `json:"tasks_deleted"`
	TagsRemoved     int64 `json:"tags_removed"` // (contact, tag) pairs
	// Skipped are created contacts that no longer carry the run tag: they
	// are left alone (someone may have taken them over), and listed.
	Skipped []string `json:"skipped,omitempty"`
	// LeftOnUpdated counts the notes, tasks and tags on contacts the run
	// only updated, left because Updated was not set.
	LeftOnUpdated int64 `json:"left_on_updated"`
	// NotUndone counts the notes and tasks the run updated or deleted
	// (rows kept in step with their source_key): undo can't take those
	// back (what they held before is not kept).
	NotUndone int64 `json:"not_undone"`
}

// Run undoes cfg.RunID.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = pipeline.DefaultWorkers
	}
	if cfg.Policy == (pace.Policy{}) {
		cfg.Policy = pace.DefaultPolicy()
	}
	if cfg.Stats == nil {
		cfg.Stats = pipeline.NewStats()
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	u := &undoer{cfg: cfg}
	run, err := cfg.Store.RunByID(ctx, cfg.RunID)
	if err != nil {
		return Result{}, err
	}
	u.res.Run = run
	made, err := u.made(ctx)
	if err != nil {
		return u.res, err
	}
	created := make(map[string]bool)
	var onUpdated []pipeline.Made
	for _, r := range made {
		if r.Kind == "contact" {
			created[r.ID] = true
		}
	}
	for _, r := range made {
		if r.Kind != "contact" && !created[r.ContactID] {
			onUpdated = append(onUpdated, r)
		}
	}
	changed, err := cfg.Store.ChangedBy(ctx, cfg.RunID)
	if err != nil {
		return u.res, err
	}
	u.res.NotUndone = int64(len(changed))
	tags, err := u.tagsAdded(ctx, created)
	if err != nil {
		return u.res, err
	}
	if err := u.contacts(ctx, created); err != nil {
		return u.res, err
	}
	if !cfg.Updated {
		u.res.LeftOnUpdated = int64(len(onUpdated))
		for _, ids := range tags {
			u.res.LeftOnUpdated += int64(len(ids))
		}
		return u.res, nil
	}
	if err := u.related(ctx, onUpdated); err != nil {
		return u.res, err
	}
	return u.res, u.removeTags(ctx, tags)
}

type undoer struct {
	cfg Config
	res Result
}

// made reads the run's record of what it created.
func (u *undoer) made(ctx context.Context) ([]pipeline.Made, error) {
	return u.cfg.Store.MadeBy(ctx, u.cfg.RunID)
}

// tagsAdded reads the tags the run added to contacts it did not create,
// by tag.
func (u *undoer) tagsAdded(ctx context.Context, created map[string]bool) (map[string][]string, error) {
	added, err := u.cfg.Store.TagsAddedBy(ctx, u.cfg.RunID)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]string)
	for _, a := range added {
		if !created[a.ContactID] {
			out[a.Tag] = append(out[a.Tag], a.ContactID)
		}
	}
	return out, nil
}

// call runs one request under the retry policy, counted under kind.
func (u *undoer) call(ctx context.Context, kind string, fn func(ctx context.Context) error) error {
	u.cfg.Stats.RequestKind(kind)
	return pace.Retry(ctx, u.cfg.Policy, u.cfg.Stats, fn)
}

// gone reports an answer that says the thing is not there (any more): the
// API answers 400 "not found" for a missing contact, and 404 elsewhere.
func gone(err error) bool {
	var ae *ghl.APIError
	if !errors.As(err, &ae) {
		return false
	}
	return ae.StatusCode == http.StatusNotFound ||
		(ae.StatusCode == http.StatusBadRequest && strings.Contains(strings.ToLower(ae.Message), "not found"))
}

// contacts deletes the created contacts that still carry the run tag.
func (u *undoer) contacts(ctx context.Context, created map[string]bool) error {
	if len(created) == 0 {
		return nil
	}
	ids := make([]string, 0, len(created))
	for id := range created {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	{
		// Only what carries the run tag is deleted, or, for a run
		// without one, what was added since the run started: a second
		// check beside the record, since a deletion can't be taken back.
		tag := u.res.Run.Tag
		filter := ghl.SearchFilter{Field: "tags", Operator: "eq", Value: tag}
		if tag == "" {
			since := u.res.Run.Started.Add(-time.Second).UTC().Format("2006-01-02T15:04:05.000Z07:00")
			filter = ghl.SearchFilter{Field: "dateAdded", Operator: "range", Value: map[string]string{"gte": since}}
		}
		tagged, err := u.listed(ctx, filter)
		if err != nil {
			return err
		}
		var keep []string
		for _, id := range ids {
			if tagged[id] {
				keep = append(keep, id)
				continue
			}
			// Not listed with the tag: gone already (an undo stopped
			// between the delete and its record), or the tag was taken
			// off, and then the contact is not ours to delete.
			var err error
			if !u.cfg.DryRun {
				err = u.call(ctx, "get_contact", func(ctx context.Context) error {
					_, err := u.cfg.Client.GetContact(ctx, id)
					return err
				})
			}
			switch {
			case err == nil:
				u.res.Skipped = append(u.res.Skipped, id)
				u.cfg.Log.Warn("a contact the run created no longer carries the run tag (or was added before the run): left alone", "contact", id, "tag", tag)
			case gone(err):
				if err := u.forgetContact(ctx, id); err != nil {
					return err
				}
			default:
				return err
			}
		}
		ids = keep
	}
	var deleted atomic.Int64
	err := fanout.Each(ctx, u.cfg.Workers, ids, func(ctx context.Context, id string) error {
		if u.cfg.DryRun {
			deleted.Add(1)
			return nil
		}
		err := u.call(ctx, "delete_contact", func(ctx context.Context) error {
			return u.cfg.Client.DeleteContact(ctx, id)
		})
		if err != nil && !gone(err) {
			return err
		}
		deleted.Add(1)
		return u.forgetContact(ctx, id)
	})
	u.res.ContactsDeleted = deleted.Load()
	return err
}

// listed lists the location's contacts that pass filter (one request per
// 500).
func (u *undoer) listed(ctx context.Context, filter ghl.SearchFilter) (map[string]bool, error) {
	out := make(map[string]bool)
	req := ghl.SearchRequest{LocationID: u.cfg.LocationID, PageLimit: 500, Filters: []ghl.SearchFilter{filter}}
	for {
		var page *ghl.SearchResponse
		err := u.call(ctx, "search", func(ctx context.Context) error {
			var err error
			page, err = u.cfg.Client.SearchContacts(ctx, req)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("listing the run's contacts (%s %s): %w", filter.Field, filter.Operator, err)
		}
		for _, c := range page.Contacts {
			out[c.ID] = true
		}
		if page.Last {
			return out, nil
		}
		if len(page.Contacts) == 0 || reflect.DeepEqual(page.Next.SearchAfter, req.SearchAfter) {
			return nil, fmt.Errorf("listing the run's contacts (%s %s): %w", filter.Field, filter.Operator, ghl.ErrRepeatedCursor)
		}
		req = page.Next
	}
}

// forgetContact deletes a deleted contact from the state: the run's record
// of it and of its notes and tasks, and the import's checkpoint of the rows
// that wrote it, so that importing them again creates it again.
func (u *undoer) forgetContact(ctx context.Context, id string) error {
	return u.cfg.Store.ForgetContact(ctx, u.cfg.RunID, id)
}

// related deletes the notes and tasks the run created on contacts it did not
// create.
func (u *undoer) related(ctx context.Context, recs []pipeline.Made) error {
	var notes, tasks atomic.Int64
	err := fanout.Each(ctx, u.cfg.Workers, recs, func(ctx context.Context, r pipeline.Made) error {
		if !u.cfg.DryRun {
			err := u.call(ctx, "delete_"+r.Kind, func(ctx context.Context) error {
				if r.Kind == records.KindNote {
					return u.cfg.Client.DeleteNote(ctx, r.ContactID, r.ID)
				}
				return u.cfg.Client.DeleteTask(ctx, r.ContactID, r.ID)
			})
			if err != nil && !gone(err) {
				return err
			}
			// The import's journal forgets it too, so that importing the
			// row again writes it again.
			if err := u.cfg.Store.ForgetSub(ctx, u.cfg.RunID, r); err != nil {
				return err
			}
		}
		if r.Kind == records.KindNote {
			notes.Add(1)
		} else {
			tasks.Add(1)
		}
		return nil
	})
	u.res.NotesDeleted, u.res.TasksDeleted = notes.Load(), tasks.Load()
	return err
}

// removeTags takes the tags the run added off the contacts it did not
// create, in bulk requests of up to 100 contacts.
func (u *undoer) removeTags(ctx context.Context, byTag map[string][]string) error {
	type call struct {
		tag string
		ids []string
	}
	var calls []call
	for _, tag := range slices.Sorted(maps.Keys(byTag)) {
		for part := range slices.Chunk(byTag[tag], pipeline.DefaultBulkTagMax) {
			calls = append(calls, call{tag, part})
		}
	}
	var removed atomic.Int64
	err := fanout.Each(ctx, u.cfg.Workers, calls, func(ctx context.Context, c call) error {
		if !u.cfg.DryRun {
			err := u.call(ctx, "bulk_tags_remove", func(ctx context.Context) error {
				_, err := u.cfg.Client.BulkTags(ctx, "remove", ghl.BulkTagsRequest{Contacts: c.ids, Tags: []string{c.tag}, LocationID: u.cfg.LocationID})
				return err
			})
			if err != nil {
				return err
			}
			if err := u.cfg.Store.ForgetTags(ctx, u.cfg.RunID, c.tag, c.ids); err != nil {
				return err
			}
		}
		removed.Add(int64(len(c.ids)))
		return nil
	})
	u.res.TagsRemoved = removed.Load()
	return err
}
