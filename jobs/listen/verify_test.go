package listen

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"testing"
)

func TestVerifyBothKeyTypes(t *testing.T) {
	s := newTestSigner(t)
	keys := s.keys(t)
	body := []byte(`{"type":"ContactCreate","webhookId":"w1","timestamp":"2025-01-28T14:35:00Z"}`)
	other := []byte(`{"type":"ContactCreate","webhookId":"w1","timestamp":"2025-01-28T14:35:01Z"}`)
	_, stranger, _ := ed25519.GenerateKey(rand.Reader)
	cases := []struct {
		name string
		h    []string
		want string // "" = ErrSignature
	}{
		{"ed25519 in x-ghl-signature", []string{"x-ghl-signature", s.edSig(body)}, "x-ghl-signature"},
		{"rsa in x-wh-signature (legacy)", []string{"x-wh-signature", s.rsaSig(t, body)}, "x-wh-signature"},
		{"both headers", []string{"x-ghl-signature", s.edSig(body), "x-wh-signature", s.rsaSig(t, body)}, "x-ghl-signature"},
		{"bad ed25519, good rsa", []string{"x-ghl-signature", s.edSig(other), "x-wh-signature", s.rsaSig(t, body)}, "x-wh-signature"},
		{"no signature", nil, ""},
		{"signature of another body", []string{"x-ghl-signature", s.edSig(other)}, ""},
		{"rsa signature in the ed25519 header", []string{"x-ghl-signature", s.rsaSig(t, body)}, ""},
		{"ed25519 signature in the rsa header", []string{"x-wh-signature", s.edSig(body)}, ""},
		{"another key's signature", []string{"x-ghl-signature", base64.StdEncoding.EncodeToString(ed25519.Sign(stranger, body))}, ""},
		{"not base64", []string{"x-ghl-signature", "%%%"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := keys.Verify(header(c.h...), body)
			if c.want == "" {
				if !errors.Is(err, ErrSignature) {
					t.Fatalf("Verify = %q, %v; want ErrSignature", got, err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("Verify = %q, %v; want %q", got, err, c.want)
			}
		})
	}
}

// TestVerifyOverRawBody: the signature is over the bytes as sent; the same
// JSON re-serialised (other spacing) does not verify.
func TestVerifyOverRawBody(t *testing.T) {
	s := newTestSigner(t)
	sent := []byte(`{"type": "NoteCreate", "id": "n1"}`)
	if _, err := s.keys(t).Verify(header("x-ghl-signature", s.edSig(sent)), []byte(`{"type":"NoteCreate","id":"n1"}`)); err == nil {
		t.Fatal("a re-serialised body verified")
	}
}

// TestKeyForms: the forms the SDK's toEd25519PublicKey takes (PEM, raw
// base64, raw hex, SPKI DER in base64), and the keys refused.
func TestKeyForms(t *testing.T) {
	s := newTestSigner(t)
	pub := s.ed.Public().(ed25519.PublicKey)
	spki := append(append([]byte{}, ed25519SPKIPrefix...), pub...)
	good := map[string]string{
		"pem":         string(s.pem(t, pub)),
		"raw base64":  base64.StdEncoding.EncodeToString(pub),
		"raw hex":     hex.EncodeToString(pub),
		"spki base64": base64.StdEncoding.EncodeToString(spki),
	}
	body := []byte(`{}`)
	for name, text := range good {
		t.Run(name, func(t *testing.T) {
			var k Keys
			if err := k.Add([]byte(text)); err != nil {
				t.Fatal(err)
			}
			if _, err := k.Verify(header("x-ghl-signature", s.edSig(body)), body); err != nil {
				t.Fatal(err)
			}
		})
	}
	bad := map[string]string{
		"private key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
		"short raw":   base64.StdEncoding.EncodeToString(pub[:16]),
		"garbage":     "not a key",
	}
	for name, text := range bad {
		t.Run(name, func(t *testing.T) {
			var k Keys
			if err := k.Add([]byte(text)); err == nil {
				t.Fatalf("Add(%q) took it", text)
			}
		})
	}
}

func TestHighLevelKeys(t *testing.T) {
	k, err := HighLevelKeys()
	if err != nil {
		t.Fatal(err)
	}
	if len(k.RSA) != 1 || k.RSA[0].N.BitLen() != 4096 {
		t.Fatalf("embedded keys = %d RSA; want the docs' 4096-bit key", len(k.RSA))
	}
}

// TestAppIDOf is the SDK's getAppId: the client id up to its first '-'.
func TestAppIDOf(t *testing.T) {
	for in, want := range map[string]string{
		"68a1b2c3d4e5f6a7b8c9d0e1-mf0abcde": "68a1b2c3d4e5f6a7b8c9d0e1",
		"ghlbulk-sandbox":                   "ghlbulk",
		"noDash":                            "noDash",
		"":                                  "",
	} {
		if got := AppIDOf(in); got != want {
			t.Errorf("AppIDOf(%q) = %q; want %q", in, got, want)
		}
	}
}
