package pipeline

import (
	"slices"
	"testing"
)

func TestStringsCodecKeepsBytes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values []string
	}{
		{"utf-8", []string{"Zoë", "zoe@example.com", ""}},
		{"latin-1 byte", []string{"Ren\xe9e", "renee@example.com"}},
		{"lone continuation byte", []string{"\x80", "ok"}},
		{"empty", []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := encodeStrings(tc.values)
			if got := decodeStrings(text); !slices.Equal(got, tc.values) {
				t.Errorf("%q came back as %q (stored %s)", tc.values, got, text)
			}
		})
	}
}

// States written before keep reading as they did.
func TestStringsCodecReadsOldStates(t *testing.T) {
	if got := decodeStrings(`["a","b\u00e9"]`); !slices.Equal(got, []string{"a", "bé"}) {
		t.Errorf("old JSON array read as %q", got)
	}
	if got := encodeStrings([]string{"a", "bé"}); got != `["a","bé"]` {
		t.Errorf("UTF-8 values stored as %s, want the JSON array of before", got)
	}
}
