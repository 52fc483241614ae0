package sources

import (
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// TestFlatArrays: a struct's leaves come out named parent.child, with the
// struct's nulls laid over children that hold a value there, also in a
// slice (offset) of the struct and for a child with no null bitmap.
func TestFlatArrays(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	cb := array.NewStringBuilder(mem)
	cb.AppendValues([]string{"a", "b", "c", "d", "e"}, nil)
	city := cb.NewArray()
	defer city.Release()
	zb := array.NewInt64Builder(mem)
	zb.AppendValues([]int64{1, 2, 3, 4, 5}, []bool{true, false, true, true, true})
	zip := zb.NewArray()
	defer zip.Release()
	valid := []byte{0b11011} // row 2 is a null struct, its child values set
	sa, err := array.NewStructArrayWithNulls([]arrow.Array{city, zip}, []string{"city", "zip"},
		memory.NewBufferBytes(valid), 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sa.Release()
	f := arrow.Field{Name: "address", Type: sa.DataType()}
	names := []string{}
	for _, ff := range flatFields(nil, f, "") {
		names = append(names, ff.Name)
	}
	if len(names) != 2 || names[0] != "address.city" || names[1] != "address.zip" {
		t.Fatalf("names %v", names)
	}
	cases := []struct {
		name      string
		from, to  int64
		city, zip string // "." marks a null row
	}{
		{"whole", 0, 5, "ab.de", "1..45"},
		{"slice", 1, 5, "b.de", "..45"},
	}
	for _, tc := range cases {
		sl := array.NewSlice(sa, tc.from, tc.to)
		flat := flatArrays(nil, sl, mem)
		sl.Release()
		if len(flat) != 2 {
			t.Fatalf("%s: %d arrays", tc.name, len(flat))
		}
		var c, z string
		for i := 0; i < flat[0].Len(); i++ {
			c += pick(flat[0], i)
			z += pick(flat[1], i)
		}
		if c != tc.city || z != tc.zip {
			t.Errorf("%s: city %q zip %q, want %q %q", tc.name, c, z, tc.city, tc.zip)
		}
		for _, a := range flat {
			a.Release()
		}
	}
}

func pick(a arrow.Array, i int) string {
	if a.IsNull(i) {
		return "."
	}
	return a.ValueStr(i)
}
