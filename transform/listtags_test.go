package transform

import (
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// TestListColumnTags: a Parquet list<string> column named as a tags
// column (or split:) gives one tag per element, not one JSON text tag.
func TestListColumnTags(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "Email", Type: arrow.BinaryTypes.String},
		{Name: "Tags", Type: arrow.ListOf(arrow.BinaryTypes.String)},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	b.Field(0).(*array.StringBuilder).Append("a@example.com")
	lb := b.Field(1).(*array.ListBuilder)
	lb.Append(true)
	for _, s := range []string{"wholesale", "customer", " vip "} {
		lb.ValueBuilder().(*array.StringBuilder).Append(s)
	}
	rec := b.NewRecord()
	defer rec.Release()
	for _, src := range []string{"{ column: Tags }", "{ split: Tags }"} {
		m := compile(t, "version: 1\nfields:\n  email: Email\ntags:\n  - "+src+"\n", []string{"Email", "Tags"})
		rows := m.Apply(rec, "f.parquet", 1)
		if rows[0].Err != nil {
			t.Fatal(rows[0].Err)
		}
		if got := strings.Join(rows[0].Tags, "|"); got != "wholesale|customer|vip" {
			t.Errorf("%s: tags = %q", src, got)
		}
	}
}
