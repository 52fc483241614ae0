package importer

import (
	"github.com/apache/arrow/go/v17/arrow"

	"github.com/ghlbulk/ghlbulk/pipeline"
	"github.com/ghlbulk/ghlbulk/record"
	"github.com/ghlbulk/ghlbulk/transform"
)

// ContactsTransform applies each file's own compiled contacts mapping:
// files of one run may differ in their columns, so each has its own.
func ContactsTransform(byFile map[string]*transform.Mapping) pipeline.TransformFunc {
	fns := make(map[string]pipeline.TransformFunc, len(byFile))
	for file, m := range byFile {
		fns[file] = m.Apply
	}
	return func(rec arrow.Record, file string, firstRow int64) []record.Row {
		return fns[file](rec, file, firstRow)
	}
}

// RelatedTransform applies each file's compiled notes or tasks mapping, as
// record.Rows that carry the contact the ID map gave.
func RelatedTransform(byFile map[string]*transform.RelatedMapping) pipeline.TransformFunc {
	return func(rec arrow.Record, file string, firstRow int64) []record.Row {
		return byFile[file].Apply(rec, file, firstRow)
	}
}
