package pipeline

import (
	"github.com/apache/arrow/go/v17/arrow"

	"github.com/ghlbulk/ghlbulk/record"
	"github.com/ghlbulk/ghlbulk/transform"
)

// FromMapping adapts a compiled mapping to the import's TransformFunc.
func FromMapping(m *transform.Mapping) TransformFunc {
	return func(rec arrow.Record, file string, firstRow int64) []record.Row {
		rows := m.Apply(rec, file, firstRow)
		out := make([]record.Row, len(rows))
		for i, r := range rows {
			out[i] = record.Row{
				File: r.File, Row: r.Row, Raw: r.Raw, Key: r.Key, SourceKey: r.SourceKey,
				Contact: r.Contact, Tags: r.Tags, Notes: r.Notes, Tasks: r.Tasks, Hash: r.Hash, Err: r.Err,
			}
		}
		return out
	}
}
