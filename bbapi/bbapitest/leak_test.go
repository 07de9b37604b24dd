package bbapitest_test

import (
	"fmt"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/bbkey/bbkey/bbapi/bbapitest"
)

// After Close, every goroutine the server started (HTTP, SSH connections, sessions, git
// plumbing) is gone.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	s, err := bbapitest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	e := newSSHEnv(t, s)
	key, pub := e.keygen("leak")
	client := &http.Client{Transport: &http.Transport{}}
	req, _ := http.NewRequest("POST", s.APIURL()+"/users/"+bbapitest.DefaultAccountID+"/ssh-keys", jsonBody(map[string]string{"key": pub}))
	req.Header.Set("Authorization", ada(s))
	req.Header.Set("Content-Type", "application/json")
	res, err := client.Do(req)
	if err != nil || res.StatusCode != 201 {
		t.Fatalf("add key: %v %v", err, res)
	}
	res.Body.Close()
	if _, se, err := e.git(key, t.TempDir(), "clone", "git@127.0.0.1:acme/api.git", "api"); err != nil {
		t.Fatalf("clone: %v %s", err, se)
	}
	client.CloseIdleConnections()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var now int
	for range 400 {
		if now = runtime.NumGoroutine(); now <= before {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	buf := make([]byte, 1<<20)
	t.Fatalf("%d goroutines before, %d after Close:\n%s", before, now, buf[:runtime.Stack(buf, true)])
}

func BenchmarkAddRepo(b *testing.B) {
	s := bbapitest.Start(b, bbapitest.WithoutSeed())
	if _, err := s.AddUser(bbapitest.User{Email: "b@example.com"}); err != nil {
		b.Fatal(err)
	}
	_ = s.AddWorkspace("w", "", "b@example.com")
	_ = s.AddProject("w", "P", "")
	b.ResetTimer()
	for i := range b.N {
		if err := s.AddRepo("w", fmt.Sprintf("r%d", i), "P"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkList500Repos lists a 500-repository workspace as a client would, following
// next with pagelen=100 (5 requests).
func BenchmarkList500Repos(b *testing.B) {
	s := bbapitest.Start(b)
	for i := range 497 {
		if err := s.AddRepo("acme", fmt.Sprintf("svc-%03d", i), "OPS"); err != nil {
			b.Fatal(err)
		}
	}
	s.SetRateLimit(0)
	b.ResetTimer()
	for range b.N {
		values, pages := collect(b, s.APIURL()+"/repositories/acme?pagelen=100", ada(s))
		if len(values) != 500 || pages != 5 {
			b.Fatalf("%d repositories in %d pages", len(values), pages)
		}
	}
}
