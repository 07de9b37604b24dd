package bbapitest_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/bbapi/bbapitest"
)

// resp is a decoded HTTP answer.
type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not JSON (%d): %v\n%s", r.status, err, r.body)
	}
	return m
}

func (r resp) errorMessage(t testing.TB) string {
	t.Helper()
	m := r.json(t)
	if m["type"] != "error" {
		t.Fatalf("not an error envelope: %s", r.body)
	}
	e, _ := m["error"].(map[string]any)
	msg, _ := e["message"].(string)
	return msg
}

func basic(email, token string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(email+":"+token))
}

func bearer(token string) string { return "Bearer " + token }

// call sends one request to the emulator with plain net/http (not bbapi: bbapi's tests
// import this package).
func call(t testing.TB, method, url, auth string, body any) resp {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: data}
}

func wantStatus(t testing.TB, r resp, want int) {
	t.Helper()
	if r.status != want {
		t.Fatalf("status %d, want %d; body: %s", r.status, want, r.body)
	}
}

// newPub makes a fresh ed25519 public key as an authorized_keys line with a comment.
func newPub(t testing.TB, comment string) (string, ssh.PublicKey) {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp))) + " " + comment, sp
}

// ada is the seeded user's credential.
func ada(s *bbapitest.Server) string { return basic(bbapitest.DefaultEmail, s.DefaultAPIToken()) }

// fakeClock is a settable clock for SetClock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// collect follows `next` links from url and returns every value and the page count.
func collect(t testing.TB, url, auth string) (values []map[string]any, pages int) {
	t.Helper()
	for url != "" {
		r := call(t, "GET", url, auth, nil)
		wantStatus(t, r, 200)
		m := r.json(t)
		for _, v := range m["values"].([]any) {
			values = append(values, v.(map[string]any))
		}
		pages++
		next, _ := m["next"].(string)
		url = next
		if pages > 1000 {
			t.Fatal("pagination does not end")
		}
	}
	return values, pages
}

func callForm(t testing.TB, url, auth, form string) resp {
	t.Helper()
	req, err := http.NewRequest("POST", url, strings.NewReader(form))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", auth)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: data}
}

func jsonBody(v any) io.Reader {
	data, _ := json.Marshal(v)
	return bytes.NewReader(data)
}
