package pipeline

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"strconv"
)

// rejectSpill keeps a dry run's rejects (a dry run has no state to hold
// them) in a scratch file until the rejects file is written at the end: a
// file where nearly every row is rejected would otherwise hold every row's
// values in memory, and validate must stay flat on any input. The file is
// made at the first reject and has no name once open (removed at once where
// the system allows it, else at Close). Records are length-prefixed, byte
// for byte: values that are not UTF-8 come back as read.
type rejectSpill struct {
	f    *os.File
	w    *bufio.Writer
	n    int
	err  error // the first write error, said when the rejects are read
	name string
}

// add appends one reject. The committer is its only caller.
func (s *rejectSpill) add(rec RejectRecord) {
	if s.err != nil {
		return
	}
	if s.f == nil {
		if s.err = s.open(); s.err != nil {
			return
		}
	}
	var lb [binary.MaxVarintLen64]byte
	put := func(v string) {
		s.w.Write(lb[:binary.PutUvarint(lb[:], uint64(len(v)))])
		s.w.WriteString(v)
	}
	s.w.Write(lb[:binary.PutUvarint(lb[:], uint64(len(rec.Raw)))])
	put(rec.File)
	put(strconv.FormatInt(rec.Row, 10))
	put(rec.Reason)
	for _, v := range rec.Raw {
		put(v)
	}
	s.n++
}

func (s *rejectSpill) open() error {
	f, err := os.CreateTemp("", "ghlbulk-rejects-*.tmp")
	if err != nil {
		return fmt.Errorf("a scratch file for the dry run's rejects (set TMPDIR to a writable folder): %w", err)
	}
	s.f, s.w, s.name = f, bufio.NewWriterSize(f, 1<<16), f.Name()
	if os.Remove(f.Name()) == nil {
		s.name = ""
	}
	return nil
}

// all yields the rejects in the order they were added, each with the
// header of its file from headers.
func (s *rejectSpill) all(headers map[string][]string) iter.Seq2[RejectRecord, error] {
	return func(yield func(RejectRecord, error) bool) {
		if s.err == nil && s.f != nil {
			if s.err = s.w.Flush(); s.err == nil {
				_, s.err = s.f.Seek(0, io.SeekStart)
			}
		}
		if s.err != nil {
			yield(RejectRecord{}, fmt.Errorf("the dry run's rejects: %w", s.err))
			return
		}
		if s.f == nil {
			return
		}
		br := bufio.NewReaderSize(s.f, 1<<16)
		for range s.n {
			rec, err := readSpilled(br)
			if err == nil {
				rec.Header = headers[rec.File]
			}
			if !yield(rec, err) || err != nil {
				return
			}
		}
	}
}

// readSpilled reads one record written by add.
func readSpilled(br *bufio.Reader) (RejectRecord, error) {
	n, err := binary.ReadUvarint(br)
	if err != nil {
		return RejectRecord{}, spillErr(err)
	}
	vals := make([]string, n+3)
	for i := range vals {
		l, err := binary.ReadUvarint(br)
		if err != nil {
			return RejectRecord{}, spillErr(err)
		}
		b := make([]byte, l)
		if _, err := io.ReadFull(br, b); err != nil {
			return RejectRecord{}, spillErr(err)
		}
		vals[i] = string(b)
	}
	row, _ := strconv.ParseInt(vals[1], 10, 64)
	return RejectRecord{File: vals[0], Row: row, Reason: vals[2], Raw: vals[3:]}, nil
}

func spillErr(err error) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("reading the dry run's rejects back from its scratch file: %w", err)
}

// Close removes the scratch file.
func (s *rejectSpill) Close() {
	if s.f == nil {
		return
	}
	s.f.Close()
	if s.name != "" {
		os.Remove(s.name)
	}
	s.f = nil
}
