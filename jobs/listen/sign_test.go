package listen

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"sync"
	"testing"
)

// testSigner holds a key pair of each type, as the sandbox does.
type testSigner struct {
	ed  ed25519.PrivateKey
	rsa *rsa.PrivateKey
}

var (
	signerOnce sync.Once
	signer     testSigner
)

func newTestSigner(t testing.TB) testSigner {
	t.Helper()
	signerOnce.Do(func() {
		_, ed, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			panic(err)
		}
		rk, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		signer = testSigner{ed: ed, rsa: rk}
	})
	return signer
}

func (s testSigner) pem(t testing.TB, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func (s testSigner) keys(t testing.TB) Keys {
	var k Keys
	if err := k.Add(append(s.pem(t, s.ed.Public()), s.pem(t, &s.rsa.PublicKey)...)); err != nil {
		t.Fatal(err)
	}
	return k
}

func (s testSigner) edSig(body []byte) string {
	return base64.StdEncoding.EncodeToString(ed25519.Sign(s.ed, body))
}

func (s testSigner) rsaSig(t testing.TB, body []byte) string {
	sum := sha256.Sum256(body)
	b, err := rsa.SignPKCS1v15(rand.Reader, s.rsa, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

func header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}
