package listen

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
)

// Summary is a run's end as --notify posts it.
type Summary struct {
	Command  string           `json:"command"` // import, export
	ExitCode int              `json:"exitCode"`
	Counts   map[string]int64 `json:"counts"`
	Rejects  string           `json:"rejectsFile,omitempty"`
	Run      string           `json:"run,omitempty"`
	Error    string           `json:"error,omitempty"`
}

// Notify posts s to relay r once (best effort: the caller warns on an
// error). Its idempotency key is the run's, or the command and the time.
func Notify(ctx context.Context, r *Relay, s Summary) error {
	key := s.Run
	if key == "" {
		key = fmt.Sprintf("%s-%d", s.Command, time.Now().UnixNano())
	}
	body, err := json.Marshal(s)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return r.Send(ctx, &http.Client{}, Message{
		Key: key + "/" + r.Name, Subject: fmt.Sprintf("ghlbulk %s finished: exit %d", s.Command, s.ExitCode),
		Text: s.text(), JSON: body,
	})
}

func (s Summary) text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ghlbulk %s finished: exit %d", s.Command, s.ExitCode)
	names := make([]string, 0, len(s.Counts))
	for k := range s.Counts {
		names = append(names, k)
	}
	sort.Strings(names)
	for i, k := range names {
		sep := ", "
		if i == 0 {
			sep = "\n"
		}
		fmt.Fprintf(&b, "%s%s %d", sep, k, s.Counts[k])
	}
	if s.Rejects != "" {
		fmt.Fprintf(&b, "\nrejects file: %s", s.Rejects)
	}
	if s.Error != "" {
		fmt.Fprintf(&b, "\nerror: %s", s.Error)
	}
	return b.String()
}
