package ghl

import (
	"context"
	"net/http"
)

type noteEnvelope struct {
	Note *Note `json:"note"`
}

func (e noteEnvelope) note(method, path string, status int) (*Note, error) {
	if e.Note == nil {
		return nil, &DecodeError{Method: method, Path: path, StatusCode: status, Err: errMissing("note")}
	}
	return e.Note, nil
}

func notePath(contactID, noteID string) (string, error) {
	if err := requireID("contact id", contactID); err != nil {
		return "", err
	}
	p := "/contacts/" + seg(contactID) + "/notes"
	if noteID == collection {
		return p, nil
	}
	if err := requireID("note id", noteID); err != nil {
		return "", err
	}
	return p + "/" + seg(noteID), nil
}

// ListNotes is GET /contacts/{id}/notes (all of them: it doesn't page).
func (c *Client) ListNotes(ctx context.Context, contactID string) ([]Note, error) {
	path, err := notePath(contactID, collection)
	if err != nil {
		return nil, err
	}
	var out struct {
		Notes []Note `json:"notes"`
	}
	if err := c.do(ctx, http.MethodGet, path, nil, nil, &out); err != nil {
		return nil, err
	}
	if out.Notes == nil {
		out.Notes = []Note{}
	}
	return out.Notes, nil
}

// GetNote is GET /contacts/{id}/notes/{noteId}.
func (c *Client) GetNote(ctx context.Context, contactID, noteID string) (*Note, error) {
	path, err := notePath(contactID, noteID)
	if err != nil {
		return nil, err
	}
	var out noteEnvelope
	if err := c.do(ctx, http.MethodGet, path, nil, nil, &out); err != nil {
		return nil, err
	}
	return out.note(http.MethodGet, path, http.StatusOK)
}

// CreateNote is POST /contacts/{id}/notes.
func (c *Client) CreateNote(ctx context.Context, contactID string, in NoteInput) (*Note, error) {
	path, err := notePath(contactID, collection)
	if err != nil {
		return nil, err
	}
	var out noteEnvelope
	if err := c.do(ctx, http.MethodPost, path, nil, in, &out); err != nil {
		return nil, err
	}
	return out.note(http.MethodPost, path, http.StatusCreated)
}

// UpdateNote is PUT /contacts/{id}/notes/{noteId}.
func (c *Client) UpdateNote(ctx context.Context, contactID, noteID string, in NoteInput) (*Note, error) {
	path, err := notePath(contactID, noteID)
	if err != nil {
		return nil, err
	}
	var out noteEnvelope
	if err := c.do(ctx, http.MethodPut, path, nil, in, &out); err != nil {
		return nil, err
	}
	return out.note(http.MethodPut, path, http.StatusOK)
}

// DeleteNote is DELETE /contacts/{id}/notes/{noteId}.
func (c *Client) DeleteNote(ctx context.Context, contactID, noteID string) error {
	path, err := notePath(contactID, noteID)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodDelete, path, nil, nil, nil)
}
