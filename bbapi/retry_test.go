package bbapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// failThen answers the first n requests with status (and Retry-After if given), then
// 200 with body.
func failThen(n int32, status int, retryAfter string, body any) (http.HandlerFunc, *atomic.Int32) {
	var calls atomic.Int32
	return func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= n {
			if retryAfter != "" {
				w.Header().Set("Retry-After", retryAfter)
			}
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(status)
			if status == http.StatusTooManyRequests {
				io.WriteString(w, "Rate limit for this resource has been exceeded.")
			}
			return
		}
		writeJSON(w, 200, body)
	}, &calls
}

func TestRateLimitThenSuccess(t *testing.T) {
	var waits []Wait
	e := newEnv(t, nil, WithWaitHook(func(w Wait) { waits = append(waits, w) }))
	h, calls := failThen(2, 429, "", map[string]any{"uuid": "{u}"})
	e.handle("GET /user", h)
	u, resp, err := e.client.Users.Current(bg())
	if err != nil {
		t.Fatal(err)
	}
	if u.UUID != "{u}" || resp.Attempts != 3 || calls.Load() != 3 {
		t.Errorf("uuid=%s attempts=%d calls=%d", u.UUID, resp.Attempts, calls.Load())
	}
	// Jitter is pinned to its ceiling in tests: 1s, then 2s.
	if got := fmt.Sprint(e.clock.Sleeps()); got != "[1s 2s]" {
		t.Errorf("sleeps = %s", got)
	}
	if resp.Waited != 3*time.Second {
		t.Errorf("waited = %s", resp.Waited)
	}
	if len(waits) != 2 || waits[0].Reason != "rate limited" || waits[1].Delay != 2*time.Second {
		t.Errorf("wait hook saw %+v", waits)
	}
	if st := e.client.Stats(); st.Requests != 3 || st.Retries != 2 || st.Waited != 3*time.Second {
		t.Errorf("stats = %+v", st)
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	e := newEnv(t, nil)
	for _, tc := range []struct{ header, want string }{{"7", "[7s]"}, {"date", "[42s]"}} {
		e.clock.sleeps = nil
		if tc.header == "date" {
			tc.header = e.clock.Now().Add(42 * time.Second).UTC().Format(http.TimeFormat)
		}
		h, _ := failThen(1, 503, tc.header, map[string]any{"values": []any{}})
		e.mux.HandleFunc("GET "+basePath+"/repositories/ws-"+tc.want, h)
		if _, err := collect(e.client.Repositories.ListWorkspace(bg(), "ws-"+tc.want, nil)); err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(e.clock.Sleeps()); got != tc.want {
			t.Errorf("Retry-After %q: sleeps = %s, want %s", tc.header, got, tc.want)
		}
	}
}

func TestServiceUnavailableRetriesCapped(t *testing.T) {
	e := newEnv(t, nil, WithMaxWait(10*time.Second))
	h, calls := failThen(1000, 503, "", nil)
	e.handle("GET /user", h)
	_, resp, err := e.client.Users.Current(bg())
	var be *RetryBudgetError
	if !errors.As(err, &be) {
		t.Fatalf("err = %v, want a RetryBudgetError", err)
	}
	// 1s + 2s + 4s, then the 8s backoff is cut to half of the 3s left (the other half is
	// the final attempt's), then the run stops.
	if got := fmt.Sprint(e.clock.Sleeps()); got != "[1s 2s 4s 1.5s]" {
		t.Errorf("sleeps = %s", got)
	}
	if calls.Load() != 5 || be.Attempts != 5 || resp.Attempts != 5 || be.Waited != 8500*time.Millisecond {
		t.Errorf("calls=%d attempts=%d waited=%s", calls.Load(), be.Attempts, be.Waited)
	}
	msg := err.Error()
	for _, want := range []string{"503 Service Unavailable", "gave up after 5 attempts and 9s of waiting", "max wait 10s"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if codeOf(be) != 3 {
		t.Errorf("exit code %d", codeOf(be))
	}
	// The budget is the client's: the next call has only the 1.5s left: 1s, then half of
	// the 0.5s left, then it stops.
	_, _, err = e.client.Users.Current(bg())
	if !errors.As(err, &be) || be.Attempts != 3 || fmt.Sprint(e.clock.Sleeps()[4:]) != "[1s 250ms]" {
		t.Errorf("second call: err=%v sleeps=%v", err, e.clock.Sleeps())
	}
}

func TestRetryAfterBeyondBudgetGivesUpAtOnce(t *testing.T) {
	e := newEnv(t, nil, WithMaxWait(time.Minute))
	h, calls := failThen(1000, 429, "600", nil)
	e.handle("GET /user", h)
	_, _, err := e.client.Users.Current(bg())
	var be *RetryBudgetError
	if !errors.As(err, &be) || be.Needed != 10*time.Minute {
		t.Fatalf("err = %#v", err)
	}
	if !IsRateLimited(err) || calls.Load() != 1 || len(e.clock.Sleeps()) != 0 {
		t.Errorf("rate limited=%v calls=%d sleeps=%v", IsRateLimited(err), calls.Load(), e.clock.Sleeps())
	}
	if !strings.Contains(err.Error(), "bitbucket asked to wait 10m0s more") {
		t.Errorf("err = %v", err)
	}
}

func TestNotRetried(t *testing.T) {
	for _, status := range []int{400, 401, 403, 404, 500} {
		e := newEnv(t, nil)
		h, calls := failThen(1000, status, "", nil)
		e.handle("GET /user", h)
		_, _, err := e.client.Users.Current(bg())
		if err == nil || calls.Load() != 1 {
			t.Errorf("%d: err=%v calls=%d", status, err, calls.Load())
		}
	}
}

func TestZeroMaxWaitDisablesRetries(t *testing.T) {
	e := newEnv(t, nil, WithMaxWait(0))
	h, calls := failThen(1, 429, "", map[string]any{})
	e.handle("GET /user", h)
	_, _, err := e.client.Users.Current(bg())
	if !IsRateLimited(err) || calls.Load() != 1 {
		t.Errorf("err=%v calls=%d", err, calls.Load())
	}
}

func TestConnectionResetRetriedForGet(t *testing.T) {
	e := newEnv(t, nil)
	var calls atomic.Int32
	e.handle("GET /user", func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			resetConnection(t, w)
			return
		}
		writeJSON(w, 200, map[string]any{"uuid": "{u}"})
	})
	_, resp, err := e.client.Users.Current(bg())
	if err != nil {
		t.Fatal(err)
	}
	if resp.Attempts != 2 {
		t.Errorf("attempts = %d", resp.Attempts)
	}
}

// resetConnection makes the client see ECONNRESET: linger 0 turns close into a RST.
func resetConnection(t *testing.T, w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		t.Fatal(err)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	conn.Close()
}

func TestCancelWhileWaiting(t *testing.T) {
	ctx, cancel := context.WithCancel(bg())
	defer cancel()
	e := newEnv(t, nil, WithSleep(sleepContext), WithWaitHook(func(Wait) { cancel() }))
	h, calls := failThen(1000, 503, "", nil)
	e.handle("GET /user", h)
	_, _, err := e.client.Users.Current(ctx)
	if !errors.Is(err, context.Canceled) || calls.Load() != 1 {
		t.Errorf("err=%v calls=%d", err, calls.Load())
	}
}

func TestBudgetCountsOverlappingWaitsOnce(t *testing.T) {
	var b budget
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// Four workers start a 10s wait at the same moment: 10s used.
	for range 4 {
		if _, _, _, ok := b.reserve(t0, 10*time.Second, time.Minute, false); !ok {
			t.Fatal("refused")
		}
	}
	if b.waited != 10*time.Second {
		t.Errorf("waited = %s", b.waited)
	}
	// One starting 5s later for 10s adds the 5s beyond the others.
	b.reserve(t0.Add(5*time.Second), 10*time.Second, time.Minute, false)
	if b.waited != 15*time.Second {
		t.Errorf("waited = %s", b.waited)
	}
	// A server-requested wait that does not fit is refused whole; a backoff is cut.
	if _, _, _, ok := b.reserve(t0.Add(time.Hour), time.Hour, time.Minute, true); ok {
		t.Error("exact wait beyond the budget accepted")
	}
	// A backoff beyond the budget is cut to half of what is left, the other half kept for
	// one final attempt.
	if d, left, final, ok := b.reserve(t0.Add(time.Hour), time.Hour, time.Minute, false); !ok || !final || d != 22500*time.Millisecond || left != 22500*time.Millisecond {
		t.Errorf("cut backoff = %s left %s final %v ok %v", d, left, final, ok)
	}
}

func TestRetryAfterParsing(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		v    string
		want time.Duration
	}{
		{"", -1}, {"12", 12 * time.Second}, {"-3", -1}, {"soon", -1},
		{now.Add(time.Minute).Format(http.TimeFormat), time.Minute},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
	} {
		h := http.Header{}
		if tc.v != "" {
			h.Set("Retry-After", tc.v)
		}
		if got := retryAfter(h, now); got != tc.want {
			t.Errorf("Retry-After %q = %s, want %s", tc.v, got, tc.want)
		}
	}
}

func TestFullJitterBounds(t *testing.T) {
	for range 1000 {
		if d := fullJitter(4 * time.Second); d < 0 || d > 4*time.Second {
			t.Fatalf("jitter %s out of [0, 4s]", d)
		}
	}
	if fullJitter(0) != 0 {
		t.Error("jitter of 0")
	}
}

// silentListener accepts connections on loopback and never answers (nor closes them
// until the test ends): a hung API.
func silentListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + ln.Addr().String()
}

// Issue 13, defect 4: --max-wait bounds the whole run against a server that accepts
// connections and never answers: the time inside an attempt is counted, an attempt is cut
// when the budget ends, and later calls are not sent. The HTTP client's own timeout is a
// minute, as bbkey's is with the default --max-wait; the test only asserts that the calls
// end well within that (a generous bound: "finishes, does not hang").
func TestMaxWaitBoundsAHungServer(t *testing.T) {
	url := silentListener(t)
	var waits []Wait
	c, err := NewClient(url+basePath, nil, WithMaxWait(3*time.Second),
		WithHTTPClient(&http.Client{Timeout: time.Minute}), WithWaitHook(func(w Wait) { waits = append(waits, w) }))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, _, err = c.Users.Current(ctx)
	if ctx.Err() != nil {
		t.Fatal("the call ran into the test's 30s bound: --max-wait did not end it")
	}
	var be *RetryBudgetError
	if !errors.As(err, &be) || codeOf(be) != 3 || len(hintsOf(be)) == 0 {
		t.Fatalf("err = %v, want a RetryBudgetError (exit 3)", err)
	}
	// At most one last attempt of minAttempt goes beyond the budget.
	if st := c.Stats(); st.Waited > 3*time.Second+minAttempt+500*time.Millisecond || st.Waited < 2900*time.Millisecond {
		t.Errorf("budget used %s of 3s", st.Waited)
	}
	for _, w := range waits {
		if w.Reason != "timed out" {
			t.Errorf("wait %+v, want timed out", w)
		}
	}
	// The budget is spent: the next call is not sent at all.
	_, _, err = c.Users.Current(ctx)
	if !errors.As(err, &be) || be.Attempts != 0 || !strings.Contains(err.Error(), "used up") {
		t.Errorf("second call: %v, want not sent", err)
	}
	if ctx.Err() != nil {
		t.Fatal("the second call ran into the test's bound")
	}
}
