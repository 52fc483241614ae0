package transform

import (
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/ghlbulk/ghlbulk/ghl"
)

var update = flag.Bool("update", false, "rewrite golden files")

// sandboxFields are the custom fields the sandbox seeds in every location.
var sandboxFields = []ghl.CustomField{
	{ID: "cf_lifecycle", Name: "Lifecycle Stage", FieldKey: "contact.lifecycle_stage", DataType: "SINGLE_OPTIONS", PicklistOptions: []string{"Lead", "MQL", "SQL", "Customer", "Churned"}},
	{ID: "cf_source", Name: "Lead Source", FieldKey: "contact.lead_source", DataType: "TEXT"},
	{ID: "cf_score", Name: "Lead Score", FieldKey: "contact.lead_score", DataType: "NUMERICAL"},
	{ID: "cf_birthday", Name: "Birthday", FieldKey: "contact.birthday", DataType: "DATE"},
	{ID: "cf_interests", Name: "Interests", FieldKey: "contact.interests", DataType: "MULTIPLE_OPTIONS", PicklistOptions: []string{"Golf", "Travel", "Food"}},
}

// stringRecord builds a record the way the CSV source does: every header
// column a string, then ErrorColumn marking rows with the wrong field count.
func stringRecord(t testing.TB, header []string, rows [][]string) arrow.Record {
	t.Helper()
	fields := make([]arrow.Field, 0, len(header)+1)
	for _, h := range header {
		fields = append(fields, arrow.Field{Name: h, Type: arrow.BinaryTypes.String, Nullable: true})
	}
	fields = append(fields, arrow.Field{Name: ErrorColumn, Type: arrow.BinaryTypes.String, Nullable: true})
	b := array.NewRecordBuilder(memory.DefaultAllocator, arrow.NewSchema(fields, nil))
	defer b.Release()
	for _, r := range rows {
		for i := range header {
			sb := b.Field(i).(*array.StringBuilder)
			if i < len(r) {
				sb.Append(r[i])
			} else {
				sb.AppendNull()
			}
		}
		eb := b.Field(len(header)).(*array.StringBuilder)
		if len(r) != len(header) {
			eb.Append(fmt.Sprintf("%d fields, header has %d", len(r), len(header)))
		} else {
			eb.AppendNull()
		}
	}
	return b.NewRecord()
}

// readCSV reads a whole (small) CSV file, BOM and ragged rows allowed.
func readCSV(t testing.TB, path string) ([]string, [][]string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := csv.NewReader(strings.NewReader(strings.TrimPrefix(string(data), "\uFEFF")))
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]string
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, rec)
	}
	return header, rows
}

func compile(t testing.TB, yaml string, header []string) *Mapping {
	t.Helper()
	s, err := ParseMapping("m.yaml", []byte(yaml))
	if err != nil {
		t.Fatalf("ParseMapping: %v", err)
	}
	m, err := s.Compile(header, sandboxFields)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return m
}
