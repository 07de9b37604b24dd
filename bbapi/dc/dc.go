// Package dc is bbkey's client for the REST API of Bitbucket Data Center (self-hosted
// Bitbucket, 8.x and 9.x): the user's SSH keys, repository and project access keys, the
// SSH server's settings, and the projects, repositories and users a credential can see.
//
// It is shaped like its Cloud sibling bbapi and like go-github: a Client built by
// NewClient, one service per resource as a field of the Client, methods of the form
// (ctx, …) (T, *bbapi.Response, error) whose doc comments name the endpoint relative to
// the server's /rest base, and lists as iter.Seq2 iterators over Data Center's paging
// (start, limit, isLastPage, nextPageStart).
//
// The transport is bbapi's: the Client wraps a *bbapi.Client, so retries, the shared
// --max-wait budget, Retry-After, the redirect and same-origin rules, the body cap, the
// --debug trace and the redaction of secrets are one implementation for both
// Bitbuckets. What is Data Center's own lives here: the paths (the spec's `latest`
// forms), the paging, the {"errors": [...]} error shape decoded into ErrorResponse,
// PermissionError (Data Center answers 401, not 403, for a missing permission) and
// RateLimitError, and the guarantee that no call can send `DELETE /rest/ssh/latest/keys`
// without a key id, which deletes every key of the user.
//
// Like bbapi it knows no exit code and no command-line text: the command layer maps its
// errors to hints.
package dc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/bbkey/bbkey/bbapi"
)

// DefaultSSHPort is the port Data Center's SSH server listens on unless configured.
const DefaultSSHPort = 7999

// Client talks to the REST API of one Bitbucket Data Center server. It is safe for
// concurrent use.
type Client struct {
	t      *bbapi.Client
	server string // the server's base URL, without a trailing slash

	// Services, one per resource.
	SSHKeys           *SSHKeysService
	RepoAccessKeys    *RepoAccessKeysService
	ProjectAccessKeys *ProjectAccessKeysService
	SSH               *SSHService
	Repositories      *RepositoriesService
	Projects          *ProjectsService
	Users             *UsersService
}

type service struct{ c *Client }

// NewClient returns a client for the Data Center server at serverURL, its base URL as
// users see it ("https://bitbucket.example.com" or "https://host/context"; a trailing
// "/rest" is accepted), authenticating with cred (normally a Token). The options are
// bbapi's (WithMaxWait, WithDebug, WithHTTPClient, WithClock, WithPageLen, …): the
// transport is shared. serverURL must be https, or http on a loopback address.
func NewClient(serverURL string, cred bbapi.Credential, opts ...bbapi.Option) (*Client, error) {
	if strings.TrimSpace(serverURL) == "" {
		return nil, errors.New("data center server url is empty")
	}
	u, err := url.Parse(serverURL)
	if err != nil {
		return nil, fmt.Errorf("data center server url: %w", err)
	}
	if u.User != nil {
		return nil, fmt.Errorf("data center server url %s: credentials do not belong in the url", u.Redacted())
	}
	u.Path = strings.TrimSuffix(strings.TrimRight(u.Path, "/"), "/rest")
	u.RawPath = ""
	t, err := bbapi.NewClient(u.String()+"/rest", cred, opts...)
	if err != nil {
		return nil, err
	}
	c := &Client{t: t, server: u.String()}
	s := &service{c}
	c.SSHKeys = (*SSHKeysService)(s)
	c.RepoAccessKeys = (*RepoAccessKeysService)(s)
	c.ProjectAccessKeys = (*ProjectAccessKeysService)(s)
	c.SSH = (*SSHService)(s)
	c.Repositories = (*RepositoriesService)(s)
	c.Projects = (*ProjectsService)(s)
	c.Users = (*UsersService)(s)
	return c, nil
}

// ServerURL returns the server's base URL, without a trailing slash or "/rest".
func (c *Client) ServerURL() string { return c.server }

// BaseURL returns the REST base, ServerURL + "/rest".
func (c *Client) BaseURL() string { return c.t.BaseURL() }

// Credential returns the credential the client authenticates with (nil if anonymous).
func (c *Client) Credential() bbapi.Credential { return c.t.Credential() }

// Stats returns the transport's counters: requests, retries, time spent waiting.
func (c *Client) Stats() bbapi.Stats { return c.t.Stats() }

// call is one request of this package.
type call struct {
	method string
	route  string
	url    *url.URL
	in     any // marshalled as the JSON body, or nil
	out    any // decoded from a 2xx body, or nil
	// mayHaveLanded reports, after the call, that an earlier attempt of a POST may have
	// been processed (see bbapi.RawRequest).
	mayHaveLanded bool
}

// ErrUnscopedKeyDelete is returned, before anything is sent, for a DELETE of the user-key
// collection itself: on Data Center `DELETE /rest/ssh/latest/keys` deletes every key of
// the user. No method of this package builds such a request; the check is the last line.
var ErrUnscopedKeyDelete = errors.New("refusing to send DELETE to the ssh key collection without a key id: it would delete every key of the user")

// unscopedKeyDelete reports a DELETE whose path ends at /rest/ssh/<version>/keys.
func unscopedKeyDelete(method string, u *url.URL) bool {
	if !strings.EqualFold(method, http.MethodDelete) {
		return false
	}
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	n := len(segs)
	return n >= 4 && segs[n-4] == "rest" && segs[n-3] == "ssh" && segs[n-1] == "keys"
}

func (c *Client) do(ctx context.Context, cl *call) (*bbapi.Response, error) {
	if unscopedKeyDelete(cl.method, cl.url) {
		return nil, ErrUnscopedKeyDelete
	}
	var body []byte
	if cl.in != nil {
		b, err := json.Marshal(cl.in)
		if err != nil {
			return nil, err
		}
		body = b
	}
	req := &bbapi.RawRequest{Method: cl.method, Route: cl.route, URL: cl.url, Body: body}
	resp, raw, err := c.t.DoRaw(ctx, req)
	cl.mayHaveLanded = req.MayHaveLanded
	if err != nil {
		return resp, c.convertError(cl, err, raw)
	}
	trimmed := strings.TrimSpace(string(raw))
	if cl.out != nil && resp.StatusCode != http.StatusNoContent {
		if err := json.Unmarshal(raw, cl.out); err != nil {
			return resp, c.decodeError(cl, raw, err)
		}
		return resp, nil
	}
	// A 204 is empty. A page in its place (a proxy or portal answering 200 for anything)
	// means nothing was done: never report that as done.
	if trimmed != "" && !json.Valid([]byte(trimmed)) {
		return resp, c.decodeError(cl, raw, errors.New("the answer is not Bitbucket's"))
	}
	return resp, nil
}

// DecodeError is a success status whose body is not what Bitbucket sends: usually
// something between bbkey and the server answering in its place.
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

func (c *Client) decodeError(cl *call, raw []byte, err error) error {
	return &DecodeError{Method: cl.method, URL: c.t.RedactURL(cl.url), Err: err, Snippet: c.t.Redact(snippet(raw, 120))}
}

func snippet(b []byte, n int) string {
	s := strings.TrimSpace(string(b))
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary.
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

// url builds the REST base joined with segments, each escaped on its own.
func (c *Client) url(segments ...string) (*url.URL, error) { return c.t.URL(segments...) }

func withQuery(u *url.URL, q url.Values) *url.URL {
	if len(q) > 0 {
		u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
	}
	return u
}
