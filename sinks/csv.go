package sinks

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"

	"github.com/ghlbulk/ghlbulk/internal/fsx"
)

// CSV writes records as RFC 4180 CSV through encoding/csv: one header line
// of the column names, CRLF line ends, and fields holding a comma, quote or
// line break quoted with quotes doubled.
//
// Values: null is an empty field; strings as they are; booleans true/false;
// numbers in Go's shortest form; times RFC 3339 in UTC with milliseconds
// when they have any ("2024-05-01T12:00:00.123Z"); dates 2006-01-02. Lists
// (tags, additionalEmails, multi-option custom fields) and structs
// (dndSettings) are JSON: ["vip","lead"], {"Email":{"status":"active"}},
// because a tag may itself hold a comma or semicolon.
type CSV struct {
	f      *fsx.File
	buf    *bufio.Writer
	w      *csv.Writer
	schema *arrow.Schema
	row    []string
	rows   int64
}

// NewCSV starts the file at path (written aside until Close) and writes the
// header.
func NewCSV(path string, schema *arrow.Schema) (*CSV, error) {
	f, err := fsx.Create(path)
	if err != nil {
		return nil, fmt.Errorf("creating %s: %w", path, err)
	}
	buf := bufio.NewWriterSize(f, 1<<20)
	c := &CSV{f: f, buf: buf, w: csv.NewWriter(buf), schema: schema, row: make([]string, schema.NumFields())}
	c.w.UseCRLF = true
	for i, fd := range schema.Fields() {
		c.row[i] = fd.Name
	}
	if err := c.w.Write(c.row); err != nil {
		f.Abort()
		return nil, fmt.Errorf("writing %s: %w", path, err)
	}
	return c, nil
}

// Write appends rec's rows.
func (c *CSV) Write(rec arrow.Record) error {
	if !rec.Schema().Equal(c.schema) {
		return fmt.Errorf("writing %s: record schema does not match the file's", c.f.Path())
	}
	cols := rec.Columns()
	for r := 0; r < int(rec.NumRows()); r++ {
		for i, col := range cols {
			c.row[i] = CSVValue(col, r)
		}
		if err := c.w.Write(c.row); err != nil {
			return fmt.Errorf("writing %s: %w", c.f.Path(), err)
		}
	}
	c.rows += rec.NumRows()
	return nil
}

// Close finishes the file and renames it into place.
func (c *CSV) Close() error {
	c.w.Flush()
	if err := c.w.Error(); err != nil {
		c.f.Abort()
		return fmt.Errorf("writing %s: %w", c.f.Path(), err)
	}
	if err := c.buf.Flush(); err != nil {
		c.f.Abort()
		return fmt.Errorf("writing %s: %w", c.f.Path(), err)
	}
	if err := c.f.Commit(); err != nil {
		return fmt.Errorf("writing %s: %w", c.f.Path(), err)
	}
	return nil
}

// Abort drops the partial file.
func (c *CSV) Abort() error { return c.f.Abort() }

// Rows is the number of data rows written.
func (c *CSV) Rows() int64 { return c.rows }

// Path is the file's final path.
func (c *CSV) Path() string { return c.f.Path() }

// FormatTime is how times are written in CSV and JSON: RFC 3339, UTC.
func FormatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// CSVValue renders row i of arr as a CSV field.
func CSVValue(arr arrow.Array, i int) string {
	if arr.IsNull(i) {
		return ""
	}
	switch a := arr.(type) {
	case *array.String:
		return a.Value(i)
	case *array.Boolean:
		return strconv.FormatBool(a.Value(i))
	case *array.Float64:
		return strconv.FormatFloat(a.Value(i), 'f', -1, 64)
	case *array.Int64:
		return strconv.FormatInt(a.Value(i), 10)
	case *array.Timestamp:
		return FormatTime(a.Value(i).ToTime(a.DataType().(*arrow.TimestampType).Unit))
	case *array.Date32:
		return a.Value(i).ToTime().Format(time.DateOnly)
	}
	raw, err := json.Marshal(jsonValue(arr, i))
	if err != nil {
		return arr.ValueStr(i)
	}
	return string(raw)
}

// jsonValue is row i of arr as a value for encoding/json, nulls inside
// structs left out.
func jsonValue(arr arrow.Array, i int) any {
	if arr.IsNull(i) {
		return nil
	}
	switch a := arr.(type) {
	case *array.List:
		start, end := a.ValueOffsets(i)
		vals := a.ListValues()
		out := make([]any, 0, end-start)
		for j := start; j < end; j++ {
			out = append(out, jsonValue(vals, int(j)))
		}
		return out
	case *array.Struct:
		st := a.DataType().(*arrow.StructType)
		out := map[string]any{}
		for f := 0; f < a.NumField(); f++ {
			if a.Field(f).IsNull(i) {
				continue
			}
			out[st.Field(f).Name] = jsonValue(a.Field(f), i)
		}
		return out
	case *array.String:
		return a.Value(i)
	case *array.Boolean:
		return a.Value(i)
	case *array.Float64:
		return a.Value(i)
	case *array.Timestamp:
		return FormatTime(a.Value(i).ToTime(a.DataType().(*arrow.TimestampType).Unit))
	}
	return arr.GetOneForMarshal(i)
}
