package sources

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
)

// writeXLSX writes a workbook the way Excel saves one: a second sheet, a
// date cell with a display format, a number, empty trailing cells and a
// formatted but empty row at the end.
func writeXLSX(t *testing.T) string {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	sh := "Contacts"
	if err := f.SetSheetName("Sheet1", sh); err != nil {
		t.Fatal(err)
	}
	rows := [][]any{
		{"Email", "Phone Number", "Phone Number", "Born", "Score"},
		{"ann@example.com", "+33 1 23 45 67 89", "", time.Date(1990, 3, 2, 0, 0, 0, 0, time.UTC), 42},
		{"bob@example.com"},
	}
	for i, r := range rows {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := f.SetSheetRow(sh, cell, &r); err != nil {
			t.Fatal(err)
		}
	}
	style, _ := f.NewStyle(&excelize.Style{CustomNumFmt: ptr("dd/mm/yyyy")})
	_ = f.SetCellStyle(sh, "D2", "D2", style)
	_ = f.SetCellStyle(sh, "A6", "E6", style) // an empty formatted row
	if _, err := f.NewSheet("Other"); err != nil {
		t.Fatal(err)
	}
	_ = f.SetCellValue("Other", "A1", "Name")
	p := filepath.Join(t.TempDir(), "book.xlsx")
	if err := f.SaveAs(p); err != nil {
		t.Fatal(err)
	}
	return p
}

func ptr[T any](v T) *T { return &v }

func TestXLSX(t *testing.T) {
	p := writeXLSX(t)
	x, err := OpenXLSX(p, XLSXOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if got := strings.Join(x.Header(), "|"); got != "Email|Phone Number|Phone Number (2)|Born|Score" {
		t.Errorf("header = %q", got)
	}
	if len(x.Warnings()) != 1 {
		t.Errorf("warnings = %q", x.Warnings())
	}
	var got []string
	for _, r := range readRows(t, x) {
		got = append(got, strings.Join(r, "|"))
	}
	want := []string{"ann@example.com|+33 1 23 45 67 89||02/03/1990|42|<null>", "bob@example.com|||||<null>"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rows =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestXLSXSheet(t *testing.T) {
	p := writeXLSX(t)
	x, err := OpenXLSX(p, XLSXOptions{Sheet: "Other"})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(x.Header(), "|"); got != "Name" {
		t.Errorf("header = %q", got)
	}
	x.Close()
	_, err = OpenXLSX(p, XLSXOptions{Sheet: "Nope"})
	if err == nil || !strings.Contains(err.Error(), `no sheet "Nope" (--sheet): the workbook has "Contacts", "Other"`) {
		t.Errorf("err = %v", err)
	}
}
