package bbapitest_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bbkey/bbkey/bbapi/bbapitest"
)

func TestFailNext(t *testing.T) {
	s := bbapitest.Start(t, bbapitest.WithSpecValidation(t))
	s.FailNext(bbapitest.Match("GET", "/2.0/user"), 2, http.StatusBadGateway, bbapitest.BodyHTML)
	for range 2 {
		r := call(t, "GET", s.APIURL()+"/user", ada(s), nil)
		wantStatus(t, r, 502)
		if !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") || string(r.body) != bbapitest.BodyHTML {
			t.Errorf("fault body %q type %q", r.body, r.header.Get("Content-Type"))
		}
	}
	// Other requests are untouched, and the fault is used up.
	wantStatus(t, call(t, "GET", s.APIURL()+"/repositories/acme", ada(s), nil), 200)
	wantStatus(t, call(t, "GET", s.APIURL()+"/user", ada(s), nil), 200)
	var faults int
	for _, r := range s.Requests() {
		if r.Fault {
			faults++
		}
	}
	if faults != 2 {
		t.Errorf("request log shows %d faults", faults)
	}
}

func TestFailNth(t *testing.T) {
	s := bbapitest.Start(t)
	match := bbapitest.Match("POST", "/2.0/repositories/*/*/deploy-keys")
	s.FailNth(match, 3, http.StatusInternalServerError, bbapitest.BodyMalformedJSON)
	for i, repo := range []string{"api", "web", "infra"} {
		line, _ := newPub(t, repo)
		r := call(t, "POST", s.APIURL()+"/repositories/acme/"+repo+"/deploy-keys", ada(s), map[string]string{"key": line})
		if i < 2 {
			wantStatus(t, r, 200)
			continue
		}
		wantStatus(t, r, 500)
		if string(r.body) != bbapitest.BodyMalformedJSON || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
			t.Errorf("fault body %q", r.body)
		}
	}
	if got := len(s.RepoDeployKeys("acme", "infra")); got != 0 {
		t.Errorf("the failed request still added a key")
	}
}

func TestPlainAndOversizedBodies(t *testing.T) {
	s := bbapitest.Start(t)
	s.FailNext(bbapitest.MatchAll(), 1, http.StatusServiceUnavailable, bbapitest.BodyPlain)
	s.FailNext(bbapitest.MatchAll(), 1, http.StatusOK, bbapitest.BodyOversized(1<<20))
	r := call(t, "GET", s.APIURL()+"/user", ada(s), nil)
	wantStatus(t, r, 503)
	if !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		t.Errorf("plain body type %q", r.header.Get("Content-Type"))
	}
	r = call(t, "GET", s.APIURL()+"/user", ada(s), nil)
	if len(r.body) != 1<<20 {
		t.Errorf("oversized body is %d bytes", len(r.body))
	}
}

func TestResetConnections(t *testing.T) {
	s := bbapitest.Start(t)
	s.ResetConnections(bbapitest.Match("", "/2.0/repositories/**"), 1)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	req, _ := http.NewRequest("GET", s.APIURL()+"/repositories/acme", nil)
	req.Header.Set("Authorization", ada(s))
	res, err := client.Do(req)
	if err == nil {
		res.Body.Close()
		t.Fatalf("reset connection answered %d", res.StatusCode)
	}
	wantStatus(t, call(t, "GET", s.APIURL()+"/repositories/acme", ada(s), nil), 200)
	reqs := s.Requests()
	if reqs[0].Status != 0 || !reqs[0].Fault {
		t.Errorf("log of the reset request: %+v", reqs[0])
	}
}

func TestHang(t *testing.T) {
	s := bbapitest.Start(t)
	s.Hang(bbapitest.Match("GET", "/2.0/user"), 1)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "GET", s.APIURL()+"/user", nil)
		req.Header.Set("Authorization", ada(s))
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
		errc <- err
	}()
	// The request stays unanswered until the client gives up.
	waitFor(t, func() bool { return s.Hanging() == 1 })
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("hung request ended with %v", err)
	}
	wantStatus(t, call(t, "GET", s.APIURL()+"/user", ada(s), nil), 200)
}

func TestLatency(t *testing.T) {
	s := bbapitest.Start(t, bbapitest.WithLatency(time.Hour))
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "GET", s.APIURL()+"/user", nil)
		req.Header.Set("Authorization", ada(s))
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
		}
		errc <- err
	}()
	waitFor(t, func() bool { return s.Hanging() == 1 })
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("delayed request ended with %v", err)
	}
	s.SetLatency(0)
	wantStatus(t, call(t, "GET", s.APIURL()+"/user", ada(s), nil), 200)
}

// waitFor polls cond; it bounds the wait only to keep a broken test from running forever.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for range 2000 {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("condition never became true")
}
