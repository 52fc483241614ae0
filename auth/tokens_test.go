package auth

import (
	"strings"
	"testing"
)

func TestParseTokenFile(t *testing.T) {
	const secret = "pit-3f2a9c1e-aaaa-bbbb-cccc-0123456789ab"
	for _, c := range []struct {
		name, in string
		want     []TokenRow
		err      string
	}{
		{"with a header", "location_id,env\nloc1,TOK_LOC1\nloc2, TOK_LOC2\n",
			[]TokenRow{{"loc1", "TOK_LOC1", 2}, {"loc2", "TOK_LOC2", 3}}, ""},
		{"without a header, comments and blank lines", "# the fleet\nloc1,TOK_LOC1\n\nloc2,_T2\n",
			[]TokenRow{{"loc1", "TOK_LOC1", 2}, {"loc2", "_T2", 4}}, ""},
		{"a token in the file", "loc1," + secret + "\n", nil, "line 1: the second column is not an environment variable name"},
		{"a JWT in the file", "loc1,eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl\n", nil, "never the token itself"},
		{"lower case", "loc1,tok_loc1\n", nil, "not an environment variable name"},
		{"three columns", "loc1,A,B\n", nil, "3 columns"},
		{"a bad id", "../x,A\n", nil, "not a location id"},
		{"twice", "loc1,A\nloc1,B\n", nil, "line 2: location loc1 is on line 1"},
		{"empty", "location_id,env\n", nil, "no location"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseTokenFile("tokens.csv", strings.NewReader(c.in))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one saying %q", err, c.err)
				}
				if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "eyJ") {
					t.Fatalf("the error shows the token: %v", err)
				}
				return
			}
			if err != nil || len(got) != len(c.want) {
				t.Fatalf("= %v, %v; want %v", got, err, c.want)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Errorf("row %d = %+v, want %+v", i, got[i], c.want[i])
				}
			}
		})
	}
}

func TestWithTokenAndLookup(t *testing.T) {
	env := map[string]string{"TOK_A": " pit-a ", "OTHER": "http://api"}
	o := Options{Getenv: func(k string) string { return env[k] }, AgencyLocation: "x"}
	tok, err := o.LookupToken(TokenRow{"a", "TOK_A", 2})
	if err != nil || tok != "pit-a" {
		t.Fatalf("LookupToken = %q, %v", tok, err)
	}
	if _, err := o.LookupToken(TokenRow{"b", "TOK_B", 3}); err == nil || !strings.Contains(err.Error(), "TOK_B is unset") || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("a missing variable: %v", err)
	}
	w := o.WithToken(tok)
	if w.AgencyLocation != "" || w.getenv(EnvToken) != "pit-a" || w.getenv("OTHER") != "http://api" {
		t.Errorf("WithToken: agency %q, token %q, api %q", w.AgencyLocation, w.getenv(EnvToken), w.getenv("OTHER"))
	}
}
