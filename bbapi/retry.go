package bbapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bbkey/bbkey/internal/text"
)

const (
	backoffBase = time.Second
	backoffCap  = time.Minute
	// maxAttempts bounds one call even if a fake clock never lets the budget run out.
	maxAttempts = 30
	// minAttempt is the least time an attempt is given, however little of --max-wait is
	// left: a last attempt must have time to be answered. A hung server thus stops a run
	// at most this much after --max-wait.
	minAttempt = 2 * time.Second
)

// Wait describes one pause before a retry, for progress output.
type Wait struct {
	Method string
	URL    string // redacted
	Delay  time.Duration
	// Reason is short and printable: "rate limited", "503 Service Unavailable",
	// "connection reset".
	Reason string
	// Remaining is what is left of the client's wait budget after this pause.
	Remaining time.Duration
}

// Stats counts a client's work so far.
type Stats struct {
	// Requests is the number of HTTP requests sent (attempts, token fetches included).
	Requests int
	// Retries is the number of attempts that were repeated after a wait.
	Retries int
	// Waited is the wall-clock time during which at least one request was waiting.
	Waited time.Duration
}

// Stats returns the client's counters.
func (c *Client) Stats() Stats {
	c.budget.mu.Lock()
	defer c.budget.mu.Unlock()
	return Stats{Requests: c.budget.requests, Retries: c.budget.retries, Waited: c.budget.waited}
}

// budget is the client-wide allowance for waiting. Waits of concurrent requests overlap
// in time, so it counts the union of the waiting intervals: four workers backing off
// together for 10s use 10s of --max-wait, not 40s.
type budget struct {
	mu        sync.Mutex
	waited    time.Duration
	busyUntil time.Time
	requests  int
	retries   int
}

func (b *budget) countRequest() {
	b.mu.Lock()
	b.requests++
	b.mu.Unlock()
}

// spend books the time of an attempt that failed, from start to end: a server that
// accepts the connection and never answers uses --max-wait as a pause does.
func (b *budget) spend(start, end time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.busyUntil.After(start) {
		start = b.busyUntil
	}
	if end.After(start) {
		b.waited += end.Sub(start)
		b.busyUntil = end
	}
}

// left is what remains of the budget limit.
func (b *budget) left(limit time.Duration) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return limit - b.waited
}

// reserve books a wait of d starting at now. A backoff longer than what is left is
// shortened to half of it, leaving the other half for one last attempt (final), which is
// still worth making; a wait the server asked for (exact) is not, because coming back
// earlier is pointless.
func (b *budget) reserve(now time.Time, d, limit time.Duration, exact bool) (wait, left time.Duration, final, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	start := now
	if b.busyUntil.After(start) {
		start = b.busyUntil
	}
	added := max(now.Add(d).Sub(start), 0)
	remaining := limit - b.waited
	if added > remaining {
		if exact || remaining <= 0 {
			return 0, max(remaining, 0), false, false
		}
		d -= added - remaining/2
		added = remaining / 2
		final = true
	}
	b.waited += added
	if end := now.Add(d); end.After(b.busyUntil) {
		b.busyUntil = end
	}
	b.retries++
	return d, remaining - added, final, true
}

// RetryBudgetError reports that a call gave up because waiting longer would exceed the
// client's total wait budget (bbkey's --max-wait). Callers report the run as partial.
type RetryBudgetError struct {
	Attempts int
	// Waited is how long this call waited in all.
	Waited time.Duration
	// MaxWait is the client's budget.
	MaxWait time.Duration
	// Needed is the wait Bitbucket asked for (Retry-After) that did not fit, if any.
	Needed time.Duration
	// Err is the last failure.
	Err error
}

func (e *RetryBudgetError) Error() string {
	s := fmt.Sprintf("%v; gave up after %d %s and %s of waiting (max wait %s)", e.Err, e.Attempts, text.Plural(e.Attempts, "attempt", "attempts"), roundDur(e.Waited), roundDur(e.MaxWait))
	if e.Needed > 0 {
		s += fmt.Sprintf("; bitbucket asked to wait %s more", roundDur(e.Needed))
	}
	return s
}

func (e *RetryBudgetError) Unwrap() error { return e.Err }

func roundDur(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Round(time.Second)
	}
	return d.Round(time.Millisecond)
}

type cleanupKey struct{}

// Cleanup marks ctx for the calls that take back what a failed run did (deleting a key it
// uploaded): they are sent even when --max-wait is spent, bounded by ctx (give it a
// deadline) and the HTTP client's timeout, and retried only within what is left.
func Cleanup(ctx context.Context) context.Context { return context.WithValue(ctx, cleanupKey{}, true) }

// retry runs one call: it sends, and on a transient failure waits and sends again until
// it succeeds, fails for good, the context ends, or the budget runs out.
func (c *Client) retry(ctx context.Context, cl *Call, body []byte) (*Response, []byte, error) {
	var waited time.Duration
	refreshed, lastTry := false, false
	for attempt := 1; ; attempt++ {
		// --max-wait bounds the whole run: an attempt may last no longer than what is
		// left of it, and a failed attempt's time is taken from it.
		actx, cancel := ctx, context.CancelFunc(func() {})
		if c.maxWait > 0 && ctx.Value(cleanupKey{}) == nil {
			left := c.budget.left(c.maxWait)
			if left <= 0 {
				return &Response{Attempts: attempt - 1, Waited: waited}, nil, &RetryBudgetError{Attempts: attempt - 1, Waited: waited, MaxWait: c.maxWait,
					Err: fmt.Errorf("%s %s: not sent: the wait budget (max wait) is used up", cl.Method, c.RedactURL(cl.URL))}
			}
			// Half of what is left, so that a hung attempt still leaves time to try again.
			actx, cancel = context.WithTimeout(ctx, max(left/2, minAttempt))
		}
		start := c.now()
		hr, raw, err := c.send(actx, cl, body)
		budgetOut := actx.Err() != nil && ctx.Err() == nil
		cancel()
		r := &Response{Response: hr, Attempts: attempt, Waited: waited}
		if err == nil && hr.StatusCode >= 200 && hr.StatusCode < 300 {
			return r, raw, nil
		}
		if err != nil && budgetOut {
			// The attempt had its share of what is left and got no answer: its time is
			// taken from the budget, and when none is left the run stops; else it is a
			// timeout like any other, retried below.
			c.budget.spend(start, c.now())
			if c.budget.left(c.maxWait) <= 0 {
				return r, nil, &RetryBudgetError{Attempts: attempt, Waited: waited + c.now().Sub(start), MaxWait: c.maxWait,
					Err: fmt.Errorf("%s %s: no answer: %w", cl.Method, c.RedactURL(cl.URL), context.DeadlineExceeded)}
			}
		}
		if err == nil {
			err = c.newError(cl, hr, raw)
			// An expired OAuth token: fetch a fresh one and try once more at once. A 401
			// means the request was not processed, so this is safe for a POST as well.
			if hr.StatusCode == http.StatusUnauthorized && !refreshed {
				if inv, ok := c.cred.(Invalidator); ok && inv.Invalidate(hr.Request.Header.Get("Authorization")) {
					refreshed = true
					continue
				}
			}
		}
		if ctx.Err() != nil {
			return r, nil, fmt.Errorf("%s %s: %w", cl.Method, c.RedactURL(cl.URL), context.Cause(ctx))
		}
		reason, landed, ok := transient(err)
		if !ok {
			return r, raw, err
		}
		c.budget.spend(start, c.now())
		if landed && cl.Method == http.MethodPost {
			cl.MayHaveLanded = true
		}
		delay, exact := c.backoff(attempt), false
		if hr != nil {
			if ra := retryAfter(hr.Header, c.now()); ra >= 0 {
				delay, exact = ra, true
			}
		} else if rl, ok := errors.AsType[*RateLimitError](err); ok && rl.HasRetryAfter {
			delay, exact = rl.RetryAfter, true // the OAuth token endpoint's 429
		}
		if attempt >= maxAttempts || lastTry {
			return r, nil, &RetryBudgetError{Attempts: attempt, Waited: waited, MaxWait: c.maxWait, Err: err}
		}
		d, remaining, final, ok := c.budget.reserve(c.now(), delay, c.maxWait, exact)
		lastTry = final
		if !ok {
			be := &RetryBudgetError{Attempts: attempt, Waited: waited, MaxWait: c.maxWait, Err: err}
			if exact {
				be.Needed = delay
			}
			return r, nil, be
		}
		if c.onWait != nil {
			c.onWait(Wait{Method: cl.Method, URL: c.RedactURL(cl.URL), Delay: d, Reason: reason, Remaining: remaining})
		}
		c.debugf("# waiting %s before retrying %s %s (%s)\n", roundDur(d), cl.Method, c.RedactURL(cl.URL), reason)
		if err := c.sleep(ctx, d); err != nil {
			return r, nil, fmt.Errorf("%s %s: waiting to retry: %w", cl.Method, c.RedactURL(cl.URL), err)
		}
		waited += d
	}
}

// transient classifies a failure: whether to retry, a printable reason, and whether the
// request may have been processed anyway (a gateway error
// or a cut connection can hide a POST that landed; a 429 cannot).
func transient(err error) (reason string, mayHaveLanded, retry bool) {
	var rl *RateLimitError
	if errors.As(err, &rl) {
		return "rate limited", false, true
	}
	var er *ErrorResponse
	if errors.As(err, &er) {
		switch er.StatusCode {
		case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return fmt.Sprintf("%d %s", er.StatusCode, http.StatusText(er.StatusCode)), true, true
		}
		return "", false, false
	}
	var ne *netError
	if !errors.As(err, &ne) {
		return "", false, false
	}
	switch {
	case isConnReset(err):
		return "connection reset", true, true
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed early", true, true
	}
	if nerr, ok := errors.AsType[net.Error](err); ok && nerr.Timeout() {
		return "timed out", true, true
	}
	return "", false, false
}

// backoff is exponential with full jitter: a uniform wait in [0, min(cap, base·2^(n-1))].
func (c *Client) backoff(attempt int) time.Duration {
	ceiling := backoffCap
	if attempt < 20 {
		ceiling = min(backoffCap, backoffBase<<(attempt-1))
	}
	return c.jitter(ceiling)
}

func fullJitter(ceiling time.Duration) time.Duration {
	if ceiling <= 0 {
		return 0
	}
	return rand.N(ceiling + 1)
}

// retryAfter reads Retry-After as seconds or an HTTP date (Bitbucket Cloud sends none,
// Data Center does). It returns -1 when absent or unreadable.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return -1
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return -1
		}
		return time.Duration(min(n, int64(24*time.Hour/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return -1
}

func sleepContext(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}
