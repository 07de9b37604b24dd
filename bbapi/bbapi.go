// Package bbapi is bbkey's client for the Bitbucket Cloud REST API 2.0: the current user,
// the user's SSH keys, repository and project access ("deploy") keys, and the workspaces,
// projects and repositories a user can see.
//
// It is shaped like go-github: a Client built by NewClient, one service per resource as a
// field of the Client, methods of the form (ctx, …) (T, *Response, error) whose doc
// comments name the endpoint, and lists as iter.Seq2 iterators that only ever follow the
// `next` links Bitbucket returns.
//
// What the client guarantees, because bbkey runs unattended on build servers:
//   - HTTPS only; plain http:// is accepted for loopback addresses alone (the emulator).
//   - Credentials are applied per request and the Authorization header never follows a
//     redirect, a `next` link or a `links.self.href` to another host.
//   - Rate limits (429) and gateway errors (502, 503, 504) and connection resets are
//     retried with exponential backoff and full jitter, honouring Retry-After, within one
//     total budget (bbkey's --max-wait) shared by every request of the client. A POST
//     that may have landed is reconciled by looking the key up, never blindly repeated.
//   - Bodies are capped, every request has a timeout, and tokens are redacted from every
//     error and from the --debug trace.
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

// Defaults.
const (
	// DefaultBaseURL is Bitbucket Cloud's REST API.
	DefaultBaseURL = "https://api.bitbucket.org/2.0"
	// DefaultPageLen is the page size asked for; Bitbucket's own default is 10, its
	// maximum 100.
	DefaultPageLen = 100
	// DefaultMaxWait is the total time spent waiting out rate limits and retries.
	DefaultMaxWait = 5 * time.Minute
	// DefaultTimeout bounds one HTTP exchange when the HTTP client has no timeout.
	DefaultTimeout = 60 * time.Second
	// MaxBodySize caps a response body; Bitbucket's largest page is far below it.
	MaxBodySize = 8 << 20
)

// Client talks to the Bitbucket Cloud REST API. It is safe for concurrent use.
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
	pageLen   int
	onWait    func(Wait)
	budget    budget

	// Services, one per resource.
	Users             *UsersService
	SSHKeys           *SSHKeysService
	DeployKeys        *DeployKeysService
	ProjectDeployKeys *ProjectDeployKeysService
	Repositories      *RepositoriesService
	Projects          *ProjectsService
}

type service struct{ c *Client }

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client; bbapi uses a shallow copy with its own redirect
// policy layered on top, and gives it DefaultTimeout when it has none.
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

// WithUserAgent sets the User-Agent verbatim.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// WithDebug writes a trace of every HTTP exchange to w (bbkey's --debug): method, URL,
// status, duration, headers and truncated bodies, with credentials masked.
func WithDebug(w io.Writer) Option { return func(c *Client) { c.debug = w } }

// WithClock replaces the clock (OAuth token expiry, the wait budget).
func WithClock(now func() time.Time) Option {
	return func(c *Client) {
		if now != nil {
			c.now = now
		}
	}
}

// WithSleep replaces how the client waits between retries. The function must return
// early with the context's error when it is cancelled. Tests that fake it should advance
// the clock given to WithClock by the same amount.
func WithSleep(sleep func(ctx context.Context, d time.Duration) error) Option {
	return func(c *Client) {
		if sleep != nil {
			c.sleep = sleep
		}
	}
}

// WithMaxWait sets the total time the client may spend waiting out rate limits and
// retries, summed over all its requests (bbkey's --max-wait). Zero disables retries.
func WithMaxWait(d time.Duration) Option { return func(c *Client) { c.maxWait = max(d, 0) } }

// WithPageLen sets the page length asked for by lists (1 to 100).
func WithPageLen(n int) Option { return func(c *Client) { c.pageLen = min(max(n, 1), 100) } }

// WithWaitHook calls fn before every wait, so a command can print "waiting 20s for the
// rate limit". fn is called from the goroutine that makes the request.
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
		pageLen:   DefaultPageLen,
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
	c.hc.CheckRedirect = c.checkRedirect(c.hc.CheckRedirect)
	if o, ok := cred.(*OAuthClient); ok {
		if _, err := parseSafeURL(o.tokenURL()); err != nil {
			return nil, fmt.Errorf("oauth token url: %w", err)
		}
	}
	s := service{c}
	c.Users = (*UsersService)(&s)
	c.SSHKeys = (*SSHKeysService)(&s)
	c.DeployKeys = (*DeployKeysService)(&s)
	c.ProjectDeployKeys = (*ProjectDeployKeysService)(&s)
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

// Response wraps the HTTP response of the last attempt. Its body has been read and
// closed.
type Response struct {
	*http.Response

	// Attempts is how many HTTP requests the call took (1 when nothing was retried).
	Attempts int
	// Waited is how long the call waited between attempts.
	Waited time.Duration
	// Reconciled is true when an add answered "already added" and the key was then found
	// by fingerprint: the returned object was looked up, not created by this answer.
	Reconciled bool
}

// Scopes returns the scopes Bitbucket reports the credential has (the x-oauth-scopes
// header, sent on some credentials), or nil.
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

// endpoint names one API operation: the route template (for scope hints and messages)
// and the concrete URL.
type endpoint struct {
	method string
	route  string // e.g. "/users/{selected_user}/ssh-keys"
	url    *url.URL
}

// url builds base + the escaped segments. Every segment is percent-encoded on its own,
// so a "{uuid}" or a slug cannot change the shape of the path.
func (c *Client) url(segments ...string) (*url.URL, error) {
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
	if err := setEscapedPath(&u, b.String()); err != nil {
		return nil, err
	}
	return &u, nil
}

func setEscapedPath(u *url.URL, escaped string) error {
	p, err := url.PathUnescape(escaped)
	if err != nil {
		return fmt.Errorf("invalid path %q: %w", escaped, err)
	}
	u.Path, u.RawPath = p, escaped
	return nil
}

// sameOrigin reports whether u points at the API's own scheme, host and port.
func (c *Client) sameOrigin(u *url.URL) bool {
	return strings.EqualFold(u.Scheme, c.base.Scheme) && strings.EqualFold(u.Host, c.base.Host)
}

// apiURL accepts a URL Bitbucket returned (a `next` link, a `links.self.href`) only if it
// points back into the API: same origin, under the base path. Anything else would send
// the credential elsewhere.
func (c *Client) apiURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("invalid url from bitbucket: %w", err)
	}
	if !c.sameOrigin(u) || u.User != nil {
		return nil, fmt.Errorf("refusing url %s from bitbucket: not on %s", redactURL(u), c.base.Host)
	}
	if !strings.HasPrefix(u.Path+"/", c.base.Path+"/") {
		return nil, fmt.Errorf("refusing url %s from bitbucket: outside %s", redactURL(u), c.base.Path)
	}
	return u, nil
}

// selfURL prefers the links.self.href Bitbucket returned for an object, falling back to
// the path built from ids when it is absent or points elsewhere.
func (c *Client) selfURL(href string, segments ...string) (*url.URL, error) {
	if href != "" {
		if u, err := c.apiURL(href); err == nil {
			u.RawQuery, u.Fragment = "", ""
			return u, nil
		}
	}
	return c.url(segments...)
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
	if err := checkScheme(u); err != nil {
		return nil, err
	}
	return u, nil
}

func checkScheme(u *url.URL) error {
	switch strings.ToLower(u.Scheme) {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%s: plain http is allowed for loopback addresses only; use https", redactURL(u))
	}
	return fmt.Errorf("%s: unsupported scheme %q", redactURL(u), u.Scheme)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkRedirect layers bbkey's rules over the HTTP client's own policy: at most 5 hops,
// never downgrade to plain http off loopback, and drop the Authorization header as soon
// as a hop leaves the origin the request was meant for. (net/http itself keeps it for
// the same host name on another port, and for subdomains.)
func (c *Client) checkRedirect(next func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if len(via) >= 5 {
			return errors.New("stopped after 5 redirects")
		}
		if err := checkScheme(req.URL); err != nil {
			return fmt.Errorf("refusing redirect: %w", err)
		}
		orig := via[0].URL
		if !strings.EqualFold(req.URL.Scheme, orig.Scheme) || !strings.EqualFold(req.URL.Host, orig.Host) {
			req.Header.Del("Authorization")
		}
		if next != nil {
			return next(req, via)
		}
		return nil
	}
}

// call is one API call as the retry loop sees it.
type call struct {
	endpoint
	body []byte // JSON, or nil
	out  any    // decoded on success, or nil
	// ambiguous is set when an earlier attempt of a POST may have landed.
	ambiguous bool
}

// do performs c with retries and decodes the result into c.out.
func (c *Client) do(ctx context.Context, cl *call) (*Response, error) {
	resp, body, err := c.retry(ctx, cl)
	if err != nil {
		return resp, err
	}
	if cl.out != nil && resp.StatusCode != http.StatusNoContent {
		if err := json.Unmarshal(body, cl.out); err != nil {
			return resp, c.decodeError(cl.endpoint, body, err)
		}
	}
	// Bitbucket answers a DELETE with an empty 204. A page in its place (a captive portal,
	// a proxy answering 200 for everything) means nothing was deleted: never report that
	// as done.
	if cl.out == nil {
		if t := bytes.TrimSpace(body); len(t) > 0 && !json.Valid(t) {
			return resp, c.decodeError(cl.endpoint, body, errors.New("the answer is not Bitbucket's"))
		}
	}
	return resp, nil
}

func (c *Client) decodeError(ep endpoint, body []byte, err error) error {
	return &DecodeError{err: fmt.Errorf("decoding response of %s %s: %w (body starts %q)", ep.method, c.redactURL(ep.url), err, c.redact(snippet(body, 120)))}
}

// DecodeError is a success status whose body is not what Bitbucket sends: usually
// something between bbkey and Bitbucket answering in its place.
type DecodeError struct{ err error }

func (e *DecodeError) Error() string { return e.err.Error() }
func (e *DecodeError) Unwrap() error { return e.err }

// send makes one HTTP exchange: credentials, headers, the trace, and the capped body.
func (c *Client) send(ctx context.Context, ep endpoint, body []byte) (*http.Response, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, ep.method, ep.url.String(), rd)
	if err != nil {
		return nil, nil, fmt.Errorf("building request %s %s: %w", ep.method, c.redactURL(ep.url), err)
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
// capped, and with the body handed back re-readable.
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
		return nil, nil, &netError{method: req.Method, url: c.redactURL(req.URL), err: err, redact: c.redact}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBodySize+1))
	if err == nil && len(body) > MaxBodySize {
		body = body[:MaxBodySize]
		// An error answer is only ever shown as a snippet, so a cut one is still useful;
		// a cut success would decode into garbage.
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			err = &BodyTooLargeError{Method: req.Method, URL: c.redactURL(req.URL), Limit: MaxBodySize}
		}
	}
	c.trace(req, reqBody, resp, body, start, err)
	if err != nil {
		var big *BodyTooLargeError
		if errors.As(err, &big) {
			return resp, body, err
		}
		return resp, nil, &netError{method: req.Method, url: c.redactURL(req.URL), err: err, redact: c.redact}
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
func (c *Client) newError(ep endpoint, resp *http.Response, body []byte) error {
	e := parseErrorBody(resp, body, c.redact)
	e.Method = ep.method
	e.URL = c.redactURL(ep.url)
	e.Route = ep.route
	if c.cred != nil {
		e.CredentialKind = c.cred.Kind()
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		ra := retryAfter(resp.Header, c.now())
		return &RateLimitError{ErrorResponse: e, RetryAfter: max(ra, 0), HasRetryAfter: ra >= 0}
	}
	return e
}
