package bbapi

import (
	"context"
	"net/url"
)

// This file lends the Client's transport to clients of other Bitbucket flavours (the
// Data Center client in bbapi/dc), so they share one implementation of what matters on
// a build server: the retry loop and its --max-wait budget, Retry-After, the redirect
// and same-origin rules, the body cap, the --debug trace and the redaction of secrets.
// Their own error shapes and types stay with them: a non-2xx answer comes back as this
// package's *ErrorResponse (or *RateLimitError, *RetryBudgetError) together with the
// raw body, for them to decode.

// RawRequest is one API call made through the transport.
type RawRequest struct {
	Method string
	// Route is the endpoint template, e.g. "/ssh/latest/keys/{keyId}"; it names the call
	// in errors.
	Route string
	URL   *url.URL
	// Body is JSON, or nil.
	Body []byte

	// MayHaveLanded is set after the call when an earlier attempt of a POST may have been
	// processed although no answer said so (a 502, 503 or 504, a cut connection), so a
	// later "already exists" may be this very call's doing.
	MayHaveLanded bool
}

// DoRaw sends req with the client's credential, retries and wait budget, and returns the
// response and its raw body. A 2xx answer comes back with a nil error. Any other answer
// is an error of this package (see above) with, for an answer that ended the call, its
// body; a call that ran out of its wait budget returns a *RetryBudgetError and no body.
func (c *Client) DoRaw(ctx context.Context, req *RawRequest) (*Response, []byte, error) {
	cl := &call{endpoint: endpoint{method: req.Method, route: req.Route, url: req.URL}, body: req.Body}
	resp, body, err := c.retry(ctx, cl)
	req.MayHaveLanded = cl.ambiguous
	return resp, body, err
}

// URL returns the base URL joined with segments, each percent-encoded on its own so that
// no value can change the shape of the path; "", "." and ".." are refused.
func (c *Client) URL(segments ...string) (*url.URL, error) { return c.url(segments...) }

// Redact scrubs s of the credential's secrets and of recognisable credentials (URL
// userinfo, Authorization headers, token fields), as every error and the trace are.
func (c *Client) Redact(s string) string { return c.redact(s) }

// RedactURL is Redact for a URL.
func (c *Client) RedactURL(u *url.URL) string { return c.redactURL(u) }

// PageLen is the page length lists ask for (WithPageLen).
func (c *Client) PageLen() int { return c.pageLen }
