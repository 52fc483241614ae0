package sources

import (
	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/bitutil"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// A struct column reaches the mapping as one column per leaf, named by its
// path ("address.city", "dndSettings.Email.status"), so a mapping names a
// struct's field as it names any column, the way DuckDB and Spark address
// them. Lists (of strings or of structs) stay one column: their values
// are read as a list.

// flatFields is f, or f's leaves when f is a struct with fields, each
// named parent.child.
func flatFields(out []arrow.Field, f arrow.Field, prefix string) []arrow.Field {
	name := prefix + f.Name
	st, ok := f.Type.(*arrow.StructType)
	if !ok || st.NumFields() == 0 {
		f.Name = name
		return append(out, f)
	}
	for _, c := range st.Fields() {
		out = flatFields(out, c, name+".")
	}
	return out
}

// flatArrays appends a's leaves, in flatFields' order, each retained: a
// struct's children with the struct's own nulls laid over theirs (a row
// whose struct is null has no city, whatever the child holds there).
func flatArrays(out []arrow.Array, a arrow.Array, mem memory.Allocator) []arrow.Array {
	s, ok := a.(*array.Struct)
	if !ok || s.NumField() == 0 {
		a.Retain()
		return append(out, a)
	}
	for i := 0; i < s.NumField(); i++ {
		c := maskNulls(s, s.Field(i), mem)
		out = flatArrays(out, c, mem)
		c.Release()
	}
	return out
}

// maskNulls is child with parent's nulls added, as a new reference.
func maskNulls(parent, child arrow.Array, mem memory.Allocator) arrow.Array {
	if parent.NullN() == 0 || child.DataType().ID() == arrow.NULL {
		child.Retain()
		return child
	}
	cd := child.Data()
	n, off := int64(child.Len()), int64(cd.Offset())
	pbits := parent.NullBitmapBytes()
	poff := int64(parent.Data().Offset())
	var valid *memory.Buffer
	if cbits := child.NullBitmapBytes(); cbits == nil {
		valid = memory.NewResizableBuffer(mem)
		valid.Resize(int(bitutil.BytesForBits(off + n)))
		bitutil.CopyBitmap(pbits, int(poff), int(n), valid.Bytes(), int(off))
	} else {
		valid = bitutil.BitmapAndAlloc(mem, pbits, cbits, poff, off, n, off)
	}
	defer valid.Release()
	bufs := append([]*memory.Buffer{valid}, cd.Buffers()[1:]...)
	var d *array.Data
	if cd.DataType().ID() == arrow.DICTIONARY { // Dictionary() is a typed nil otherwise
		d = array.NewDataWithDictionary(cd.DataType(), int(n), bufs, array.UnknownNullCount, int(off), cd.Dictionary().(*array.Data))
	} else {
		d = array.NewData(cd.DataType(), int(n), bufs, cd.Children(), array.UnknownNullCount, int(off))
	}
	defer d.Release()
	return array.MakeFromData(d)
}
