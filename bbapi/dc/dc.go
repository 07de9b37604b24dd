// Package dc is bbkey's client for the REST API of Bitbucket Data Center (self-hosted
// Bitbucket, 8.x and 9.x): the user's SSH keys, repository and project access keys, the
// SSH server's settings, and the projects, repositories and users a credential can see.
//
// The transport is bbapi's (retries, --max-wait, redirects, redaction, --debug). What is
// Data Center's own lives here: the paths (the spec's `latest` forms), the start/limit
// paging, PermissionError (Data Center answers 401, not 403, for a missing permission),
// and the guarantee that no call can send `DELETE /rest/ssh/latest/keys` without a key
// id, which deletes every key of the user. Like bbapi it knows no exit code and no
// command-line text.
package dc

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
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

	SSHKeys      *SSHKeysService
	SSH          *SSHService
	Repositories *RepositoriesService
	Projects     *ProjectsService
	Users        *UsersService
}

type service struct{ c *Client }

// NewClient returns a client for the Data Center server at serverURL, its base URL as
// users see it ("https://bitbucket.example.com" or "https://host/context"; a trailing
// "/rest" is accepted), authenticating with cred (normally a Token). The options are
// bbapi's. serverURL must be https, or http on a loopback address.
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

// Stats returns the transport's counters: requests, retries, time spent waiting.
func (c *Client) Stats() bbapi.Stats { return c.t.Stats() }

// ErrUnscopedKeyDelete is returned, before anything is sent, for a DELETE of the user-key
// collection itself: on Data Center `DELETE /rest/ssh/latest/keys` deletes every key of
// the user. No method of this package builds such a request; the check is the last line.
var ErrUnscopedKeyDelete = errors.New("refusing to send DELETE to the ssh key collection without a key id: it would delete every key of the user")

// ErrNoKeyID is returned for a key id that is not positive: Data Center's ids start at 1,
// and a missing id must never turn into a request on the collection.
var ErrNoKeyID = errors.New("no key id (Data Center key ids are positive integers)")

// unscopedKeyDelete reports a DELETE whose path ends at /rest/ssh/<version>/keys.
func unscopedKeyDelete(method string, u *url.URL) bool {
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	n := len(segs)
	return strings.EqualFold(method, http.MethodDelete) && n >= 4 && segs[n-4] == "rest" && segs[n-3] == "ssh" && segs[n-1] == "keys"
}

// Do sends cl through the transport, refusing an id-less DELETE of the user's keys; a
// refusal for want of a permission is a *PermissionError.
func (c *Client) Do(ctx context.Context, cl *bbapi.Call) (*bbapi.Response, error) {
	if unscopedKeyDelete(cl.Method, cl.URL) {
		return nil, ErrUnscopedKeyDelete
	}
	resp, err := c.t.Do(ctx, cl)
	return resp, permissionError(err)
}

// get is a GET of the resource at segs, decoded into a new T.
func get[T any](ctx context.Context, c *Client, route string, segs ...string) (*T, *bbapi.Response, error) {
	u, err := c.t.URL(segs...)
	if err != nil {
		return nil, nil, err
	}
	return bbapi.Get[T](ctx, c, route, u)
}

// page is Data Center's paged envelope.
type page[T any] struct {
	IsLastPage    bool `json:"isLastPage"`
	NextPageStart *int `json:"nextPageStart"`
	Values        []T  `json:"values"`
}

// list iterates over every value of the collection at segs: it asks for start=0 and the
// limit DefaultPageLen, then for each nextPageStart until isLastPage. A nextPageStart
// that is missing or does not move forward ends the iteration with an error rather than
// looping or silently stopping short.
func list[T any](ctx context.Context, c *Client, route string, query url.Values, segs ...string) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		u, err := c.t.URL(segs...)
		if err != nil {
			yield(zero, err)
			return
		}
		for start := 0; ; {
			q := url.Values{"start": {strconv.Itoa(start)}, "limit": {strconv.Itoa(bbapi.DefaultPageLen)}}
			for k, v := range query {
				if len(v) > 0 && v[0] != "" {
					q[k] = v
				}
			}
			u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
			var p page[T]
			if _, err := c.Do(ctx, &bbapi.Call{Method: http.MethodGet, Route: route, URL: u, Out: &p}); err != nil {
				yield(zero, err)
				return
			}
			for _, v := range p.Values {
				if !yield(v, nil) {
					return
				}
			}
			if p.IsLastPage {
				return
			}
			if p.NextPageStart == nil || *p.NextPageStart <= start {
				yield(zero, fmt.Errorf("listing %s: the server's page at start=%d is not the last but its nextPageStart does not move forward", route, start))
				return
			}
			start = *p.NextPageStart
		}
	}
}
