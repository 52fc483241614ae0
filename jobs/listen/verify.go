package listen

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
)

// The headers HighLevel signs webhooks with. The SDK (@gohighlevel/api-client
// 3.1.0, lib/webhook/webhook-manager.js) checks only SignatureHeader and calls
// LegacySignatureHeader deprecated, "no longer sent"; older senders still
// send it, so either verifies an event.
const (
	SignatureHeader       = "X-Ghl-Signature" // Ed25519 over the raw body, base64
	LegacySignatureHeader = "X-Wh-Signature"  // RSA PKCS#1 v1.5 SHA-256 over the raw body, base64
)

// highLevelRSAKey is the key docs/WebhookAuthentication.md publishes for
// x-wh-signature. HighLevel publishes no Ed25519 key there or in the SDK: the
// SDK takes it from the app's marketplace settings (webhookPublicKey or
// WEBHOOK_SIGNATURE_PUBLIC_KEY), so x-ghl-signature needs --public-key.
//
//go:embed highlevel-webhook-rsa.pem
var highLevelRSAKey []byte

// ErrSignature is a missing or wrong signature: the answer is 401.
var ErrSignature = errors.New("no valid x-ghl-signature or x-wh-signature for the body")

// Keys are the public keys events are verified with: Ed25519 ones check
// x-ghl-signature, RSA ones x-wh-signature.
type Keys struct {
	Ed25519 []ed25519.PublicKey
	RSA     []*rsa.PublicKey
}

// HighLevelKeys are the keys HighLevel publishes (see highLevelRSAKey).
func HighLevelKeys() (Keys, error) {
	var k Keys
	if err := k.Add(highLevelRSAKey); err != nil {
		return Keys{}, fmt.Errorf("the embedded HighLevel key: %w", err)
	}
	return k, nil
}

// Add adds every public key in data: PEM blocks (PKIX "PUBLIC KEY", RSA or
// Ed25519), or, as the SDK accepts, one raw 32-byte Ed25519 key in base64
// or hex.
func (k *Keys) Add(data []byte) error {
	if !strings.Contains(string(data), "-----BEGIN") {
		raw, err := rawEd25519(strings.TrimSpace(string(data)))
		if err != nil {
			return err
		}
		k.Ed25519 = append(k.Ed25519, raw)
		return nil
	}
	n := 0
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if err := k.addBlock(b); err != nil {
			return err
		}
		n++
	}
	if n == 0 {
		return errors.New("no PEM block in it: want -----BEGIN PUBLIC KEY-----")
	}
	return nil
}

func (k *Keys) addBlock(b *pem.Block) error {
	var pub any
	var err error
	switch b.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(b.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(b.Bytes)
	default:
		return fmt.Errorf("a %q PEM block: want PUBLIC KEY (a private key never goes here)", b.Type)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", b.Type, err)
	}
	switch p := pub.(type) {
	case ed25519.PublicKey:
		k.Ed25519 = append(k.Ed25519, p)
	case *rsa.PublicKey:
		k.RSA = append(k.RSA, p)
	default:
		return fmt.Errorf("a %T key: want Ed25519 (x-ghl-signature) or RSA (x-wh-signature)", pub)
	}
	return nil
}

var hex64 = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)

// ed25519SPKIPrefix is the DER head of an Ed25519 SubjectPublicKeyInfo; the
// SDK accepts a raw key with or without it.
var ed25519SPKIPrefix = []byte{0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00}

// rawEd25519 reads a raw key as the SDK's toEd25519PublicKey does.
func rawEd25519(s string) (ed25519.PublicKey, error) {
	var raw []byte
	var err error
	if hex64.MatchString(s) {
		raw, err = hex.DecodeString(s)
	} else {
		raw, err = decodeBase64(s)
	}
	if err != nil {
		return nil, errors.New("neither PEM nor a raw Ed25519 key in base64 or hex")
	}
	if len(raw) == len(ed25519SPKIPrefix)+ed25519.PublicKeySize && string(raw[:len(ed25519SPKIPrefix)]) == string(ed25519SPKIPrefix) {
		raw = raw[len(ed25519SPKIPrefix):]
	}
	if len(raw) != ed25519.PublicKeySize {
		return nil, errors.New("unsupported Ed25519 public key: expected PEM or a 32-byte key as base64/hex")
	}
	return ed25519.PublicKey(raw), nil
}

// decodeBase64 takes what Node's Buffer.from(s, 'base64') takes in
// practice: standard or URL alphabet, padded or not.
func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not base64")
}

// Verify checks body against the request's signature headers: an
// x-ghl-signature valid under one of the Ed25519 keys, or an
// x-wh-signature valid under one of the RSA keys. It returns the header
// that verified, or ErrSignature.
func (k Keys) Verify(h http.Header, body []byte) (string, error) {
	if sig := h.Get(SignatureHeader); sig != "" {
		if b, err := decodeBase64(sig); err == nil {
			for _, key := range k.Ed25519 {
				if ed25519.Verify(key, body, b) {
					return "x-ghl-signature", nil
				}
			}
		}
	}
	if sig := h.Get(LegacySignatureHeader); sig != "" {
		if b, err := decodeBase64(sig); err == nil {
			sum := sha256.Sum256(body)
			for _, key := range k.RSA {
				if rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], b) == nil {
					return "x-wh-signature", nil
				}
			}
		}
	}
	return "", ErrSignature
}

// AppIDOf is the app id webhooks of an OAuth client carry, derived as the
// SDK's getAppId does: the client id up to its first '-'.
func AppIDOf(clientID string) string {
	id, _, _ := strings.Cut(clientID, "-")
	return id
}
