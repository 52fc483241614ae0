package match

import "testing"

func TestDecide(t *testing.T) {
	type to map[string]string // field -> the contact it leads to (absent: none)
	ep, pe, eOnly, pOnly := DefaultRule(), mustRule(t, "phone-email"), mustRule(t, "email"), mustRule(t, "phone")
	cases := []struct {
		name  string
		rule  Rule
		leads to
		want  Match[string]
	}{
		{"nothing matches: a new contact", ep, to{}, Match[string]{}},
		{"email -> A", ep, to{Email: "A"}, Match[string]{Found: true, To: "A", On: Email}},
		{"email -> nobody, phone -> A (whatever A's email): A updated by phone", ep, to{Phone: "A"},
			Match[string]{Found: true, To: "A", On: Phone}},
		{"email and phone -> A", ep, to{Email: "A", Phone: "A"}, Match[string]{Found: true, To: "A", On: Email, Both: true, OtherOn: Phone}},
		{"email -> A, phone -> B: A updated, phone dropped", ep, to{Email: "A", Phone: "B"},
			Match[string]{Found: true, To: "A", On: Email, Conflict: true, Other: "B", OtherOn: Phone}},
		{"phone first: email -> A, phone -> B: B updated, email dropped", pe, to{Email: "A", Phone: "B"},
			Match[string]{Found: true, To: "B", On: Phone, Conflict: true, Other: "A", OtherOn: Email}},
		{"email rule: phone -> B is not looked at", eOnly, to{Email: "A", Phone: "B"}, Match[string]{Found: true, To: "A", On: Email}},
		{"email rule: phone only -> B: a new contact", eOnly, to{Phone: "B"}, Match[string]{}},
		{"phone rule: email -> A is not looked at", pOnly, to{Email: "A", Phone: "B"}, Match[string]{Found: true, To: "B", On: Phone}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Decide(c.rule, func(f string) (string, bool) {
				id, ok := c.leads[f]
				return id, ok
			})
			if got != c.want {
				t.Errorf("Decide = %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestKeeps(t *testing.T) {
	dropPhone := Match[int32]{Found: true, On: Email, Conflict: true, Other: 1, OtherOn: Phone}
	both := Match[int32]{Found: true, On: Email, Both: true, OtherOn: Phone}
	for _, c := range []struct {
		m     Match[int32]
		field string
		want  bool
	}{
		{dropPhone, Email, true},
		{dropPhone, Phone, false},
		{both, Email, true},
		{both, Phone, true},
		{Match[int32]{}, Email, true},
	} {
		if got := c.m.Keeps(c.field); got != c.want {
			t.Errorf("%+v.Keeps(%s) = %v, want %v", c.m, c.field, got, c.want)
		}
	}
}

func TestParseRule(t *testing.T) {
	for _, c := range []struct{ in, name, words string }{
		{"", "email-phone", "email, then phone"},
		{" Phone-Email ", "phone-email", "phone, then email"},
		{"email", "email", "email"},
	} {
		r, err := ParseRule(c.in)
		if err != nil || r.Name() != c.name || r.String() != c.words || r.IsZero() {
			t.Errorf("ParseRule(%q) = %q %q %v", c.in, r.Name(), r.String(), err)
		}
	}
	if !(Rule{}).IsZero() {
		t.Error("the zero Rule is not IsZero")
	}
}

func mustRule(t *testing.T, s string) Rule {
	t.Helper()
	r, err := ParseRule(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
