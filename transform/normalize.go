package transform

import (
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/nyaruka/phonenumbers"
)

// NormalizeName trims a name and collapses runs of white space inside it.
func NormalizeName(s string) string {
	s = strings.TrimSpace(s)
	if !strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) && r != ' ' }) && !strings.Contains(s, "  ") {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}

var errEmail = errors.New("not a valid email address")

// NormalizeEmail trims and lower-cases an address and checks it is a plain
// addr-spec (no display name) with a dotted domain.
func NormalizeEmail(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.TrimPrefix(s, "mailto:")
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || strings.ContainsAny(s, " \t\r\n<>,;") {
		return "", errEmail
	}
	domain := s[at+1:]
	if !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") {
		return "", errEmail
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return "", errEmail
	}
	return s, nil
}

// NormalizePhone parses a phone number, national numbers in the given
// region (ISO 3166 code, e.g. "US"), and returns it in E.164 form.
func NormalizePhone(s, region string) (string, error) {
	s = strings.TrimSpace(s)
	if e164, ok, known := nanpFast(s, region); known {
		if !ok {
			return "", fmt.Errorf("not a valid number for region %s", region)
		}
		return e164, nil
	}
	num, err := phonenumbers.Parse(s, region)
	// libphonenumber calls some over-long numbers valid (German ones with
	// letters read as digits: "18000000000AAA" is +4918000000000222), but
	// E.164 has at most 15 digits.
	var e164 string
	if err == nil && phonenumbers.IsValidNumber(num) {
		e164 = phonenumbers.Format(num, phonenumbers.E164)
	}
	if e164 == "" || len(e164) > 1+15 {
		if strings.HasPrefix(s, "+") {
			return "", errors.New("not a valid number")
		}
		return "", fmt.Errorf("not a valid number for region %s", region)
	}
	return e164, nil
}

// nanpRegions share country code 1 (the North American Numbering Plan).
var nanpRegions = map[string]bool{"US": true, "CA": true, "PR": true, "VI": true, "GU": true, "AS": true, "MP": true}

// nanpValid memoises libphonenumber's verdict on a +1 number by its first
// seven digits (NPA-NXX-X): numbers are allocated in blocks of a thousand,
// and libphonenumber's NANP patterns never look further. It is a cache of a
// pure function, bounded, shared by all mappings; it turns ~25 µs of
// regular expressions per number into a map look-up.
var nanpValid = struct {
	sync.RWMutex
	m map[string]bool
}{m: map[string]bool{}}

const nanpCacheMax = 200_000

// nanpFast handles the common case, a plain 10-digit NANP number (with
// optional +1 or 1, punctuation ( ) - . / and spaces), without running
// libphonenumber's parser. known is false when it can't tell: the caller
// falls back to the full parser.
func nanpFast(s, region string) (e164 string, ok, known bool) {
	var d [11]byte
	n, plus, plain := nanpScan(s, &d)
	if !plain {
		return "", false, false
	}
	digits, isNANP := nanpNational(d[:n], plus, region)
	if !isNANP {
		return "", false, false
	}
	if !nanpBlockValid(digits) {
		return "", false, true
	}
	return "+1" + string(digits), true, true
}

// nanpScan collects the digits of s into d and says whether s starts with
// +. plain is false for anything the fast path does not read (letters,
// extensions, other scripts, more than 11 digits): the full parser's
// business.
func nanpScan(s string, d *[11]byte) (n int, plus, plain bool) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if n == len(d) {
				return n, plus, false
			}
			d[n] = c
			n++
		case c == '+' && i == 0:
			plus = true
		case c == ' ' || c == '(' || c == ')' || c == '-' || c == '.' || c == '/':
		default:
			return n, plus, false
		}
	}
	return n, plus, true
}

// nanpNational is the 10-digit national number of a +1 number (+1 and 11
// digits), or, in a NANP region, of 1 and 11 digits or of 10 digits.
func nanpNational(digits []byte, plus bool, region string) ([]byte, bool) {
	switch n := len(digits); {
	case plus && n == 11 && digits[0] == '1':
		return digits[1:], true
	case !plus && nanpRegions[region] && n == 11 && digits[0] == '1':
		return digits[1:], true
	case !plus && nanpRegions[region] && n == 10:
		return digits, true
	}
	return nil, false
}

// nanpBlockValid is libphonenumber's verdict on a 10-digit national
// number, memoised by its block (the first seven digits) in nanpValid.
func nanpBlockValid(digits []byte) bool {
	prefix := string(digits[:7])
	nanpValid.RLock()
	valid, hit := nanpValid.m[prefix]
	nanpValid.RUnlock()
	if hit {
		return valid
	}
	nat, _ := strconv.ParseUint(string(digits), 10, 64)
	valid = phonenumbers.IsValidNumber(&phonenumbers.PhoneNumber{CountryCode: proto32(1), NationalNumber: &nat})
	nanpValid.Lock()
	if len(nanpValid.m) < nanpCacheMax {
		nanpValid.m[prefix] = valid
	}
	nanpValid.Unlock()
	return valid
}

func proto32(v int32) *int32 { return &v }

// countries maps common country names to ISO 3166-1 alpha-2 codes, which
// is what HighLevel stores.
var countries = map[string]string{
	"united states": "US", "united states of america": "US", "usa": "US", "u.s.a.": "US", "u.s.": "US", "america": "US",
	"united kingdom": "GB", "uk": "GB", "great britain": "GB", "england": "GB", "scotland": "GB", "wales": "GB",
	"canada": "CA", "australia": "AU", "new zealand": "NZ", "ireland": "IE", "germany": "DE", "deutschland": "DE",
	"france": "FR", "spain": "ES", "españa": "ES", "italy": "IT", "italia": "IT", "netherlands": "NL", "the netherlands": "NL",
	"belgium": "BE", "switzerland": "CH", "austria": "AT", "sweden": "SE", "norway": "NO", "denmark": "DK", "finland": "FI",
	"portugal": "PT", "poland": "PL", "mexico": "MX", "méxico": "MX", "brazil": "BR", "brasil": "BR", "argentina": "AR",
	"india": "IN", "japan": "JP", "china": "CN", "singapore": "SG", "south africa": "ZA", "israel": "IL",
	"united arab emirates": "AE", "uae": "AE", "philippines": "PH", "colombia": "CO", "chile": "CL",
}

// NormalizeCountry turns a country name or code into its ISO alpha-2 code
// when it knows it, and otherwise leaves the trimmed text alone.
func NormalizeCountry(s string) string {
	s = strings.TrimSpace(s)
	if c, ok := countries[strings.ToLower(s)]; ok {
		return c
	}
	if len(s) == 2 {
		return strings.ToUpper(s)
	}
	return s
}

// dateLayouts are tried in order. Numeric dates that do not start with the
// year (3/4/2024, 03.04.2024, 3-4-24) are not here: parseNumericDate reads
// them by the mapping's date_order, never by guessing.
var dateLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.000Z0700", // Salesforce: 2024-03-01T09:30:00.000+0000
	"2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04:05",
	"2006-01-02T15:04",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05 -0700",
	"2006-01-02 15:04:05",
	"2006-01-02 15:04",
	"2006-01-02",
	"2006/01/02 15:04:05",
	"2006/01/02",
	"Jan 2, 2006 15:04",
	"Jan 2, 2006",
	"January 2, 2006",
	"Mon, Jan 2, 2006",
	"2 Jan 2006",
	"2 January 2006",
	"02-Jan-2006",
	time.RFC1123Z,
	time.RFC1123,
	time.RFC850,
	time.ANSIC,
}

// isoLayouts are the dateLayouts that start YYYY-MM-DD, the date-only one last.
var isoLayouts = func() []string {
	var out []string
	for _, l := range dateLayouts {
		if strings.HasPrefix(l, "2006-01-02") && l != "2006-01-02" {
			out = append(out, l)
		}
	}
	return append(out, "2006-01-02")
}()

// ParseDate reads a date or date-time in any of the formats CRM exports use
// (RFC 3339, Salesforce's "2006-01-02T15:04:05.000+0000", "2006-01-02 15:04",
// US "1/2/2006", European "2.1.2006", "Jan 2, 2006", Unix seconds or
// milliseconds...). A value without a zone is taken as UTC.
func ParseDate(s string) (time.Time, error) { return ParseDateIn(s, time.UTC) }

// ParseDateIn is ParseDate with the zone for values that carry none. A
// numeric date whose order can't be told (02/03/1990) is an error: use
// ParseDateOrder with the file's order.
func ParseDateIn(s string, loc *time.Location) (time.Time, error) {
	return ParseDateOrder(s, loc, DateOrderNone)
}

// ParseDateOrder is ParseDateIn reading numeric dates that do not start
// with the year in the given order (a mapping's defaults: date_order).
func ParseDateOrder(s string, loc *time.Location, order DateOrder) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, errors.New("no date")
	}
	if loc == nil {
		loc = time.UTC
	}
	if isDigits(s) && len(s) >= 9 && len(s) <= 13 {
		n, err := strconv.ParseInt(s, 10, 64)
		if err == nil {
			if len(s) >= 12 {
				return time.UnixMilli(n).UTC(), nil
			}
			return time.Unix(n, 0).UTC(), nil
		}
	}
	if m := numericDate.FindStringSubmatch(s); m != nil {
		return parseNumericDate(s, m, loc, order)
	}
	layouts := dateLayouts
	if len(s) >= 10 && s[4] == '-' && s[7] == '-' {
		layouts = isoLayouts // the common case: skip the failed attempts
		if len(s) == 10 {
			layouts = isoLayouts[len(isoLayouts)-1:]
		}
	}
	for _, l := range layouts {
		if t, err := time.ParseInLocation(l, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errors.New("not a date I can read (try 2006-01-02 or RFC 3339)")
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// formatTime writes t as RFC 3339, in UTC when it was given in UTC.
func formatTime(t time.Time) string { return t.Format(time.RFC3339) }

func formatDay(t time.Time) string { return t.Format("2006-01-02") }

// DateOrder is how a file writes numeric dates that do not start with the
// year: day first (DMY: 13/01/1990, 13.01.1990), month first (MDY:
// 01/13/1990) or year first (YMD: only ISO-like dates are expected).
type DateOrder string

// The date orders a mapping's defaults: date_order may name.
const (
	DateOrderNone DateOrder = ""
	DateOrderDMY  DateOrder = "DMY"
	DateOrderMDY  DateOrder = "MDY"
	DateOrderYMD  DateOrder = "YMD"
)

// ParseDateOrderName reads a date_order value.
func ParseDateOrderName(s string) (DateOrder, bool) {
	switch o := DateOrder(strings.ToUpper(strings.TrimSpace(s))); o {
	case DateOrderDMY, DateOrderMDY, DateOrderYMD:
		return o, true
	}
	return DateOrderNone, false
}

// numericDate is N/N/YY[YY] (or with . or -, the same twice), then an
// optional time: the dates whose order only the file's maker knows.
var numericDate = regexp.MustCompile(`^(\d{1,2})([/.\-])(\d{1,2})([/.\-])(\d{4}|\d{2})(?:[ T,]+(.*))?$`)

// timeLayouts are the times of day that may follow a numeric date.
var timeLayouts = []string{"15:04:05", "15:04", "3:04:05 PM", "3:04 PM", "3:04:05PM", "3:04PM", "15:04:05.000"}

// parseNumericDate reads a numeric date by order; with no order (or YMD,
// which such a date contradicts) it reads only what can't be misread: a
// first number over 12 is a day, a second over 12 a day, equal numbers
// the same date either way. Anything else is an error saying what to set.
func parseNumericDate(s string, m []string, loc *time.Location, order DateOrder) (time.Time, error) {
	if m[2] != m[4] {
		return time.Time{}, fmt.Errorf("not a date I can read: %q mixes separators", s)
	}
	a, _ := strconv.Atoi(m[1])
	b, _ := strconv.Atoi(m[3])
	year, _ := strconv.Atoi(m[5])
	if len(m[5]) == 2 { // as Go's "06": 69-99 are 1900s
		year += 2000
		if year >= 2069 {
			year -= 100
		}
	}
	day, month, err := dayMonth(s, a, b, order)
	if err != nil {
		return time.Time{}, err
	}
	t := time.Date(year, time.Month(month), day, 0, 0, 0, 0, loc)
	if t.Day() != day || int(t.Month()) != month {
		return time.Time{}, fmt.Errorf("%q: day %d is not in %s %d", s, day, time.Month(month), year)
	}
	if m[6] == "" {
		return t, nil
	}
	for _, l := range timeLayouts {
		if c, err := time.Parse(l, strings.TrimSpace(m[6])); err == nil {
			return t.Add(time.Duration(c.Hour())*time.Hour + time.Duration(c.Minute())*time.Minute +
				time.Duration(c.Second())*time.Second + time.Duration(c.Nanosecond())), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q: not a time of day I can read after the date (try 15:04 or 3:04 PM)", s)
}

// dayMonth orders a numeric date's first two numbers.
func dayMonth(s string, a, b int, order DateOrder) (day, month int, err error) {
	switch {
	case order == DateOrderDMY:
		day, month = a, b
	case order == DateOrderMDY:
		day, month = b, a
	case a > 12 && b <= 12, a == b:
		day, month = a, b
	case b > 12 && a <= 12:
		day, month = b, a
	case a > 12 && b > 12:
		day, month = a, b
	default:
		return 0, 0, fmt.Errorf("ambiguous date %q: %d %s or %s %d? (set date_order: DMY or MDY under defaults: in the mapping)",
			s, a, time.Month(b), time.Month(a), b)
	}
	if month < 1 || month > 12 {
		return 0, 0, fmt.Errorf("%q: %d is not a month (date_order: %s; is the file in another order?)", s, month, orderName(order))
	}
	return day, month, nil
}

func orderName(o DateOrder) string {
	if o == DateOrderNone {
		return "not set"
	}
	return string(o)
}
