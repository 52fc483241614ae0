package transform

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
)

// colReader appends row i's value, as text, to dst. A null appends nothing.
type colReader func(dst []byte, i int) []byte

// readerFor picks how a column's values become text: strings as they are,
// numbers in their shortest form, booleans as true/false, timestamps in
// RFC 3339 (UTC), dates as YYYY-MM-DD, lists as a JSON array of strings,
// anything else as arrow prints it. Each reader is a closure over the
// concrete array type, so the per-cell call stays direct (Apply's hot path).
func readerFor(a arrow.Array) colReader {
	for _, pick := range []func(arrow.Array) colReader{textReader, numberReader, timeReader, listReader} {
		if rd := pick(a); rd != nil {
			return rd
		}
	}
	return func(dst []byte, i int) []byte {
		if a.IsNull(i) {
			return dst
		}
		return append(dst, a.ValueStr(i)...)
	}
}

// textReader reads string and binary columns as they are; nil for others.
func textReader(a arrow.Array) colReader {
	switch c := a.(type) {
	case *array.String:
		return func(dst []byte, i int) []byte {
			if c.IsNull(i) {
				return dst
			}
			return append(dst, c.Value(i)...)
		}
	case *array.LargeString:
		return func(dst []byte, i int) []byte {
			if c.IsNull(i) {
				return dst
			}
			return append(dst, c.Value(i)...)
		}
	case *array.Binary:
		return func(dst []byte, i int) []byte {
			if c.IsNull(i) {
				return dst
			}
			return append(dst, c.Value(i)...)
		}
	}
	return nil
}

// numberReader reads integers and floats in their shortest form and
// booleans as true/false; nil for other columns.
func numberReader(a arrow.Array) colReader {
	switch c := a.(type) {
	case *array.Int64:
		return func(dst []byte, i int) []byte {
			if c.IsNull(i) {
				return dst
			}
			return strconv.AppendInt(dst, c.Value(i), 10)
		}
	case *array.Int32:
		return func(dst []byte, i int) []byte {
			if c.IsNull(i) {
				return dst
			}
			return strconv.AppendInt(dst, int64(c.Value(i)), 10)
		}
	case *array.Float64:
		return func(dst []byte, i int) []byte {
			if c.IsNull(i) {
				return dst
			}
			return strconv.AppendFloat(dst, c.Value(i), 'f', -1, 64)
		}
	case *array.Float32:
		return func(dst []byte, i int) []byte {
			if c.IsNull(i) {
				return dst
			}
			return strconv.AppendFloat(dst, float64(c.Value(i)), 'f', -1, 32)
		}
	case *array.Boolean:
		return func(dst []byte, i int) []byte {
			if c.IsNull(i) {
				return dst
			}
			return strconv.AppendBool(dst, c.Value(i))
		}
	}
	return nil
}

// timeReader reads timestamps in RFC 3339 (UTC) and dates as YYYY-MM-DD;
// nil for other columns.
func timeReader(a arrow.Array) colReader {
	switch c := a.(type) {
	case *array.Timestamp:
		unit := c.DataType().(*arrow.TimestampType).Unit
		return func(dst []byte, i int) []byte {
			if c.IsNull(i) {
				return dst
			}
			return c.Value(i).ToTime(unit).UTC().AppendFormat(dst, time.RFC3339)
		}
	case *array.Date32:
		return func(dst []byte, i int) []byte {
			if c.IsNull(i) {
				return dst
			}
			return c.Value(i).ToTime().AppendFormat(dst, "2006-01-02")
		}
	case *array.Date64:
		return func(dst []byte, i int) []byte {
			if c.IsNull(i) {
				return dst
			}
			return c.Value(i).ToTime().UTC().AppendFormat(dst, "2006-01-02")
		}
	}
	return nil
}

// listReader reads a list as a JSON array of its non-null elements, each
// read as readerFor reads a column; an empty list is blank. nil for
// columns that are not lists.
func listReader(a arrow.Array) colReader {
	c, ok := a.(array.ListLike)
	if !ok {
		return nil
	}
	return func(dst []byte, i int) []byte {
		if c.IsNull(i) {
			return dst
		}
		start, end := c.ValueOffsets(i)
		vals := c.ListValues()
		elems := make([]string, 0, end-start)
		rd := readerFor(vals)
		for j := start; j < end; j++ {
			if vals.IsNull(int(j)) {
				continue
			}
			elems = append(elems, string(rd(nil, int(j))))
		}
		if len(elems) == 0 {
			return dst
		}
		b, _ := json.Marshal(elems)
		return append(dst, b...)
	}
}
