package bbapitest

import (
	"io"
	"net"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"
)

// Request is one HTTP request the server received, as the request log keeps it. The
// Authorization value is never stored.
type Request struct {
	Method       string
	Path         string // unescaped
	RawQuery     string
	Status       int    // 0 when the connection was reset or the request hung
	AuthScheme   string // "basic", "bearer" or "" for none
	Repositories bool   // the path is under /2.0/repositories/ (the rate-limited group)
	Fault        bool   // an injected fault answered it
	Time         time.Time
}

// Requests returns a copy of the request log, oldest first.
func (s *Server) Requests() []Request {
	s.reqMu.Lock()
	defer s.reqMu.Unlock()
	return slices.Clone(s.requests)
}

// ResetRequests empties the request log.
func (s *Server) ResetRequests() {
	s.reqMu.Lock()
	defer s.reqMu.Unlock()
	s.requests = nil
	s.requestsGen++
}

// Matcher selects requests for a fault.
type Matcher func(*http.Request) bool

// MatchAll matches every request.
func MatchAll() Matcher { return func(*http.Request) bool { return true } }

// Match matches requests whose method is method ("" for any) and whose unescaped path
// matches the path.Match pattern, e.g. Match("POST", "/2.0/repositories/*/*/deploy-keys").
// A pattern ending in "/**" also matches everything below its prefix.
func Match(method, pattern string) Matcher {
	return func(r *http.Request) bool {
		if method != "" && !strings.EqualFold(method, r.Method) {
			return false
		}
		if prefix, ok := strings.CutSuffix(pattern, "/**"); ok {
			return r.URL.Path == prefix || strings.HasPrefix(r.URL.Path, prefix+"/")
		}
		ok, _ := path.Match(pattern, r.URL.Path)
		return ok
	}
}

// Bodies for FailNext and FailNth that imitate what a proxy or a broken server sends.
const (
	BodyHTML          = "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>\n"
	BodyPlain         = "Service Unavailable\n"
	BodyMalformedJSON = `{"type": "error", "error": {"message": "trunc`
)

// BodyOversized is a body of n bytes of valid-looking JSON, for testing read limits.
func BodyOversized(n int) string {
	const head, tail = `{"type": "error", "error": {"message": "`, `"}}`
	if n < len(head)+len(tail) {
		n = len(head) + len(tail)
	}
	return head + strings.Repeat("x", n-len(head)-len(tail)) + tail
}

type faultKind int

const (
	faultStatus faultKind = iota
	faultReset
	faultHang
)

type fault struct {
	match  Matcher
	kind   faultKind
	skip   int // matching requests to let through first
	left   int // matching requests to fault after that
	status int
	body   string
}

// FailNext answers the next n requests that match with status and body (its content
// type is guessed from the body: JSON, HTML or plain text).
func (s *Server) FailNext(match Matcher, n, status int, body string) {
	s.addFault(&fault{match: match, kind: faultStatus, left: n, status: status, body: body})
}

// FailNth lets nth-1 matching requests through, then answers the nth with status and body.
func (s *Server) FailNth(match Matcher, nth, status int, body string) {
	s.addFault(&fault{match: match, kind: faultStatus, skip: max(nth-1, 0), left: 1, status: status, body: body})
}

// ResetConnections drops the connection (TCP reset, no response) of the next n matching
// requests.
func (s *Server) ResetConnections(match Matcher, n int) {
	s.addFault(&fault{match: match, kind: faultReset, left: n})
}

// Hang never answers the next n matching requests: each waits until the client gives up
// or the server closes, so clients can test their timeouts.
func (s *Server) Hang(match Matcher, n int) {
	s.addFault(&fault{match: match, kind: faultHang, left: n})
}

// ClearFaults removes every pending fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

func (s *Server) addFault(f *fault) {
	if f.match == nil {
		f.match = MatchAll()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f)
}

// takeFault consumes the first pending fault that applies to r. Every fault whose matcher
// accepts r counts r, so FailNth counts requests regardless of other faults.
func (s *Server) takeFault(r *http.Request) *fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	var hit *fault
	for _, f := range s.faults {
		if f.left <= 0 || !f.match(r) {
			continue
		}
		if f.skip > 0 {
			f.skip--
			continue
		}
		if hit == nil {
			hit = f
			f.left--
		}
	}
	s.faults = slices.DeleteFunc(s.faults, func(f *fault) bool { return f.left <= 0 })
	return hit
}

// answerStatus is the status the fault answers with: 0 for a reset or a hang.
func (f *fault) answerStatus() int {
	if f.kind == faultReset || f.kind == faultHang {
		return 0
	}
	return f.status
}

func (s *Server) serveFault(w http.ResponseWriter, r *http.Request, f *fault) int {
	switch f.kind {
	case faultReset:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				if tc, ok := conn.(*net.TCPConn); ok {
					_ = tc.SetLinger(0) // RST instead of FIN
				}
				_ = conn.Close()
				return 0
			}
		}
		panic(http.ErrAbortHandler)
	case faultHang:
		s.addHanging(1)
		defer s.addHanging(-1)
		// net/http notices a client hanging up (and cancels r.Context()) only once the
		// request body has been read: without this a hung POST stayed in the handler, and
		// out of the request log, until Close.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-s.closed:
		}
		return 0
	}
	ct := "text/plain; charset=utf-8"
	switch t := strings.TrimSpace(f.body); {
	case strings.HasPrefix(t, "{") || strings.HasPrefix(t, "["):
		ct = "application/json; charset=utf-8"
	case strings.HasPrefix(t, "<"):
		ct = "text/html; charset=utf-8"
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(f.status)
	_, _ = w.Write([]byte(f.body))
	return f.status
}

// overBudget counts a request to /2.0/repositories/* against the credential's rolling
// hour and reports whether it is over the limit.
func (s *Server) overBudget(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rateLimit <= 0 {
		return false
	}
	now := s.now()
	log := slices.DeleteFunc(s.rateLog[id], func(t time.Time) bool { return now.Sub(t) >= time.Hour })
	if len(log) >= s.rateLimit {
		s.rateLog[id] = log
		return true
	}
	s.rateLog[id] = append(log, now)
	return false
}

// Hanging is the number of requests now held by Hang or by latency, so tests can wait for
// a request to be in flight without sleeping.
func (s *Server) Hanging() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hanging
}

func (s *Server) addHanging(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hanging += n
}
