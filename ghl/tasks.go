package ghl

import (
	"context"
	"net/http"
)

type taskEnvelope struct {
	Task *Task `json:"task"`
}

func (e taskEnvelope) task(method, path string, status int) (*Task, error) {
	if e.Task == nil {
		return nil, &DecodeError{Method: method, Path: path, StatusCode: status, Err: errMissing("task")}
	}
	return e.Task, nil
}

func taskPath(contactID, taskID string) (string, error) {
	if err := requireID("contact id", contactID); err != nil {
		return "", err
	}
	p := "/contacts/" + seg(contactID) + "/tasks"
	if taskID == collection {
		return p, nil
	}
	if err := requireID("task id", taskID); err != nil {
		return "", err
	}
	return p + "/" + seg(taskID), nil
}

// collection marks a path to a contact's task or note list rather than one
// item of it.
const collection = "\x00"

// ListTasks is GET /contacts/{id}/tasks (all of them: it doesn't page).
func (c *Client) ListTasks(ctx context.Context, contactID string) ([]Task, error) {
	path, err := taskPath(contactID, collection)
	if err != nil {
		return nil, err
	}
	var out struct {
		Tasks []Task `json:"tasks"`
	}
	if err := c.do(ctx, http.MethodGet, path, nil, nil, &out); err != nil {
		return nil, err
	}
	if out.Tasks == nil {
		out.Tasks = []Task{}
	}
	return out.Tasks, nil
}

// GetTask is GET /contacts/{id}/tasks/{taskId}.
func (c *Client) GetTask(ctx context.Context, contactID, taskID string) (*Task, error) {
	path, err := taskPath(contactID, taskID)
	if err != nil {
		return nil, err
	}
	var out taskEnvelope
	if err := c.do(ctx, http.MethodGet, path, nil, nil, &out); err != nil {
		return nil, err
	}
	return out.task(http.MethodGet, path, http.StatusOK)
}

// CreateTask is POST /contacts/{id}/tasks.
func (c *Client) CreateTask(ctx context.Context, contactID string, in TaskInput) (*Task, error) {
	path, err := taskPath(contactID, collection)
	if err != nil {
		return nil, err
	}
	var out taskEnvelope
	if err := c.do(ctx, http.MethodPost, path, nil, in, &out); err != nil {
		return nil, err
	}
	return out.task(http.MethodPost, path, http.StatusCreated)
}

// UpdateTask is PUT /contacts/{id}/tasks/{taskId}; every field of in is
// sent, so read the task first to change only some.
func (c *Client) UpdateTask(ctx context.Context, contactID, taskID string, in TaskInput) (*Task, error) {
	path, err := taskPath(contactID, taskID)
	if err != nil {
		return nil, err
	}
	var out taskEnvelope
	if err := c.do(ctx, http.MethodPut, path, nil, in, &out); err != nil {
		return nil, err
	}
	return out.task(http.MethodPut, path, http.StatusOK)
}

// CompleteTask is PUT /contacts/{id}/tasks/{taskId}/completed.
func (c *Client) CompleteTask(ctx context.Context, contactID, taskID string, completed bool) (*Task, error) {
	path, err := taskPath(contactID, taskID)
	if err != nil {
		return nil, err
	}
	path += "/completed"
	body := struct {
		Completed bool `json:"completed"`
	}{completed}
	var out taskEnvelope
	if err := c.do(ctx, http.MethodPut, path, nil, body, &out); err != nil {
		return nil, err
	}
	return out.task(http.MethodPut, path, http.StatusOK)
}

// DeleteTask is DELETE /contacts/{id}/tasks/{taskId}.
func (c *Client) DeleteTask(ctx context.Context, contactID, taskID string) error {
	path, err := taskPath(contactID, taskID)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodDelete, path, nil, nil, nil)
}
