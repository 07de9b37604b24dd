package bbapi

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// basePath is deliberately not "/": URL building must keep it (go-github's lesson).
const basePath = "/api/2.0"

// fakeClock is a clock whose sleeps advance it instantly and are recorded.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

func (f *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sleeps = append(f.sleeps, d)
	f.now = f.now.Add(d)
	return nil
}

func (f *fakeClock) Sleeps() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.sleeps...)
}

type env struct {
	srv    *httptest.Server
	mux    *http.ServeMux
	client *Client
	clock  *fakeClock
	debug  *syncBuffer
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newEnv starts an httptest server serving mux under basePath and a client for it with
// a fake clock, deterministic jitter (always the ceiling) and a debug trace.
func newEnv(t testing.TB, cred Credential, opts ...Option) *env {
	t.Helper()
	e := &env{mux: http.NewServeMux(), clock: newFakeClock(), debug: &syncBuffer{}}
	e.srv = httptest.NewServer(e.mux)
	t.Cleanup(e.srv.Close)
	all := append([]Option{
		WithClock(e.clock.Now), WithSleep(e.clock.Sleep), WithDebug(e.debug), WithVersion("1.2.3"),
		WithHTTPClient(e.srv.Client()),
	}, opts...)
	c, err := NewClient(e.srv.URL+basePath, cred, all...)
	if err != nil {
		t.Fatal(err)
	}
	c.jitter = func(ceiling time.Duration) time.Duration { return ceiling }
	e.client = c
	return e
}

func (e *env) handle(pattern string, h http.HandlerFunc) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		method, path = "", pattern
	}
	if method != "" {
		method += " "
	}
	e.mux.HandleFunc(method+basePath+path, h)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func bbError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"type": "error", "error": map[string]any{"message": msg}})
}

// newPublicKey returns a fresh ed25519 key as an authorized_keys line and its
// fingerprint as ssh-keygen prints it.
func newPublicKey(t testing.TB, comment string) (string, string) {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk))) + " " + comment
	return line, ssh.FingerprintSHA256(pk)
}

// bitbucketFingerprint is the form Bitbucket sends: no prefix, no padding.
func bitbucketFingerprint(fp string) string { return strings.TrimPrefix(fp, "SHA256:") }

func bg() context.Context { return context.Background() }
