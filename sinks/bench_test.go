package sinks_test

// Parquet writer benchmark: the same contact rows through the Arrow
// module's pqarrow (what the export uses: ghl.Contact -> Arrow record ->
// pqarrow, zstd) and through xitongsys/parquet-go's struct writer (zstd
// too), so the choice stays measured. Run:
//
//	go test ./sinks/ -run '^$' -bench Parquet -benchmem
//
// Metrics: MB/s of contacts as JSON (the API's own size), file bytes per
// row, and allocations (-benchmem).

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/xitongsys/parquet-go-source/local"
	"github.com/xitongsys/parquet-go/parquet"
	"github.com/xitongsys/parquet-go/writer"

	"github.com/ghlbulk/ghlbulk/ghl"
	"github.com/ghlbulk/ghlbulk/sinks"
)

var benchFirst = []string{"Ann", "Bob", "Carlos", "Dana", "Elif", "François", "Grace", "Hiro", "Ines", "Jamal"}
var benchLast = []string{"Smith", "O'Neil", "García", "Nguyen", "Kowalski", "Okafor", "Lindqvist", "Tanaka"}
var benchTags = []string{"lead", "customer", "vip", "newsletter", "webinar-2024", "churn-risk", "partner"}

// benchContacts generates n contacts of realistic widths: names, email,
// phone, company, address, 0-4 tags, two timestamps, three custom fields.
func benchContacts(n int) []ghl.Contact {
	r := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	out := make([]ghl.Contact, n)
	for i := range out {
		fn, ln := benchFirst[r.IntN(len(benchFirst))], benchLast[r.IntN(len(benchLast))]
		var tags []string
		for range r.IntN(5) {
			tags = append(tags, benchTags[r.IntN(len(benchTags))])
		}
		added := base.Add(time.Duration(r.Int64N(int64(500 * 24 * time.Hour))))
		out[i] = ghl.Contact{
			ID: fmt.Sprintf("c%019d", r.Int64()), LocationID: "ve9EPM428h8vShlRW1KT",
			FirstName: fn, LastName: ln, Name: fn + " " + ln,
			Email:       fmt.Sprintf("%s.%s%d@example.com", fn, ln, i),
			Phone:       fmt.Sprintf("+1555%07d", r.IntN(10_000_000)),
			CompanyName: ln + " & Co", Source: "import", City: "Springfield", Country: "US",
			Address1: fmt.Sprintf("%d Main Street", r.IntN(9999)), PostalCode: fmt.Sprintf("%05d", r.IntN(99999)),
			Tags: tags, DateAdded: added.Format(time.RFC3339Nano), DateUpdated: added.Add(time.Hour).Format(time.RFC3339Nano),
			CustomFields: []ghl.CustomFieldValue{
				{ID: "cf1", Value: json.RawMessage(fmt.Sprint(r.IntN(1000)))},
				{ID: "cf2", Value: json.RawMessage(`"2024-06-01"`)},
				{ID: "cf3", Value: json.RawMessage(`["golf","chess"]`)},
			},
		}
	}
	return out
}

var benchFields = []ghl.CustomField{
	{ID: "cf1", FieldKey: "contact.score", DataType: "NUMERICAL"},
	{ID: "cf2", FieldKey: "contact.renewal", DataType: "DATE"},
	{ID: "cf3", FieldKey: "contact.interests", DataType: "MULTIPLE_OPTIONS"},
}

func jsonSize(cs []ghl.Contact) int64 {
	raw, _ := json.Marshal(cs)
	return int64(len(raw))
}

const benchRows = 20_000
const benchBatch = 500 // a search page

func BenchmarkParquetPqarrow(b *testing.B) {
	for _, comp := range []string{"zstd", "snappy"} {
		b.Run(comp, func(b *testing.B) { benchPqarrow(b, comp) })
	}
}

func benchPqarrow(b *testing.B, comp string) {
	cs := benchContacts(benchRows)
	schema := sinks.NewContactSchema(benchFields)
	dir := b.TempDir()
	b.SetBytes(jsonSize(cs))
	b.ReportAllocs()
	var size int64
	for i := 0; i < b.N; i++ {
		w, err := sinks.NewParquet(filepath.Join(dir, "contacts.parquet"), schema.Schema, sinks.Options{Mem: memory.DefaultAllocator, Compression: comp})
		if err != nil {
			b.Fatal(err)
		}
		for off := 0; off < len(cs); off += benchBatch {
			rec := sinks.ContactsRecord(memory.DefaultAllocator, schema, cs[off:min(off+benchBatch, len(cs))])
			if err := w.Write(rec); err != nil {
				b.Fatal(err)
			}
			rec.Release()
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		st, _ := os.Stat(w.Path())
		size = st.Size()
	}
	b.ReportMetric(float64(size)/benchRows, "file_B/row")
}

// xContact is the same columns for xitongsys/parquet-go's struct writer.
type xContact struct {
	ID           string   `parquet:"name=id, type=BYTE_ARRAY, convertedtype=UTF8"`
	LocationID   *string  `parquet:"name=locationId, type=BYTE_ARRAY, convertedtype=UTF8, repetitiontype=OPTIONAL"`
	FirstName    *string  `parquet:"name=firstName, type=BYTE_ARRAY, convertedtype=UTF8, repetitiontype=OPTIONAL"`
	LastName     *string  `parquet:"name=lastName, type=BYTE_ARRAY, convertedtype=UTF8, repetitiontype=OPTIONAL"`
	Name         *string  `parquet:"name=name, type=BYTE_ARRAY, convertedtype=UTF8, repetitiontype=OPTIONAL"`
	Email        *string  `parquet:"name=email, type=BYTE_ARRAY, convertedtype=UTF8, repetitiontype=OPTIONAL"`
	Phone        *string  `parquet:"name=phone, type=BYTE_ARRAY, convertedtype=UTF8, repetitiontype=OPTIONAL"`
	CompanyName  *string  `parquet:"name=companyName, type=BYTE_ARRAY, convertedtype=UTF8, repetitiontype=OPTIONAL"`
	Source       *string  `parquet:"name=source, type=BYTE_ARRAY, convertedtype=UTF8, repetitiontype=OPTIONAL"`
	Address1     *string  `parquet:"name=address1, type=BYTE_ARRAY, convertedtype=UTF8, repetitiontype=OPTIONAL"`
	City         *string  `parquet:"name=city, type=BYTE_ARRAY, convertedtype=UTF8, repetitiontype=OPTIONAL"`
	PostalCode   *string  `parquet:"name=postalCode, type=BYTE_ARRAY, convertedtype=UTF8, repetitiontype=OPTIONAL"`
	Country      *string  `parquet:"name=country, type=BYTE_ARRAY, convertedtype=UTF8, repetitiontype=OPTIONAL"`
	DND          bool     `parquet:"name=dnd, type=BOOLEAN"`
	Tags         []string `parquet:"name=tags, type=LIST, valuetype=BYTE_ARRAY, valueconvertedtype=UTF8"`
	DateAdded    *int64   `parquet:"name=dateAdded, type=INT64, logicaltype=TIMESTAMP, logicaltype.isadjustedtoutc=true, logicaltype.unit=MILLIS, repetitiontype=OPTIONAL"`
	DateUpdated  *int64   `parquet:"name=dateUpdated, type=INT64, logicaltype=TIMESTAMP, logicaltype.isadjustedtoutc=true, logicaltype.unit=MILLIS, repetitiontype=OPTIONAL"`
	CustomFields *string  `parquet:"name=customFields, type=BYTE_ARRAY, convertedtype=UTF8, repetitiontype=OPTIONAL"`
	Score        *float64 `parquet:"name=contact_score, type=DOUBLE, repetitiontype=OPTIONAL"`
}

func opt(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func optTime(s string) *int64 {
	t, ok := sinks.ParseTime(s)
	if !ok {
		return nil
	}
	ms := t.UnixMilli()
	return &ms
}

func BenchmarkParquetXitongsys(b *testing.B) {
	cs := benchContacts(benchRows)
	dir := b.TempDir()
	b.SetBytes(jsonSize(cs))
	b.ReportAllocs()
	var size int64
	for i := 0; i < b.N; i++ {
		path := filepath.Join(dir, "contacts-x.parquet")
		fw, err := local.NewLocalFileWriter(path)
		if err != nil {
			b.Fatal(err)
		}
		pw, err := writer.NewParquetWriter(fw, new(xContact), 1)
		if err != nil {
			b.Fatal(err)
		}
		pw.RowGroupSize = 128 << 20
		pw.CompressionType = parquet.CompressionCodec_ZSTD
		for _, c := range cs {
			raw, _ := json.Marshal(c.CustomFields)
			cf := string(raw)
			var score *float64
			var v float64
			if json.Unmarshal(c.CustomFields[0].Value, &v) == nil {
				score = &v
			}
			x := xContact{ID: c.ID, LocationID: opt(c.LocationID), FirstName: opt(c.FirstName), LastName: opt(c.LastName),
				Name: opt(c.Name), Email: opt(c.Email), Phone: opt(c.Phone), CompanyName: opt(c.CompanyName), Source: opt(c.Source),
				Address1: opt(c.Address1), City: opt(c.City), PostalCode: opt(c.PostalCode), Country: opt(c.Country),
				DND: c.DND, Tags: c.Tags, DateAdded: optTime(c.DateAdded), DateUpdated: optTime(c.DateUpdated),
				CustomFields: &cf, Score: score}
			if err := pw.Write(x); err != nil {
				b.Fatal(err)
			}
		}
		if err := pw.WriteStop(); err != nil {
			b.Fatal(err)
		}
		if err := fw.Close(); err != nil {
			b.Fatal(err)
		}
		st, _ := os.Stat(path)
		size = st.Size()
	}
	b.ReportMetric(float64(size)/benchRows, "file_B/row")
}
