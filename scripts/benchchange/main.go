// Command benchchange makes the changes scripts/bench.sh's incremental
// export section measures: it updates one field of -contacts contacts and
// adds a note to -notes other contacts, through the API at GHL_API_URL
// with GHL_TOKEN (a sandbox's first stdout line), -workers at a time.
// The contacts are the first of the location's search order, so the same
// sandbox and flags always change the same ones.
//
//	eval "$(head -1 sb.out)"; go run ./scripts/benchchange -contacts 1000 -notes 1000
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"

	"github.com/ghlbulk/ghlbulk/ghl"
)

func main() {
	contacts := flag.Int("contacts", 0, "contacts to update (their city)")
	notes := flag.Int("notes", 0, "other contacts to give one new note")
	workers := flag.Int("workers", 8, "requests at once")
	flag.Parse()
	if err := run(*contacts, *notes, *workers); err != nil {
		fmt.Fprintln(os.Stderr, "benchchange:", err)
		os.Exit(1)
	}
}

func run(nContacts, nNotes, workers int) error {
	url, tok, loc := os.Getenv("GHL_API_URL"), os.Getenv("GHL_TOKEN"), os.Getenv("GHL_LOCATION_ID")
	if url == "" || tok == "" || loc == "" {
		return fmt.Errorf("set GHL_API_URL, GHL_TOKEN and GHL_LOCATION_ID (eval the sandbox's first stdout line)")
	}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &oauth2.Transport{
		Source: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok, TokenType: "Bearer"})}}
	c := ghl.New(url, hc)
	ctx := context.Background()
	ids, err := firstIDs(ctx, c, loc, nContacts+nNotes)
	if err != nil {
		return err
	}
	stamp := time.Now().UTC().Format(time.RFC3339Nano)
	var done atomic.Int64
	err = each(ids, workers, func(i int, id string) error {
		var err error
		if i < nContacts {
			city := "Changed " + stamp
			_, err = c.UpdateContact(ctx, id, ghl.UpdateContactRequest{City: &city})
		} else {
			_, err = c.CreateNote(ctx, id, ghl.NoteInput{Body: "bench note " + stamp})
		}
		if err == nil {
			done.Add(1)
		}
		return err
	})
	fmt.Printf("benchchange: %d contacts updated, %d notes added (%d writes)\n", min(nContacts, len(ids)), max(len(ids)-nContacts, 0), done.Load())
	return err
}

// firstIDs are the first n contact ids of the location's search order.
func firstIDs(ctx context.Context, c *ghl.Client, loc string, n int) ([]string, error) {
	var ids []string
	for page, err := range c.SearchPages(ctx, ghl.SearchRequest{LocationID: loc, PageLimit: 500}) {
		if err != nil {
			return nil, fmt.Errorf("listing contacts: %w", err)
		}
		for _, ct := range page.Contacts {
			if len(ids) == n {
				return ids, nil
			}
			ids = append(ids, ct.ID)
		}
	}
	return ids, nil
}

// each runs fn over ids, workers at a time; the first error is returned.
func each(ids []string, workers int, fn func(i int, id string) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  atomic.Int64
	)
	for range max(workers, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				mu.Lock()
				stop := first != nil
				mu.Unlock()
				if i >= len(ids) || stop {
					return
				}
				if err := fn(i, ids[i]); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return first
}
