package importer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/ghl/pace"
	"github.com/ghlbulk/ghlbulk/jobs/predict"
	"github.com/ghlbulk/ghlbulk/jobs/session"
	"github.com/ghlbulk/ghlbulk/pipeline"
	"github.com/ghlbulk/ghlbulk/sources"
)

// EachLocationContact lists the location's contacts (POST /contacts/search,
// 500 a page, each page retried under pace.Retry, a repeated cursor or a
// short listing an error) and hands each to fn with the total announced.
// A spent daily quota is waited out (as the session allows) and the
// listing goes on from the page it stopped at.
func EachLocationContact(ctx context.Context, s *session.Session, stats pace.Recorder, log *slog.Logger, fn func(total int, c *ghl.Contact) error) error {
	src := sources.NewGHLContacts(s.Client, sources.GHLOptions{LocationID: s.Location, Stats: stats})
	var cur sources.Cursor
	last := time.Now()
	return s.QuotaAware(ctx, func() error {
		for page, err := range src.Pages(ctx, cur) {
			if err != nil {
				return err
			}
			for i := range page.Contacts {
				if err := fn(page.Total, &page.Contacts[i]); err != nil {
					return err
				}
			}
			cur = page.Next
			if time.Since(last) >= 10*time.Second {
				last = time.Now()
				log.Info("reading the location's contacts", "read", page.Next.Seen, "of", page.Total)
			}
		}
		return nil
	})
}

// IndexContacts lists the location's contacts once into validate's index
// of their emails and phones: ceil(contacts/500) requests however long
// the input, where looking each row up would cost one or two a row.
func IndexContacts(ctx context.Context, s *session.Session, stats pace.Recorder, log *slog.Logger) (*predict.Index, error) {
	var idx *predict.Index
	start := time.Now()
	err := EachLocationContact(ctx, s, stats, log, func(total int, c *ghl.Contact) error {
		if idx == nil {
			idx = predict.NewIndex(total)
		}
		idx.Add(c.ID, c.Email, c.Phone)
		return nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, pipeline.Stopped(ctx.Err())
		}
		return nil, session.Refusal(fmt.Errorf("reading the location's contacts: %w", err))
	}
	if idx == nil {
		idx = predict.NewIndex(0)
	}
	log.Debug("location's contacts indexed", "contacts", idx.Len(), "ms", time.Since(start).Milliseconds())
	return idx, nil
}

// LocationContacts is the location's contact count (a search of one), for
// the quota plan of a run whose conflict screen lists them.
func LocationContacts(ctx context.Context, s *session.Session) (int, error) {
	var n int
	err := s.BeforeRun(ctx, func(ctx context.Context) error {
		r, err := s.Client.SearchContacts(ctx, ghl.SearchRequest{LocationID: s.Location, PageLimit: 1})
		if err == nil {
			n = r.Total
		}
		return err
	})
	return n, err
}

// CustomFields are the definitions of the custom fields a mapping uses
// (keys). Online (s not nil) they are read from the location; a token that
// may not read them and is to write (write) is first checked for
// contacts.write, the scope an import can't do without. Offline the keys
// can't be checked against the location: they are taken as text, so that
// every other rule is still judged.
func CustomFields(ctx context.Context, s *session.Session, keys []string, write bool, log *slog.Logger) ([]ghl.CustomField, error) {
	if s == nil {
		return offlineFields(keys, log), nil
	}
	var fields []ghl.CustomField
	err := s.BeforeRun(s.Context(ctx), func(ctx context.Context) (err error) {
		fields, err = s.Client.ListCustomFields(ctx, s.Location)
		return err
	})
	var st *pipeline.StoppedError
	switch {
	case err == nil:
		return fields, nil
	case errors.As(err, &st):
		return nil, err
	case write && ghl.IsForbidden(err):
		// A token this narrow most likely can't write either: say that
		// first, it is the scope an import can't do without.
		if werr := s.WriteCheck(ctx); werr != nil {
			return nil, session.Refusal(werr)
		}
	}
	return nil, session.Refusal(fmt.Errorf("reading the location's custom fields (the mapping uses %s): %w", strings.Join(keys, ", "), err))
}

func offlineFields(keys []string, log *slog.Logger) []ghl.CustomField {
	var fields []ghl.CustomField
	for _, k := range keys {
		key := k
		if !strings.HasPrefix(key, "contact.") {
			key = "contact." + key
		}
		fields = append(fields, ghl.CustomField{ID: "offline:" + key, FieldKey: key, DataType: "TEXT"})
	}
	log.Info("custom fields are checked as text offline; use --online to check them against the location", "fields", keys)
	return fields
}
