package transform

import (
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"
)

// Fuzz targets for the normalisers. Each must never panic, and what it
// returns must already be normal: normalising it again changes nothing.
// The seeds are the shapes CRM exports carry; `go test` runs them, and
// scripts/fuzz.sh (make fuzz, make chaos) fuzzes from them.

// e164 is what NormalizePhone promises: a plus and up to 15 digits, the
// first (the country code's) not 0.
var e164 = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)

var phoneSeeds = []string{
	"(415) 555-0132", "415.555.0132", "1-212-555-0148", "+1 (646) 555-3890", "555-555-5555", "+14155550100",
	"+44 20 7946 0958", "020 7946 0958", "+49 30 901820", "+33 1 42 68 53 00", "06 12 34 56 78", "+61 2 9374 4000",
	"+81 3-1234-5678", "+91 98765 43210", "+52 55 1234 5678", "+55 11 91234-5678", "+972-3-1234567",
	"415-555-0132 x123", "415-555-0132 ext. 4", "tel:+1-415-555-0132", "+1 684 733 1234", "787 555 0100",
	"+６５ ６１２３ ４５６７", "١٢٣٤٥٦٧٨٩٠", "", " ", "+", "++1", "0", "00441234567890", "+1 415 555 013",
	"1 (800) FLOWERS", "+999 123456789", "+1 415 555 0132 555", "(011) 555-0132",
}

var phoneRegions = []string{"US", "CA", "GB", "DE", "FR", "AU", "IN", "BR", "MX", "PR", "ZZ", "", "us", "XX"}

func FuzzNormalizePhone(f *testing.F) {
	for i, s := range phoneSeeds {
		f.Add(s, phoneRegions[i%len(phoneRegions)])
	}
	f.Fuzz(func(t *testing.T, s, region string) {
		out, err := NormalizePhone(s, region)
		if err != nil {
			if out != "" {
				t.Fatalf("NormalizePhone(%q, %q) = %q with error %v: an error gives no number", s, region, out, err)
			}
			return
		}
		if !e164.MatchString(out) {
			t.Fatalf("NormalizePhone(%q, %q) = %q: not E.164", s, region, out)
		}
		// An E.164 number carries its country: it reads the same in any region.
		for _, r := range []string{region, "US", "GB"} {
			again, err := NormalizePhone(out, r)
			if err != nil || again != out {
				t.Fatalf("NormalizePhone(%q, %q) = %q, but NormalizePhone(%q, %q) = %q, %v", s, region, out, out, r, again, err)
			}
		}
	})
}

var emailSeeds = []string{
	"ana.garcia@example.com", " ANA.GARCIA@Example.COM ", "mailto:bob@example.org", "o'brien+crm@sub.example.co.uk",
	"\"quoted local\"@example.com", "Ana <ana@example.com>", "ana@example", "ana@@example.com", "ana@.example.com",
	"ana@example..com", "ana@example.com.", "@example.com", "ana@", "", "a@b.c", "ANA@EXAMPLE.COM;bob@example.com",
	"josé@exämple.com", "ana@[192.0.2.1]", "ana(comment)@example.com", "İ@example.com", "K@example.com",
}

func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range emailSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := NormalizeEmail(s)
		if err != nil {
			if out != "" {
				t.Fatalf("NormalizeEmail(%q) = %q with error %v", s, out, err)
			}
			return
		}
		if out != strings.ToLower(out) || out != strings.TrimSpace(out) || !strings.Contains(out, "@") {
			t.Fatalf("NormalizeEmail(%q) = %q: not trimmed, lower-case, with an @", s, out)
		}
		if again, err := NormalizeEmail(out); err != nil || again != out {
			t.Fatalf("NormalizeEmail(%q) = %q, but NormalizeEmail(%q) = %q, %v", s, out, out, again, err)
		}
	})
}

var nameSeeds = []string{
	"  Ana  ", "García ", "Mary\tJane", "Jean-Luc  Picard", "O'Brien", "van der Berg", "\u00a0Zoë\u00a0", "李 小龍",
	"Ana\r\nGarcía", "", " ", "\u2003\u2003", "x\x00y", "\xff\xfe", "Dr. J.  R.  R. Tolkien",
}

func FuzzNormalizeName(f *testing.F) {
	for _, s := range nameSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := NormalizeName(s)
		if out != strings.TrimSpace(out) || strings.Contains(out, "  ") ||
			strings.ContainsFunc(out, func(r rune) bool { return unicode.IsSpace(r) && r != ' ' }) {
			t.Fatalf("NormalizeName(%q) = %q: white space left", s, out)
		}
		if again := NormalizeName(out); again != out {
			t.Fatalf("NormalizeName(%q) = %q, but NormalizeName(%q) = %q", s, out, out, again)
		}
	})
}

var countrySeeds = []string{"United States", "usa", " UK ", "us", "gb", "Deutschland", "México", "Narnia", "", "ɐɐ", "ß"}

func FuzzNormalizeCountry(f *testing.F) {
	for _, s := range countrySeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := NormalizeCountry(s)
		if again := NormalizeCountry(out); again != out {
			t.Fatalf("NormalizeCountry(%q) = %q, but NormalizeCountry(%q) = %q", s, out, out, again)
		}
	})
}

var dateSeeds = []string{
	"2024-03-01", "2024-03-01T09:30:00Z", "2024-03-01T09:30:00.000+0000", "2024-03-01T09:30:00.123456789-07:00",
	"2024-03-01 09:30", "2024-03-01 09:30:00", "2024/03/01", "3/4/2024", "13/4/2024", "3/4/24", "03/04/2024 14:05",
	"3/4/2024 2:05 PM", "1.2.2024", "1.2.2024 10:00", "Mar 4, 2024", "March 4, 2024", "4 Mar 2024", "04-Mar-2024",
	"Mon, 04 Mar 2024 10:00:00 +0100", "Monday, 04-Mar-24 10:00:00 UTC", "Mon Mar  4 10:00:00 2024",
	"1709251200", "1709251200000", "0000-01-01", "9999-12-31T23:59:59+14:00", "2024-02-30", "2024-03-10 02:30",
	"2024-03-01T09:30:00+2400", "", "yesterday", "2024-13-01",
}

// FuzzParseDate checks ParseDateIn, and that the text the date normaliser
// writes (RFC 3339, or the day) reads back as the same text: a normalised
// date is normal.
func FuzzParseDate(f *testing.F) {
	for i, s := range dateSeeds {
		f.Add(s, i%2 == 0)
	}
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		f.Skipf("no time zone data: %v", err)
	}
	f.Fuzz(func(t *testing.T, s string, local bool) {
		spec := &Spec{loc: time.UTC}
		if local {
			spec.loc = ny
		}
		if _, err := ParseDateIn(s, spec.loc); err != nil {
			return
		}
		for _, how := range []string{"date", "day"} {
			out, err := normalize(how, s, spec)
			if err != nil {
				t.Fatalf("ParseDateIn(%q) reads it, but normalize(%q) fails: %v", s, how, err)
			}
			again, err := normalize(how, out, spec)
			if err != nil || again != out {
				t.Fatalf("normalize(%q, %q) = %q, but normalize(%q, %q) = %q, %v", how, s, out, how, out, again, err)
			}
		}
	})
}
