package sandbox

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"
)

func hashString(s string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(s))
	return h.Sum64()
}

// fieldDefs are the custom fields every location has.
var fieldDefs = []struct {
	name, key, typ, placeholder string
	options                     []string
}{
	{"Lifecycle Stage", "lifecycle_stage", "SINGLE_OPTIONS", "Stage", []string{"Lead", "MQL", "SQL", "Customer", "Churned"}},
	{"Lead Score", "lead_score", "NUMERICAL", "0-100", nil},
	{"Last Purchase Date", "last_purchase_date", "DATE", "YYYY-MM-DD", nil},
	{"Interests", "interests", "MULTIPLE_OPTIONS", "Interests", []string{"Email", "SMS", "Webinars", "Events", "Newsletter"}},
	{"Referral Code", "referral_code", "TEXT", "Code", nil},
	{"Lead Source", "lead_source", "TEXT", "Source", nil},
	{"Birthday", "birthday", "DATE", "YYYY-MM-DD", nil},
	{"Deal Size", "deal_size", "NUMERICAL", "Amount", nil}, // an opportunity field, to show model filtering
}

// seedFields gives l its custom field definitions, with ids that depend
// only on the location id. Call with the write lock held.
func (s *Server) seedFields(l *location) {
	r := rand.New(rand.NewPCG(hashString(l.id), 0x5eed))
	for i, d := range fieldDefs {
		f := &customField{ID: randID(r, 20), Name: d.name, FieldKey: "contact." + d.key, Placeholder: d.placeholder,
			DataType: d.typ, Position: i * 50, PicklistOptions: d.options, LocationID: l.id, Model: "contact"}
		if d.key == "deal_size" {
			f.FieldKey, f.Model = "opportunity.deal_size", "opportunity"
		}
		l.fields = append(l.fields, f)
		l.fieldByID[f.ID] = f
		if f.Model == "contact" {
			l.fieldByKey[d.key] = f
		}
	}
}

var (
	firstNames = []string{"Olivia", "Liam", "Emma", "Noah", "Ava", "Oliver", "Sophia", "Elijah", "Isabella", "James",
		"Mia", "William", "Charlotte", "Benjamin", "Amelia", "Lucas", "Harper", "Henry", "Evelyn", "Alexander",
		"Abigail", "Mason", "Emily", "Michael", "Ella", "Ethan", "Elizabeth", "Daniel", "Camila", "Jacob",
		"Luna", "Logan", "Sofia", "Jackson", "Avery", "Levi", "Mila", "Sebastian", "Aria", "Mateo",
		"Scarlett", "Jack", "Penelope", "Owen", "Layla", "Theodore", "Chloe", "Aiden", "Victoria", "Samuel",
		"María", "José", "Zoë", "Chloé", "Renée", "Søren"}
	lastNames = []string{"Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
		"Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
		"Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
		"Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores",
		"O'Brien", "McDonald", "Van der Berg", "Müller", "Núñez"}
	companies = []string{"Acme Dental", "Bright Smiles Orthodontics", "Summit Roofing", "Blue Ridge Realty", "Evergreen Landscaping",
		"Harbor Fitness", "Pioneer Auto Repair", "Lakeside Chiropractic", "Golden Gate Plumbing", "Redwood Insurance",
		"Maple Leaf Bakery", "Silverline HVAC", "Northstar Legal", "Sunrise Med Spa", "Coastal Property Management",
		"Ironclad Security", "Willow Creek Vet", "Prairie Solar", "Metro Physical Therapy", "Oak & Ash Interiors"}
	places = []struct{ city, state, zip, tz, area string }{
		{"New York", "NY", "10001", "America/New_York", "212"}, {"Chicago", "IL", "60601", "America/Chicago", "312"},
		{"San Francisco", "CA", "94103", "America/Los_Angeles", "415"}, {"Austin", "TX", "73301", "America/Chicago", "512"},
		{"Boston", "MA", "02108", "America/New_York", "617"}, {"Las Vegas", "NV", "89101", "America/Los_Angeles", "702"},
		{"Seattle", "WA", "98101", "America/Los_Angeles", "206"}, {"Denver", "CO", "80202", "America/Denver", "303"},
		{"Atlanta", "GA", "30303", "America/New_York", "404"}, {"Miami", "FL", "33101", "America/New_York", "305"},
		{"Los Angeles", "CA", "90012", "America/Los_Angeles", "213"}, {"Phoenix", "AZ", "85004", "America/Phoenix", "602"},
		{"Houston", "TX", "77002", "America/Chicago", "713"}, {"Dallas", "TX", "75201", "America/Chicago", "214"},
		{"Portland", "OR", "97204", "America/Los_Angeles", "503"}, {"Raleigh", "NC", "27601", "America/New_York", "919"},
		{"San Diego", "CA", "92101", "America/Los_Angeles", "619"}, {"Minneapolis", "MN", "55401", "America/Chicago", "612"},
		{"Nashville", "TN", "37203", "America/Chicago", "615"}, {"Philadelphia", "PA", "19103", "America/New_York", "215"},
	}
	streets  = []string{"Main St", "Oak Ave", "Maple Dr", "Cedar Ln", "Pine St", "Elm St", "Washington Blvd", "Lake Rd", "Hill St", "Park Ave"}
	domains  = []string{"gmail.com", "yahoo.com", "outlook.com", "icloud.com", "hotmail.com", "aol.com", "proton.me", "example.com"}
	tagPool  = []string{"customer", "lead", "vip", "newsletter", "webinar-2024", "facebook-ad", "referral", "churn-risk", "trial", "event-attendee", "wholesale", "do-not-call"}
	sources  = []string{"public api", "website form", "facebook", "google ads", "referral", "import"}
	taskBody = []string{"Call back about the quote", "Send the onboarding pack", "Follow up on the missed appointment",
		"Confirm the delivery address", "Ask for a review", "Renewal reminder"}
	noteBody = []string{"Prefers email over phone.", "Asked about pricing for the annual plan.", "Met at the spring open house.",
		"Wants a callback after 5pm.", "Left a voicemail; no answer.", "Referred by an existing customer.", "Interested in the premium package."}
	apptTitles = []string{"Initial consultation", "Follow-up visit", "Demo call", "Site inspection", "Strategy session"}
	apptStatus = []string{"booked", "confirmed", "showed", "noshow", "cancelled"}
)

// Precomputed for seed: the e-mail local parts of the names, the full
// names, and the JSON of the picklist options, so that seeding a million
// contacts does not redo them a million times.
var (
	firstLower = mapStrings(firstNames, asciiLower)
	lastLower  = mapStrings(lastNames, asciiLower)
	fullNames  = func() [][]string {
		out := make([][]string, len(firstNames))
		for i, f := range firstNames {
			out[i] = make([]string, len(lastNames))
			for j, l := range lastNames {
				out[i][j] = f + " " + l
			}
		}
		return out
	}()
	// optionJSON memoises jsonString of picklist options. A stored
	// json.RawMessage is never written in place, so contacts may share one.
	optionJSON = map[string]json.RawMessage{}
	// interestJSON memoises the JSON arrays of MULTIPLE_OPTIONS values.
	interestJSON = map[string]json.RawMessage{}
)

func mapStrings(in []string, f func(string) string) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = f(s)
	}
	return out
}

func optJSON(s string) json.RawMessage {
	if v, ok := optionJSON[s]; ok {
		return v
	}
	v := jsonString(s)
	optionJSON[s] = v
	return v
}

// seedID is randID(r, 20) with one allocation: the same draws, the same id.
func seedID(r *rand.Rand) string {
	var b [20]byte
	for i := range b {
		b[i] = idAlphabet[r.IntN(len(idAlphabet))]
	}
	return string(b[:])
}

// seedAnchor is the instant seed data ends at: fixed, so that seeding is
// deterministic, and in the past, so that new writes sort after it.
var seedAnchor = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC).UnixMilli()

const seedSpan = int64(3 * 365 * 24 * time.Hour / time.Millisecond)

// seed adds n contacts to location locID, with tasks, notes, appointments
// and businesses; the same (locID, n, seed) always gives the same data.
func (s *Server) seed(locID string, n int, seed int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := rand.New(rand.NewPCG(uint64(seed), hashString(locID)))
	l := s.loc(locID)
	s.presize(l, n)
	sd := newSeeder(r, l, n)
	added := make([]ientry, 0, n)
	updated := make([]ientry, 0, n)
	for i := range n {
		c := sd.contact(i)
		l.contacts[c.ID] = c
		addKey(l.byEmail, l.moreEmail, emailKey(c.Email), c.ID)
		addKey(l.byPhone, l.morePhone, c.Phone, c.ID)
		l.linkBusiness(c.BusinessID, c.ID)
		added = append(added, ientry{c.addedMs, c.ID})
		updated = append(updated, ientry{c.updatedMs, c.ID})
		s.seedChildren(r, c)
		if s.db != nil {
			s.db.put("contact", c.ID, locID, c)
		}
	}
	if len(l.added.e) == 0 { // the usual case: no copy of a million entries
		l.added.e, l.updated.e = added, updated
	} else {
		l.added.e = append(l.added.e, added...)
		l.updated.e = append(l.updated.e, updated...)
	}
	sortIndex(&l.added)
	sortIndex(&l.updated)
}

// presize sizes an empty location's maps (and the related records', if empty)
// for n contacts once, rather than growing them n times.
func (s *Server) presize(l *location, n int) {
	if len(l.contacts) != 0 || n <= 1024 {
		return
	}
	l.contacts = make(map[string]*contact, n)
	l.byEmail = make(map[string]string, n)
	l.byPhone = make(map[string]string, n)
	if len(s.related.tasks) == 0 {
		s.related.tasks = make(map[string][]*task, n/3)
		s.related.notes = make(map[string][]*note, n/3)
		s.related.appointments = make(map[string][]*appointment, n/6)
	}
}

// seeder makes the contacts of one seed run. Every value comes from r in a
// fixed order, so that a seed always gives the same data: a change of
// order here changes every seeded sandbox.
type seeder struct {
	r          *rand.Rand
	l          *location
	businesses []string // business ids, drawn first
	start      int64    // dateAdded of contact i lies in [start+i*step, start+(i+1)*step)
	step       int64
	buf        []byte // scratch for e-mails and phones

	// the custom fields seed data fills
	lifecycle, leadScore, interests, lastPurchase, referral *customField
}

func newSeeder(r *rand.Rand, l *location, n int) *seeder {
	nb := min(max(1, n/50), 5000)
	businesses := make([]string, nb)
	for i := range businesses {
		businesses[i] = fmt.Sprintf("%08x%016x", r.Uint32(), r.Uint64())
	}
	byKey := map[string]*customField{}
	for _, f := range l.fields {
		byKey[f.FieldKey] = f
	}
	return &seeder{
		r: r, l: l, businesses: businesses,
		start: seedAnchor - seedSpan,
		step:  max(seedSpan/int64(max(n, 1)), 1),

		lifecycle:    byKey["contact.lifecycle_stage"],
		leadScore:    byKey["contact.lead_score"],
		interests:    byKey["contact.interests"],
		lastPurchase: byKey["contact.last_purchase_date"],
		referral:     byKey["contact.referral_code"],
	}
}

// contact makes the i-th contact: name, place and dates, then its e-mail
// and phone, details, custom fields and business.
func (sd *seeder) contact(i int) *contact {
	r := sd.r
	fi, li := r.IntN(len(firstNames)), r.IntN(len(lastNames))
	pl := places[r.IntN(len(places))]
	addedMs := sd.start + int64(i)*sd.step + r.Int64N(sd.step)
	updMs := addedMs
	if r.IntN(3) > 0 {
		updMs += r.Int64N(seedAnchor - addedMs + 1)
	}
	id := seedID(r)
	for sd.l.contacts[id] != nil {
		id = seedID(r)
	}
	c := &contact{ID: id, LocationID: sd.l.id, FirstName: firstNames[fi], LastName: lastNames[li], Name: fullNames[fi][li],
		Type: "lead", Source: sources[r.IntN(len(sources))], Country: "US", City: pl.city, State: pl.state,
		PostalCode: pl.zip, Timezone: pl.tz, addedMs: addedMs, updatedMs: updMs,
		DateAdded: fmtMillis(addedMs), Tags: []string{}, CustomFields: []cfValue{}}
	c.DateUpdated = c.DateAdded
	if updMs != addedMs {
		c.DateUpdated = fmtMillis(updMs)
	}
	sd.reach(c, i, fi, li)
	sd.details(c)
	sd.customFields(c)
	if r.IntN(5) == 0 {
		c.BusinessID = sd.businesses[r.IntN(len(sd.businesses))]
	}
	return c
}

// reach gives c an e-mail, a phone or both. Both are unique by i: the
// e-mail carries i, and the phone is i's place's area code and a number
// from i.
func (sd *seeder) reach(c *contact, i, fi, li int) {
	r := sd.r
	hasEmail, hasPhone := r.IntN(20) > 0, r.IntN(10) > 0
	if !hasEmail && !hasPhone {
		hasEmail = true
	}
	if hasEmail {
		sd.buf = append(sd.buf[:0], firstLower[fi]...)
		sd.buf = append(sd.buf, '.')
		sd.buf = append(sd.buf, lastLower[li]...)
		sd.buf = strconv.AppendInt(sd.buf, int64(i), 10)
		sd.buf = append(sd.buf, '@')
		sd.buf = append(sd.buf, domains[r.IntN(len(domains))]...)
		c.Email = string(sd.buf)
	}
	if hasPhone { // +1 AAA EEE LLLL, as fmt "+1%s%03d%04d"
		rest := i / len(places)
		sd.buf = append(sd.buf[:0], "+1"...)
		sd.buf = append(sd.buf, places[i%len(places)].area...)
		sd.buf = appendPadded(sd.buf, 200+(rest/10000)%800, 3)
		sd.buf = appendPadded(sd.buf, rest%10000, 4)
		c.Phone = string(sd.buf)
	}
}

// details gives some contacts a company, an address, a date of birth, dnd
// and tags.
func (sd *seeder) details(c *contact) {
	r := sd.r
	if r.IntN(3) == 0 {
		c.CompanyName = companies[r.IntN(len(companies))]
	}
	if r.IntN(2) == 0 {
		c.Address1 = strconv.Itoa(100+r.IntN(9800)) + " " + streets[r.IntN(len(streets))]
	}
	if r.IntN(4) == 0 {
		c.DateOfBirth = time.Date(1950+r.IntN(55), time.Month(1+r.IntN(12)), 1+r.IntN(28), 0, 0, 0, 0, time.UTC).Format(timeLayout)
	}
	if r.IntN(25) == 0 {
		c.DND = true
	}
	if k := r.IntN(4); k > 0 {
		c.Tags = sd.tags(k)
	}
}

// tags draws k tags from the pool, dropping repeats.
func (sd *seeder) tags(k int) []string {
	var tags [3]string
	nt := 0
	for range k {
		t := tagPool[sd.r.IntN(len(tagPool))]
		if !slices.Contains(tags[:nt], t) {
			tags[nt] = t
			nt++
		}
	}
	return slices.Clone(tags[:nt])
}

// customFields gives c up to five custom field values, gathered on the
// stack and stored in one slice of the right size.
func (sd *seeder) customFields(c *contact) {
	r := sd.r
	var cfs [5]cfValue
	ncf := 0
	if r.IntN(10) < 7 {
		f := sd.lifecycle
		cfs[ncf] = cfValue{f.ID, optJSON(f.PicklistOptions[r.IntN(len(f.PicklistOptions))])}
		ncf++
	}
	if r.IntN(2) == 0 {
		cfs[ncf] = cfValue{sd.leadScore.ID, scoreJSON[r.IntN(101)]}
		ncf++
	}
	if r.IntN(10) < 3 {
		cfs[ncf] = cfValue{sd.interests.ID, sd.interestValues()}
		ncf++
	}
	if r.IntN(5) == 0 {
		ms := c.addedMs + r.Int64N(seedAnchor-c.addedMs+1)
		cfs[ncf] = cfValue{sd.lastPurchase.ID, appendQuotedDate(nil, ms)}
		ncf++
	}
	if r.IntN(10) == 0 {
		cfs[ncf] = cfValue{sd.referral.ID, jsonString("REF-" + randID(r, 6))}
		ncf++
	}
	if ncf > 0 {
		c.CustomFields = slices.Clone(cfs[:ncf])
	}
}

// interestValues draws one or two interests, as a JSON array shared with
// every contact that has the same ones.
func (sd *seeder) interestValues() json.RawMessage {
	opts := sd.interests.PicklistOptions
	a, b := sd.r.IntN(len(opts)), sd.r.IntN(len(opts))
	vals := []string{opts[a]}
	if b != a {
		vals = append(vals, opts[b])
	}
	key := strings.Join(vals, "\x00")
	raw, ok := interestJSON[key]
	if !ok {
		raw, _ = json.Marshal(vals)
		interestJSON[key] = raw
	}
	return raw
}

// scoreJSON is the JSON of the lead scores 0-100.
var scoreJSON = func() []json.RawMessage {
	out := make([]json.RawMessage, 101)
	for i := range out {
		out[i] = json.RawMessage(strconv.Itoa(i))
	}
	return out
}()

// appendPadded appends v in decimal, zero-padded to width digits.
func appendPadded(b []byte, v, width int) []byte {
	var d [20]byte
	i := len(d)
	for v > 0 || i > len(d)-width {
		i--
		d[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, d[i:]...)
}

// appendQuotedDate appends the UTC date of ms as a JSON string, "2006-01-02".
func appendQuotedDate(b []byte, ms int64) []byte {
	y, m, d := time.UnixMilli(ms).UTC().Date()
	b = append(b, '"')
	b = appendPadded(b, y, 4)
	b = append(b, '-')
	b = appendPadded(b, int(m), 2)
	b = append(b, '-')
	b = appendPadded(b, d, 2)
	return append(b, '"')
}

func sortIndex(x *index) {
	if slices.IsSortedFunc(x.e, cmpIentry) {
		return
	}
	slices.SortFunc(x.e, cmpIentry)
}

func cmpIentry(a, b ientry) int {
	if a.less(b) {
		return -1
	}
	if b.less(a) {
		return 1
	}
	return 0
}

func jsonString(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}

func asciiLower(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z':
			b.WriteRune(r)
		case r == 'á':
			b.WriteByte('a')
		case r == 'é' || r == 'ë':
			b.WriteByte('e')
		case r == 'ø' || r == 'ö':
			b.WriteByte('o')
		case r == 'ü' || r == 'ú':
			b.WriteByte('u')
		case r == 'ñ':
			b.WriteByte('n')
		}
	}
	return b.String()
}

// appointmentUsers is every seeded appointment's users, shared (never
// written in place).
var appointmentUsers = []string{DefaultUserID}

// seedChildren gives c some tasks, notes and appointments.
func (s *Server) seedChildren(r *rand.Rand, c *contact) {
	if s.opt.Related != nil {
		s.seedMix(r, c, *s.opt.Related)
		return
	}
	span := seedAnchor - c.addedMs + 1
	if r.IntN(10) < 3 {
		for range 1 + r.IntN(2) {
			due := c.addedMs + r.Int64N(span) + int64(7*24*time.Hour/time.Millisecond)
			t := &task{ID: seedID(r), Title: taskBody[r.IntN(len(taskBody))], DueDate: fmtMillis(due - due%3600000),
				Completed: r.IntN(2) == 0, ContactID: c.ID, AssignedTo: DefaultUserID}
			s.related.tasks[c.ID] = append(s.related.tasks[c.ID], t)
			if s.db != nil {
				s.db.put("task", t.ID, c.ID, t)
			}
		}
	}
	if r.IntN(20) < 7 {
		for range 1 + r.IntN(3) {
			n := &note{ID: seedID(r), Body: noteBody[r.IntN(len(noteBody))], UserID: DefaultUserID,
				DateAdded: fmtMillis(c.addedMs + r.Int64N(span)), ContactID: c.ID}
			s.related.notes[c.ID] = append(s.related.notes[c.ID], n)
			if s.db != nil {
				s.db.put("note", n.ID, c.ID, n)
			}
		}
	}
	if r.IntN(20) < 3 {
		startMs := c.addedMs + r.Int64N(span)
		startMs -= startMs % 1800000
		st := apptStatus[r.IntN(len(apptStatus))]
		booked := time.UnixMilli(startMs - 86400000).UTC().Format(time.DateTime)
		a := &appointment{ID: seedID(r), Status: st,
			Title: apptTitles[r.IntN(len(apptTitles))], AssignedUserID: DefaultUserID,
			StartTime:  time.UnixMilli(startMs).UTC().Format(time.DateTime),
			EndTime:    time.UnixMilli(startMs + 1800000).UTC().Format(time.DateTime),
			LocationID: c.LocationID, ContactID: c.ID, AppointmentStatus: st, Users: appointmentUsers,
			DateAdded: booked, DateUpdated: booked}
		a.CalendarID = calendarFor(c.LocationID, a.ID) // from the id: no new draw
		s.related.appointments[c.ID] = append(s.related.appointments[c.ID], a)
		if s.db != nil {
			s.db.put("appointment", a.ID, c.ID, a)
		}
	}
}
