package predict

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"strconv"

	"github.com/ghlbulk/ghlbulk/internal/fsx"
)

// PlanColumns are the plan file's columns.
var PlanColumns = []string{"_file", "_row", "action", "contact_id", "other_contact_id", "key", "reason"}

// PlanWriter writes the plan file: one line per input row, in input order.
// It writes aside and renames on Commit, so a reader sees the old plan or
// the new one, whole, 0666 less the umask (internal/fsx's rule); Abort (or a Commit that fails) leaves no file behind.
type PlanWriter struct {
	path string
	tmp  *fsx.File
	bw   *bufio.Writer
	w    *csv.Writer
	rec  []string
	n    int64
}

// CreatePlan starts the plan file at path.
func CreatePlan(path string) (*PlanWriter, error) {
	tmp, err := fsx.Create(path)
	if err != nil {
		return nil, fmt.Errorf("plan %s: %w", path, err)
	}
	bw := bufio.NewWriterSize(tmp, 1<<16)
	pw := &PlanWriter{path: path, tmp: tmp, bw: bw, w: csv.NewWriter(bw), rec: make([]string, len(PlanColumns))}
	if err := pw.w.Write(PlanColumns); err != nil {
		pw.Abort()
		return nil, fmt.Errorf("plan %s: %w", path, err)
	}
	return pw, nil
}

// Write adds one row's line.
func (pw *PlanWriter) Write(d Decision) error {
	pw.rec[0], pw.rec[1], pw.rec[2] = d.File, strconv.FormatInt(d.Row, 10), string(d.Action)
	pw.rec[3], pw.rec[4], pw.rec[5], pw.rec[6] = d.ContactID, d.OtherContactID, d.Key, d.Reason
	if err := pw.w.Write(pw.rec); err != nil {
		return fmt.Errorf("plan %s: %w", pw.path, err)
	}
	pw.n++
	return nil
}

// Lines is the number of rows written.
func (pw *PlanWriter) Lines() int64 { return pw.n }

// Commit flushes the file and renames it into place.
func (pw *PlanWriter) Commit() (err error) {
	if pw.tmp == nil {
		return fmt.Errorf("plan %s: already closed", pw.path)
	}
	defer func() {
		if err != nil {
			pw.Abort()
			err = fmt.Errorf("plan %s: %w", pw.path, err)
		}
	}()
	pw.w.Flush()
	if err := pw.w.Error(); err != nil {
		return err
	}
	if err := pw.bw.Flush(); err != nil {
		return err
	}
	tmp := pw.tmp
	pw.tmp = nil
	return tmp.Commit()
}

// Abort removes the unfinished file; after Commit it does nothing.
func (pw *PlanWriter) Abort() {
	if pw.tmp == nil {
		return
	}
	pw.tmp.Abort()
	pw.tmp = nil
}
