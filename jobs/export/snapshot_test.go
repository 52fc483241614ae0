package export

import (
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// An older snapshot's rows take the new schema: a column added since is
// null, a removed one is dropped, and dropped ids leave the rows around
// them in order.
func TestSnapshotProjectAndKeep(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	str := arrow.BinaryTypes.String
	oldSchema := arrow.NewSchema([]arrow.Field{{Name: "id", Type: str, Nullable: true}, {Name: "gone", Type: str, Nullable: true}}, nil)
	newSchema := arrow.NewSchema([]arrow.Field{{Name: "id", Type: str, Nullable: true}, {Name: "added", Type: arrow.PrimitiveTypes.Float64, Nullable: true}}, nil)
	b := array.NewRecordBuilder(mem, oldSchema)
	defer b.Release()
	b.Field(0).(*array.StringBuilder).AppendValues([]string{"a", "b", "c", "d", "e"}, nil)
	b.Field(1).(*array.StringBuilder).AppendValues([]string{"1", "2", "3", "4", "5"}, nil)
	rec := b.NewRecord()
	defer rec.Release()

	p := project(rec, newSchema, mem)
	defer p.Release()
	if !p.Schema().Equal(newSchema) || p.Column(1).NullN() != 5 {
		t.Fatalf("projected: %v, %d nulls in the added column", p.Schema(), p.Column(1).NullN())
	}
	var got []string
	var parts int
	err := writeKept(p, map[string]bool{"b": true, "e": true}, func(r arrow.Record) error {
		parts++
		ids := r.Column(0).(*array.String)
		for i := range ids.Len() {
			got = append(got, ids.Value(i))
		}
		return nil
	})
	if err != nil || parts != 2 || len(got) != 3 || got[0] != "a" || got[1] != "c" || got[2] != "d" {
		t.Fatalf("kept %v in %d parts (%v), want [a c d] in 2", got, parts, err)
	}
}
