// Package bbapi is bbkey's HTTP client for Bitbucket: Cloud's REST API 2.0 here, and the
// transport that bbapi/dc, the Data Center client, shares. It is shaped like go-github: a
// Client, one service per resource, and lists as iter.Seq2 iterators.
//
// Because bbkey runs unattended on build servers, the client: speaks HTTPS only (plain
// http on loopback alone, for the emulator); never sends the Authorization header to
// another host (a redirect, a `next` link, a `links.self.href`); retries rate limits,
// gateway errors and cut connections with jittered backoff and Retry-After within one
// budget shared by all its requests (--max-wait); reconciles a POST that may have landed
// by looking the key up rather than repeating it; caps bodies; and redacts credentials
// from every error and from the --debug trace.
package bbapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

const (
	// DefaultBaseURL is Bitbucket Cloud's REST API.
	DefaultBaseURL = "https://api.bitbucket.org/2.0"
	DefaultPageLen = 100 // Bitbucket Cloud's maximum
	DefaultMaxWait = 5 * time.Minute
	DefaultTimeout = 60 * time.Second // one HTTP exchange, when the HTTP client has none
	// MaxBodySize caps a response body; Bitbucket's largest page is far below it.
	MaxBodySize = 8 << 20
)

// Client talks to a Bitbucket REST API. It is safe for concurrent use.
type Client struct {
	base      *url.URL // no trailing slash
	cred      Credential
	hc        *http.Client
	userAgent string
	debug     io.Writer
	debugMu   sync.Mutex
	now       func() time.Time
	sleep     func(context.Context, time.Duration) error
	jitter    func(time.Duration) time.Duration
	maxWait   time.Duration
	onWait    func(Wait)
	budget    budget

	Users        *UsersService
	SSHKeys      *SSHKeysService
	Repositories *RepositoriesService
	Projects     *ProjectsService
}

type service struct{ c *Client }

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client, of which bbapi uses a copy with its own redirect
// policy on top.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			cp := *hc
			c.hc = &cp
		}
	}
}

// WithVersion sets the User-Agent to bbkey/<version>.
func WithVersion(version string) Option {
	return func(c *Client) {
		if version != "" {
			c.userAgent = "bbkey/" + version
		}
	}
}

// WithDebug writes a trace of every HTTP exchange to w (--debug), credentials masked.
func WithDebug(w io.Writer) Option { return func(c *Client) { c.debug = w } }

// WithClock replaces the clock (OAuth token expiry, the wait budget).
func WithClock(now func() time.Time) Option {
	return func(c *Client) {
		if now != nil {
			c.now = now
		}
	}
}

// WithMaxWait sets the total time the client may spend waiting out rate limits and
// retries, summed over all its requests (--max-wait). Zero disables retries.
func WithMaxWait(d time.Duration) Option { return func(c *Client) { c.maxWait = max(d, 0) } }

// WithWaitHook calls fn, from the requesting goroutine, before every wait.
func WithWaitHook(fn func(Wait)) Option { return func(c *Client) { c.onWait = fn } }

// NewClient returns a client for the API at baseURL (DefaultBaseURL when empty),
// authenticating with cred (nil for anonymous requests). baseURL must be https, or http
// on a loopback address.
func NewClient(baseURL string, cred Credential, opts ...Option) (*Client, error) {
	if baseURL == "" {
		baseURL = DefaultBaseURL
	}
	base, err := parseSafeURL(baseURL)
	if err != nil {
		return nil, fmt.Errorf("bitbucket api url: %w", err)
	}
	if base.RawQuery != "" || base.Fragment != "" {
		return nil, fmt.Errorf("bitbucket api url %s: must not have a query or fragment", base.Redacted())
	}
	base.Path = strings.TrimRight(base.Path, "/")
	base.RawPath = ""
	c := &Client{
		base:      base,
		cred:      cred,
		userAgent: "bbkey/dev",
		now:       time.Now,
		sleep:     sleepContext,
		jitter:    fullJitter,
		maxWait:   DefaultMaxWait,
	}
	for _, o := range opts {
		o(c)
	}
	if c.hc == nil {
		c.hc = defaultHTTPClient()
	}
	if c.hc.Timeout == 0 {
		c.hc.Timeout = DefaultTimeout
	}
	c.hc.CheckRedirect = checkRedirect(c.hc.CheckRedirect)
	if o, ok := cred.(*OAuthClient); ok {
		if _, err := parseSafeURL(o.tokenURL()); err != nil {
			return nil, fmt.Errorf("oauth token url: %w", err)
		}
	}
	s := service{c}
	c.Users = (*UsersService)(&s)
	c.SSHKeys = (*SSHKeysService)(&s)
	c.Repositories = (*RepositoriesService)(&s)
	c.Projects = (*ProjectsService)(&s)
	return c, nil
}

// BaseURL returns the API base URL, without a trailing slash.
func (c *Client) BaseURL() string { return c.base.String() }

// Credential returns the credential the client authenticates with (nil if anonymous).
func (c *Client) Credential() Credential { return c.cred }

func defaultHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSHandshakeTimeout = 10 * time.Second
	t.ResponseHeaderTimeout = 45 * time.Second
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	return &http.Client{Transport: t, Timeout: DefaultTimeout}
}

// Response wraps the HTTP response of the last attempt; its body has been read.
type Response struct {
	*http.Response
	Attempts int           // HTTP requests the call took
	Waited   time.Duration // between attempts
	// Reconciled is set when an add answered "already added" and the key was then found
	// by fingerprint: the returned object was looked up, not created by this answer.
	Reconciled bool
}

// Scopes returns the scopes of the x-oauth-scopes header, or nil.
func (r *Response) Scopes() []string {
	if r == nil || r.Response == nil {
		return nil
	}
	return splitScopes(r.Header.Get("X-Oauth-Scopes"))
}

func splitScopes(h string) []string {
	var out []string
	for s := range strings.FieldsFuncSeq(h, func(r rune) bool { return r == ',' || r == ' ' }) {
		out = append(out, s)
	}
	return out
}

// URL returns the base URL joined with segments, each percent-encoded on its own so that
// no value can change the shape of the path; "", "." and ".." are refused.
func (c *Client) URL(segments ...string) (*url.URL, error) {
	var b strings.Builder
	b.WriteString(c.base.EscapedPath())
	for _, s := range segments {
		if s == "" || s == "." || s == ".." {
			return nil, fmt.Errorf("invalid path segment %q", s)
		}
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	u := *c.base
	p, err := url.PathUnescape(b.String())
	if err != nil {
		return nil, fmt.Errorf("invalid path %q: %w", b.String(), err)
	}
	u.Path, u.RawPath = p, b.String()
	return &u, nil
}

// apiURL accepts a URL Bitbucket returned (a `next` link, a `links.self.href`) only if it
// points back into the API, on its origin and under its base path: anything else would
// send the credential elsewhere. Query and fragment are dropped unless keepQuery.
func (c *Client) apiURL(raw string, keepQuery bool) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("invalid url from bitbucket: %w", err)
	}
	if !sameOrigin(u, c.base) || u.User != nil {
		return nil, fmt.Errorf("refusing url %s from bitbucket: not on %s", redactURL(u), c.base.Host)
	}
	if !strings.HasPrefix(u.Path+"/", c.base.Path+"/") {
		return nil, fmt.Errorf("refusing url %s from bitbucket: outside %s", redactURL(u), c.base.Path)
	}
	if !keepQuery {
		u.RawQuery, u.Fragment = "", ""
	}
	return u, nil
}

func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Host, b.Host)
}

// selfURL prefers the links.self.href Bitbucket returned for an object, falling back to
// the path built from segments when it is absent or points elsewhere.
func (c *Client) selfURL(href string, segments ...string) (*url.URL, error) {
	if u, err := c.apiURL(href, false); href != "" && err == nil {
		return u, nil
	}
	return c.URL(segments...)
}

// parseSafeURL parses raw and requires https, or http on a loopback host.
func parseSafeURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if u.User != nil {
		return nil, fmt.Errorf("%s: credentials do not belong in the url", redactURL(u))
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%q: not an absolute url", redactURL(u))
	}
	return u, checkScheme(u)
}

func checkScheme(u *url.URL) error {
	switch strings.ToLower(u.Scheme) {
	case "https":
		return nil
	case "http":
		if ip := net.ParseIP(u.Hostname()); strings.EqualFold(u.Hostname(), "localhost") || ip != nil && ip.IsLoopback() {
			return nil
		}
		return fmt.Errorf("%s: plain http is allowed for loopback addresses only; use https", redactURL(u))
	}
	return fmt.Errorf("%s: unsupported scheme %q", redactURL(u), u.Scheme)
}

// checkRedirect layers bbkey's rules over the HTTP client's own policy: at most 5 hops,
// never downgrade to plain http off loopback, and drop the Authorization header as soon
// as a hop leaves the origin the request was meant for. (net/http itself keeps it for
// the same host name on another port, and for subdomains.)
func checkRedirect(next func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if len(via) >= 5 {
			return errors.New("stopped after 5 redirects")
		}
		if err := checkScheme(req.URL); err != nil {
			return fmt.Errorf("refusing redirect: %w", err)
		}
		if !sameOrigin(req.URL, via[0].URL) {
			req.Header.Del("Authorization")
		}
		if next != nil {
			return next(req, via)
		}
		return nil
	}
}

// Call is one API call, of Cloud or of a Data Center server (bbapi/dc).
type Call struct {
	Method string
	// Route is the endpoint template, e.g. "/users/{selected_user}/ssh-keys": it names
	// the call in errors and scope hints.
	Route string
	URL   *url.URL
	In    any // marshalled as the JSON body, or nil
	Out   any // decoded from a 2xx body, or nil
	// MayHaveLanded is set when an earlier attempt of a POST may have been processed (a
	// 502, 503 or 504, a cut connection), so a later "already added" may be its doing.
	MayHaveLanded bool
}

// Do sends cl with the client's credential, retries and wait budget, and decodes a 2xx
// answer into cl.Out. Any other answer is an *ErrorResponse (or *RateLimitError); a call
// that ran out of its budget is a *RetryBudgetError.
func (c *Client) Do(ctx context.Context, cl *Call) (*Response, error) {
	var body []byte
	if cl.In != nil {
		b, err := json.Marshal(cl.In)
		if err != nil {
			return nil, err
		}
		body = b
	}
	resp, raw, err := c.retry(ctx, cl, body)
	if err != nil {
		return resp, err
	}
	if cl.Out != nil && resp.StatusCode != http.StatusNoContent {
		if err := json.Unmarshal(raw, cl.Out); err != nil {
			return resp, c.decodeError(cl, raw, err)
		}
		return resp, nil
	}
	// An empty 204 is the answer to a DELETE. A page in its place (a captive portal, a
	// proxy answering 200 for everything) means nothing was deleted: never report that.
	if t := bytes.TrimSpace(raw); len(t) > 0 && !json.Valid(t) {
		return resp, c.decodeError(cl, raw, errors.New("the answer is not Bitbucket's"))
	}
	return resp, nil
}

// Get is a GET of u through d, decoded into a new T.
func Get[T any](ctx context.Context, d Doer, route string, u *url.URL) (*T, *Response, error) {
	var out T
	resp, err := d.Do(ctx, &Call{Method: http.MethodGet, Route: route, URL: u, Out: &out})
	if err != nil {
		return nil, resp, err
	}
	return &out, resp, nil
}

// DecodeError is a success status whose body is not what Bitbucket sends: usually
// something between bbkey and Bitbucket answering in its place.
type DecodeError struct {
	Method, URL string
	Err         error
	// Snippet is the start of the body, scrubbed.
	Snippet string
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("decoding response of %s %s: %v (body starts %q)", e.Method, e.URL, e.Err, e.Snippet)
}

func (e *DecodeError) Unwrap() error { return e.Err }

func (c *Client) decodeError(cl *Call, body []byte, err error) error {
	return &DecodeError{Method: cl.Method, URL: c.RedactURL(cl.URL), Err: err, Snippet: c.Redact(snippet(body, 120))}
}

// send makes one HTTP exchange: credentials, headers, the trace, and the capped body.
func (c *Client) send(ctx context.Context, cl *Call, body []byte) (*http.Response, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, cl.Method, cl.URL.String(), rd)
	if err != nil {
		return nil, nil, fmt.Errorf("building request %s %s: %w", cl.Method, c.RedactURL(cl.URL), err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.cred != nil {
		if err := c.cred.Authorize(ctx, req, AuthEnv{Do: c.exchange, Now: c.now}); err != nil {
			return nil, nil, err
		}
	}
	return c.exchangeBody(req, body)
}

// exchange is the round trip credentials use to fetch tokens: traced, redirect-safe,
// capped, with the body re-readable.
func (c *Client) exchange(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.GetBody != nil {
		if rc, err := req.GetBody(); err == nil {
			reqBody, _ = io.ReadAll(io.LimitReader(rc, 64<<10))
			rc.Close()
		}
	}
	resp, body, err := c.exchangeBody(req, reqBody)
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

func (c *Client) exchangeBody(req *http.Request, reqBody []byte) (*http.Response, []byte, error) {
	req.Header.Set("User-Agent", c.userAgent)
	start := c.now()
	c.budget.countRequest()
	resp, err := c.hc.Do(req)
	if err != nil {
		c.trace(req, reqBody, nil, nil, start, err)
		return nil, nil, &netError{method: req.Method, url: c.RedactURL(req.URL), err: err, redact: c.Redact}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBodySize+1))
	if err == nil && len(body) > MaxBodySize {
		body = body[:MaxBodySize]
		// An error answer is only ever shown as a snippet, so a cut one is still useful;
		// a cut success would decode into garbage.
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			err = &BodyTooLargeError{Method: req.Method, URL: c.RedactURL(req.URL), Limit: MaxBodySize}
		}
	}
	c.trace(req, reqBody, resp, body, start, err)
	if err != nil {
		var big *BodyTooLargeError
		if errors.As(err, &big) {
			return resp, body, err
		}
		return resp, nil, &netError{method: req.Method, url: c.RedactURL(req.URL), err: err, redact: c.Redact}
	}
	return resp, body, nil
}

// BodyTooLargeError reports a response larger than MaxBodySize: no Bitbucket answer is
// that large, so something else answered.
type BodyTooLargeError struct {
	Method, URL string
	Limit       int
}

func (e *BodyTooLargeError) Error() string {
	return fmt.Sprintf("response of %s %s is larger than the %d MiB limit", e.Method, e.URL, e.Limit>>20)
}

// netError is a transport failure (no HTTP answer, or a body cut off), with the URL
// redacted and the credential scrubbed from the underlying message.
type netError struct {
	method, url string
	err         error
	redact      func(string) string
}

func (e *netError) Error() string {
	msg := e.err.Error()
	var ue *url.Error
	if errors.As(e.err, &ue) {
		msg = ue.Err.Error() // url.Error repeats the unredacted URL
	}
	return fmt.Sprintf("%s %s: %s", e.method, e.url, e.redact(redactAll(msg)))
}

func (e *netError) Unwrap() error { return e.err }

// TransportFailure reports whether err itself (not what it wraps) is a request that got
// no whole HTTP answer: refused, unresolvable, timed out, cut off. It returns the request's
// URL, redacted as in the error's text.
func TransportFailure(err error) (url string, ok bool) {
	ne, ok := err.(*netError)
	if !ok {
		return "", false
	}
	return ne.url, true
}

// newError turns a non-2xx answer into an *ErrorResponse (or *RateLimitError).
func (c *Client) newError(cl *Call, resp *http.Response, body []byte) error {
	e := parseErrorBody(resp, body, c.Redact)
	e.Method, e.URL, e.Route = cl.Method, c.RedactURL(cl.URL), cl.Route
	if c.cred != nil {
		e.CredentialKind = c.cred.Kind()
	}
	return rateLimited(e, resp, c.now())
}

// rateLimited makes a 429 a *RateLimitError; any other status stays e.
func rateLimited(e *ErrorResponse, resp *http.Response, now time.Time) error {
	if resp.StatusCode != http.StatusTooManyRequests {
		return e
	}
	ra := retryAfter(resp.Header, now)
	return &RateLimitError{ErrorResponse: e, RetryAfter: max(ra, 0), HasRetryAfter: ra >= 0}
}
