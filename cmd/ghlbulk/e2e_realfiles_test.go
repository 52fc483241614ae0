package main

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"

	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
)

// realFile is an export written the way the tool that makes it writes it,
// with what each row must become: a contact (email -> its mapped values)
// or a reject (row -> a reason a user can act on).
type realFile struct {
	name, file, mapping string
	extra               []string
	contacts            map[string]string // email -> "first|phone|country|dob"
	rejects             map[string]string // _row -> substring of _reason
	stderr              []string          // in the run's output
}

// realFiles builds the fixtures in dir.
func realFiles(t *testing.T, dir string) []realFile {
	t.Helper()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	hubspot := "Record ID,First Name,Last Name,Email,Phone Number,Company Name,City,State/Region,Postal Code,Country/Region,Lifecycle Stage,Create Date,,,\r\n" +
		"101,Zoë,Müller,zoe@example.de,030 1234567,Bäckerei,Köln,,50667,Germany,lead,2024-03-01,,,\r\n" +
		"102,François,Lefèvre,francois@example.fr,01 42 68 53 00,Café Crème,Paris,,75001,France,customer,2024-03-01,,,\r\n" +
		"103,José,Peña,jose@example.com,(212) 555-0148,Niño Inc,New York,NY,10001,United States,lead,2024-03-01,,,\r\n" +
		"104,Søren,Ærø,soren@example.dk,12,Smørrebrød,København,,1050,Denmark,lead,2024-03-01,,,\r\n" +
		"105,Noël,,,12,,Lyon,,,France,lead,2024-03-01,,,\r\n"
	w1252, err := charmap.Windows1252.NewEncoder().Bytes([]byte(hubspot))
	if err != nil {
		t.Fatal(err)
	}
	tsvMapping := write("unicode.yaml", []byte("version: 1\ndefaults:\n  phone_region: GB\n  phone_region_column: Country\n"+
		"fields:\n  email: Email Address\n  firstName: First Name\n  phone: Phone\n  country: Country\n"))
	tsv := "Email Address\tFirst Name\tPhone\tCountry\r\nanna@example.se\tÅsa\t08-123 456 78\tSweden\r\nli@example.cn\t李\t020 7946 0958\t\r\n"
	utf16, err := unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewEncoder().Bytes([]byte(tsv))
	if err != nil {
		t.Fatal(err)
	}
	dmy := write("dmy.yaml", []byte("version: 1\ndefaults:\n  phone_region: DE\n  date_order: DMY\n"+
		"fields:\n  email: E-Mail\n  firstName: Vorname\n  dateOfBirth: { column: Geburtstag, normalize: day }\n"))
	european := "E-Mail;Vorname;Geburtstag\nanna@example.de;Anna;13/01/1990\nben@example.de;Ben;02/03/1990\ncarl@example.de;Carl;02.03.1990\ndora@example.de;Dora;01/13/1990\n"
	return []realFile{
		{name: "windows-1252 hubspot export, trailing empty columns, phones of several countries",
			file: write("hubspot.csv", w1252), mapping: filepath.Join(repoRoot, "mappings", "hubspot.yaml"),
			contacts: map[string]string{
				"zoe@example.de":      "Zoë|+49301234567|DE|",
				"francois@example.fr": "François|+33142685300|FR|",
				"jose@example.com":    "José|+12125550148|US|",
				"soren@example.dk":    "Søren||DK|", // its phone dropped, the contact kept
			},
			rejects: map[string]string{"5": `phone "12": not a valid number for region FR`},
			stderr:  []string{"read as windows-1252", "3 unnamed column(s) at the end of the header", "phones dropped (invalid)"}},
		{name: "utf-16le tab-separated Excel Unicode Text with BOM", file: write("unicode.txt", utf16), mapping: tsvMapping,
			contacts: map[string]string{"anna@example.se": "Åsa|+46812345678|SE|", "li@example.cn": "李|+442079460958||"},
			stderr:   []string{"read as utf-16le"}},
		{name: "day-first european file, date_order: DMY", file: write("dmy.csv", []byte(european)), mapping: dmy,
			contacts: map[string]string{"anna@example.de": "Anna|||1990-01-13", "ben@example.de": "Ben|||1990-03-02", "carl@example.de": "Carl|||1990-03-02"},
			rejects:  map[string]string{"4": `"01/13/1990": 13 is not a month (date_order: DMY`}},
		{name: "xlsx written by excelize, dates as formatted", file: writeXLSXFixture(t, dir), mapping: dmy, extra: []string{"--sheet", "Kontakte"},
			contacts: map[string]string{"anna@example.de": "Anna|||1990-03-02", "ben@example.de": "Ben|||1990-01-13"}},
	}
}

// writeXLSXFixture is a workbook as Excel saves one: a cover sheet first,
// the contacts on a second, a date cell formatted day-first, a text date,
// and formatted empty rows at the end.
func writeXLSXFixture(t *testing.T, dir string) string {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	if _, err := f.NewSheet("Kontakte"); err != nil {
		t.Fatal(err)
	}
	for i, r := range [][]any{{"E-Mail", "Vorname", "Geburtstag"},
		{"anna@example.de", "Anna", time.Date(1990, 3, 2, 0, 0, 0, 0, time.UTC)},
		{"ben@example.de", "Ben", "13/01/1990"}} {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := f.SetSheetRow("Kontakte", cell, &r); err != nil {
			t.Fatal(err)
		}
	}
	fmtDMY := "dd/mm/yyyy"
	style, _ := f.NewStyle(&excelize.Style{CustomNumFmt: &fmtDMY})
	_ = f.SetCellStyle("Kontakte", "C2", "C2", style)
	_ = f.SetCellStyle("Kontakte", "A5", "C9", style)
	p := filepath.Join(dir, "contacts.xlsx")
	if err := f.SaveAs(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRealExportFiles imports each fixture into its own sandbox: every row
// is a contact equal to its mapped values or a reject with a reason a user
// can act on, and no date is read in the wrong order.
func TestRealExportFiles(t *testing.T) {
	for _, rf := range realFiles(t, t.TempDir()) {
		t.Run(rf.name, func(t *testing.T) {
			sb := startSandbox(t, sandbox.Options{Rate: -1})
			f := newImpFiles(t)
			r := runCLI(t, sb.env(), f.args(rf.file, rf.mapping, rf.extra...)...)
			if r.code != 0 {
				t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
			}
			for _, s := range rf.stderr {
				if !strings.Contains(r.stderr+r.stdout, s) {
					t.Errorf("output lacks %q:\nstdout: %s\nstderr: %s", s, r.stdout, r.stderr)
				}
			}
			got := map[string]string{}
			for _, h := range sb.contents(t) {
				got[h.Email] = strings.Join([]string{h.FirstName, h.Phone, h.Country, strings.TrimSuffix(h.DateOfBirth, "T00:00:00.000Z")}, "|")
			}
			if strings.Join(sortedPairs(got), "\n") != strings.Join(sortedPairs(rf.contacts), "\n") {
				t.Errorf("contacts:\n%s\nwant\n%s", strings.Join(sortedPairs(got), "\n"), strings.Join(sortedPairs(rf.contacts), "\n"))
			}
			checkRealRejects(t, f, rf.rejects)
		})
	}
}

func checkRealRejects(t *testing.T, f impFiles, want map[string]string) {
	t.Helper()
	rows := rejectsFile(t, f.rejects)
	if len(rows) != len(want) {
		t.Errorf("%d rejects, want %d: %v", len(rows), len(want), rows)
	}
	for _, m := range rows {
		if w, ok := want[m["_row"]]; !ok || !strings.Contains(m["_reason"], w) {
			t.Errorf("reject row %s: %q, want it to contain %q", m["_row"], m["_reason"], w)
		}
	}
}

func sortedPairs(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+" => "+v)
	}
	sort.Strings(out)
	return out
}
