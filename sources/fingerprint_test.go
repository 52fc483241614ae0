package sources

import (
	"strings"
	"testing"
)

func TestFingerprint(t *testing.T) {
	a := writeFile(t, "a.csv", []byte("a,b\n1,2\n"))
	a2 := writeFile(t, "copy.csv", []byte("a,b\n1,2\n"))
	b := writeFile(t, "b.csv", []byte("a,b\n1,3\n"))
	fa, err := Fingerprint(a)
	if err != nil {
		t.Fatal(err)
	}
	fa2, _ := Fingerprint(a2)
	fb, _ := Fingerprint(b)
	if fa != fa2 {
		t.Errorf("same content, different fingerprints: %s %s", fa, fa2)
	}
	if fa == fb {
		t.Errorf("different content, same fingerprint %s", fa)
	}
	if !strings.HasPrefix(fa, "v1:8:sha256:") {
		t.Errorf("fingerprint %q: want v1:<size>:sha256:<hex>", fa)
	}
	if _, err := Fingerprint(a + ".missing"); err == nil {
		t.Error("want an error for a missing file")
	}
}
