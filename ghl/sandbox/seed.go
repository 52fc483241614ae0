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
	if len(l.contacts) == 0 && n > 1024 { // size the maps once rather than growing them n times
		l.contacts = make(map[string]*contact, n)
		l.byEmail = make(map[string]string, n)
		l.byPhone = make(map[string]string, n)
		if len(s.kids.tasks) == 0 {
			s.kids.tasks = make(map[string][]*task, n/3)
			s.kids.notes = make(map[string][]*note, n/3)
			s.kids.appointments = make(map[string][]*appointment, n/6)
		}
	}
	nb := min(max(1, n/50), 5000)
	businesses := make([]string, nb)
	for i := range businesses {
		businesses[i] = fmt.Sprintf("%08x%016x", r.Uint32(), r.Uint64())
	}
	start := seedAnchor - seedSpan
	step := max(seedSpan/int64(max(n, 1)), 1)
	byID := map[string]*customField{}
	for _, f := range l.fields {
		byID[f.FieldKey] = f
	}
	added := make([]ientry, 0, n)
	updated := make([]ientry, 0, n)
	var sb strings.Builder
	for i := range n {
		first := firstNames[r.IntN(len(firstNames))]
		last := lastNames[r.IntN(len(lastNames))]
		pl := places[r.IntN(len(places))]
		addedMs := start + int64(i)*step + r.Int64N(step)
		updMs := addedMs
		if r.IntN(3) > 0 {
			updMs += r.Int64N(seedAnchor - addedMs + 1)
		}
		id := randID(r, 20)
		for l.contacts[id] != nil {
			id = randID(r, 20)
		}
		c := &contact{ID: id, LocationID: locID, FirstName: first, LastName: last, Name: first + " " + last,
			Type: "lead", Source: sources[r.IntN(len(sources))], Country: "US", City: pl.city, State: pl.state,
			PostalCode: pl.zip, Timezone: pl.tz, addedMs: addedMs, updatedMs: updMs,
			DateAdded: fmtMillis(addedMs), DateUpdated: fmtMillis(updMs), Tags: []string{}, CustomFields: []cfValue{}}
		hasEmail, hasPhone := r.IntN(20) > 0, r.IntN(10) > 0
		if !hasEmail && !hasPhone {
			hasEmail = true
		}
		if hasEmail {
			sb.Reset()
			sb.WriteString(asciiLower(first))
			sb.WriteByte('.')
			sb.WriteString(asciiLower(last))
			sb.WriteString(strconv.Itoa(i))
			sb.WriteByte('@')
			sb.WriteString(domains[r.IntN(len(domains))])
			c.Email = sb.String()
		}
		if hasPhone {
			rest := i / len(places)
			area := places[i%len(places)].area
			c.Phone = fmt.Sprintf("+1%s%03d%04d", area, 200+(rest/10000)%800, rest%10000)
		}
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
			for range k {
				t := tagPool[r.IntN(len(tagPool))]
				if !slices.Contains(c.Tags, t) {
					c.Tags = append(c.Tags, t)
				}
			}
		}
		if r.IntN(10) < 7 {
			f := byID["contact.lifecycle_stage"]
			c.CustomFields = append(c.CustomFields, cfValue{f.ID, jsonString(f.PicklistOptions[r.IntN(len(f.PicklistOptions))])})
		}
		if r.IntN(2) == 0 {
			c.CustomFields = append(c.CustomFields, cfValue{byID["contact.lead_score"].ID, json.RawMessage(strconv.Itoa(r.IntN(101)))})
		}
		if r.IntN(10) < 3 {
			f := byID["contact.interests"]
			a, b := r.IntN(len(f.PicklistOptions)), r.IntN(len(f.PicklistOptions))
			vals := []string{f.PicklistOptions[a]}
			if b != a {
				vals = append(vals, f.PicklistOptions[b])
			}
			raw, _ := json.Marshal(vals)
			c.CustomFields = append(c.CustomFields, cfValue{f.ID, raw})
		}
		if r.IntN(5) == 0 {
			d := time.UnixMilli(addedMs + r.Int64N(seedAnchor-addedMs+1)).UTC().Format("2006-01-02")
			c.CustomFields = append(c.CustomFields, cfValue{byID["contact.last_purchase_date"].ID, jsonString(d)})
		}
		if r.IntN(10) == 0 {
			c.CustomFields = append(c.CustomFields, cfValue{byID["contact.referral_code"].ID, jsonString("REF-" + randID(r, 6))})
		}
		if r.IntN(5) == 0 {
			c.BusinessID = businesses[r.IntN(nb)]
		}
		l.contacts[c.ID] = c
		addKey(l.byEmail, l.moreEmail, emailKey(c.Email), c.ID)
		addKey(l.byPhone, l.morePhone, c.Phone, c.ID)
		l.linkBusiness(c.BusinessID, c.ID)
		added = append(added, ientry{addedMs, c.ID})
		updated = append(updated, ientry{updMs, c.ID})
		s.seedChildren(r, c)
		if s.db != nil {
			s.db.put("contact", c.ID, locID, c)
		}
	}
	l.added.e = append(l.added.e, added...)
	l.updated.e = append(l.updated.e, updated...)
	sortIndex(&l.added)
	sortIndex(&l.updated)
}

func sortIndex(x *index) {
	slices.SortFunc(x.e, func(a, b ientry) int {
		if a.less(b) {
			return -1
		}
		if b.less(a) {
			return 1
		}
		return 0
	})
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

// seedChildren gives c some tasks, notes and appointments.
func (s *Server) seedChildren(r *rand.Rand, c *contact) {
	span := seedAnchor - c.addedMs + 1
	if r.IntN(10) < 3 {
		for range 1 + r.IntN(2) {
			due := c.addedMs + r.Int64N(span) + int64(7*24*time.Hour/time.Millisecond)
			t := &task{ID: randID(r, 20), Title: taskBody[r.IntN(len(taskBody))], DueDate: fmtMillis(due - due%3600000),
				Completed: r.IntN(2) == 0, ContactID: c.ID, AssignedTo: DefaultUserID}
			s.kids.tasks[c.ID] = append(s.kids.tasks[c.ID], t)
			if s.db != nil {
				s.db.put("task", t.ID, c.ID, t)
			}
		}
	}
	if r.IntN(20) < 7 {
		for range 1 + r.IntN(3) {
			n := &note{ID: randID(r, 20), Body: noteBody[r.IntN(len(noteBody))], UserID: DefaultUserID,
				DateAdded: fmtMillis(c.addedMs + r.Int64N(span)), ContactID: c.ID}
			s.kids.notes[c.ID] = append(s.kids.notes[c.ID], n)
			if s.db != nil {
				s.db.put("note", n.ID, c.ID, n)
			}
		}
	}
	if r.IntN(20) < 3 {
		startMs := c.addedMs + r.Int64N(span)
		startMs -= startMs % 1800000
		st := apptStatus[r.IntN(len(apptStatus))]
		a := &appointment{ID: randID(r, 20), CalendarID: "YlWd2wuCAZQzh2cH1fVZ", Status: st,
			Title: apptTitles[r.IntN(len(apptTitles))], AssignedUserID: DefaultUserID,
			StartTime:  time.UnixMilli(startMs).UTC().Format(time.DateTime),
			EndTime:    time.UnixMilli(startMs + 1800000).UTC().Format(time.DateTime),
			LocationID: c.LocationID, ContactID: c.ID, AppointmentStatus: st, Users: []string{DefaultUserID},
			DateAdded:   time.UnixMilli(startMs - 86400000).UTC().Format(time.DateTime),
			DateUpdated: time.UnixMilli(startMs - 86400000).UTC().Format(time.DateTime)}
		s.kids.appointments[c.ID] = append(s.kids.appointments[c.ID], a)
		if s.db != nil {
			s.db.put("appointment", a.ID, c.ID, a)
		}
	}
}
