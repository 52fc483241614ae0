package sandbox

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"
)

// hookRecorder answers each webhookId's first delivery 429 (so every event
// is retried) and records the bodies it answered 200, with their headers.
type hookRecorder struct {
	mu   sync.Mutex
	seen map[string]bool
	got  []recorded
}

type recorded struct {
	body     []byte
	ghl, wh  string
	envelope struct{ Type, LocationID, AppID, WebhookID, Timestamp string }
}

func (r *hookRecorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	rec := recorded{body: body, ghl: req.Header.Get("x-ghl-signature"), wh: req.Header.Get("x-wh-signature")}
	_ = json.Unmarshal(body, &rec.envelope)
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.seen[rec.envelope.WebhookID] {
		r.seen[rec.envelope.WebhookID] = true
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(http.StatusTooManyRequests)
		return
	}
	r.got = append(r.got, rec)
}

func TestWebhooksForEveryWrite(t *testing.T) {
	rec := &hookRecorder{seen: map[string]bool{}}
	hooks := httptest.NewServer(rec)
	defer hooks.Close()
	e := start(t, Options{Rate: -1, Webhooks: WebhookOptions{URL: hooks.URL, MaxWait: 10 * time.Millisecond}})

	id := e.must(e.upsert(map[string]any{"email": "a@example.com", "firstName": "A"}), 200).obj("contact")["id"].(string)
	e.must(e.call("PUT", "/contacts/"+id, map[string]any{"lastName": "B"}, nil), 200)
	e.must(e.call("POST", "/contacts/"+id+"/tags", map[string]any{"tags": []string{"vip"}}, nil), 201)
	e.must(e.call("PUT", "/contacts/"+id, map[string]any{"dnd": true}, nil), 200)
	note := e.must(e.call("POST", "/contacts/"+id+"/notes", map[string]any{"body": "hello"}, nil), 201).obj("note")["id"].(string)
	e.must(e.call("PUT", "/contacts/"+id+"/notes/"+note, map[string]any{"body": "hi"}, nil), 200)
	e.must(e.call("DELETE", "/contacts/"+id+"/notes/"+note, nil, nil), 200)
	task := e.must(e.call("POST", "/contacts/"+id+"/tasks", map[string]any{"title": "call", "dueDate": "2030-01-01T00:00:00Z", "completed": false}, nil), 201).obj("task")["id"].(string)
	e.must(e.call("PUT", "/contacts/"+id+"/tasks/"+task+"/completed", map[string]any{"completed": true}, nil), 200)
	e.must(e.call("DELETE", "/contacts/"+id+"/tasks/"+task, nil, nil), 200)
	e.must(e.call("DELETE", "/contacts/"+id, nil, nil), 200)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.s.WebhooksIdle(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{"ContactCreate", "ContactUpdate", "ContactTagUpdate", "ContactDndUpdate", "NoteCreate", "NoteUpdate",
		"NoteDelete", "TaskCreate", "TaskComplete", "TaskDelete", "ContactDelete"}
	var got []string
	edKey, rsaKey := webhookKeys(t, e.s.WebhookPublicKeys())
	for _, r := range rec.got {
		got = append(got, r.envelope.Type)
		if r.envelope.LocationID != e.s.LocationID() || r.envelope.AppID != "ghlbulk" || r.envelope.WebhookID == "" {
			t.Errorf("envelope %+v", r.envelope)
		}
		if _, err := time.Parse(time.RFC3339Nano, r.envelope.Timestamp); err != nil {
			t.Errorf("timestamp %q: %v", r.envelope.Timestamp, err)
		}
		sig, _ := base64.StdEncoding.DecodeString(r.ghl)
		if !ed25519.Verify(edKey, r.body, sig) {
			t.Errorf("%s: x-ghl-signature does not verify", r.envelope.Type)
		}
		sig, _ = base64.StdEncoding.DecodeString(r.wh)
		sum := sha256.Sum256(r.body)
		if rsa.VerifyPKCS1v15(rsaKey, crypto.SHA256, sum[:], sig) != nil {
			t.Errorf("%s: x-wh-signature does not verify", r.envelope.Type)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("events %v;\nwant %v", got, want)
	}
	if st := e.s.WebhookStats(); st.Delivered != int64(len(want)) || st.Attempts != 2*int64(len(want)) || st.Dropped+st.Failed != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func webhookKeys(t *testing.T, pems []byte) (ed25519.PublicKey, *rsa.PublicKey) {
	t.Helper()
	var ed ed25519.PublicKey
	var rk *rsa.PublicKey
	for {
		var b *pem.Block
		if b, pems = pem.Decode(pems); b == nil {
			break
		}
		k, err := x509.ParsePKIXPublicKey(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		switch k := k.(type) {
		case ed25519.PublicKey:
			ed = k
		case *rsa.PublicKey:
			rk = k
		}
	}
	if ed == nil || rk == nil {
		t.Fatalf("WebhookPublicKeys: want an Ed25519 and an RSA key")
	}
	return ed, rk
}
