package bbapi

import (
	"context"
	"iter"
	"net/http"
	"net/url"
	"time"
)

// FakeClock and NewFakeClock give the external tests (package bbapi_test, which run the
// client against the emulator) the same fake clock as the internal ones: sleeping advances
// it, so retries cost no real time and the emulator's rate-limit window and token expiry
// move with it.
type FakeClock = fakeClock

var NewFakeClock = newFakeClock

// TestExplain is apierr.Explain, set by explain_test.go (package bbapi_test): apierr
// imports bbapi, so the tests inside bbapi reach the words for an error through it.
var TestExplain func(error) (int, []string, bool)

// codeOf is the exit code apierr gives err itself (0: no opinion).
func codeOf(err error) int {
	c, _, _ := TestExplain(err)
	return c
}

// hintsOf are the hints apierr gives err itself.
func hintsOf(err error) []string {
	_, h, _ := TestExplain(err)
	return h
}

// The options and endpoints below serve the tests alone: bbkey never calls them.

// WithUserAgent sets the User-Agent verbatim.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// WithSleep replaces how the client waits between retries; the function must return
// early with the context's error. A fake should advance the clock of WithClock as much.
func WithSleep(sleep func(ctx context.Context, d time.Duration) error) Option {
	return func(c *Client) { c.sleep = sleep }
}

// collect drains an iterator into a slice, stopping at the first error.
func collect[T any](seq iter.Seq2[T, error]) ([]T, error) {
	var out []T
	for v, err := range seq {
		if err != nil {
			return out, err
		}
		out = append(out, v)
	}
	return out, nil
}

// ListWorkspacesOptions filters GET /user/workspaces.
type ListWorkspacesOptions struct{ AdministratorOnly bool }

// WorkspaceAccess is one entry of GET /user/workspaces.
type WorkspaceAccess struct {
	Administrator bool `json:"administrator"`
	Workspace     *struct {
		Slug string `json:"slug"`
	} `json:"workspace"`
}

// Workspaces lists the workspaces the user can see: GET /user/workspaces.
func (s *UsersService) Workspaces(ctx context.Context, opts *ListWorkspacesOptions) iter.Seq2[*WorkspaceAccess, error] {
	q := url.Values{}
	if opts != nil && opts.AdministratorOnly {
		q.Set("administrator", "true")
	}
	return list[*WorkspaceAccess](ctx, s.c, "/user/workspaces", q, "user", "workspaces")
}

func getAt[T any](ctx context.Context, c *Client, method, route string, body any, segs ...string) (*T, *Response, error) {
	u, err := c.URL(segs...)
	if err != nil {
		return nil, nil, err
	}
	var out T
	resp, err := c.Do(ctx, &Call{Method: method, Route: route + routeKeySuffix, URL: u, In: body, Out: &out})
	if err != nil {
		return nil, resp, err
	}
	return &out, resp, nil
}

// Get is GET /users/{selected_user}/ssh-keys/{key_id}.
func (s *SSHKeysService) Get(ctx context.Context, user, keyID string) (*SSHKey, *Response, error) {
	return getAt[SSHKey](ctx, s.c, http.MethodGet, routeUserKeys, nil, "users", user, "ssh-keys", keyID)
}

// Update is PUT /users/{selected_user}/ssh-keys/{key_id}, changing the label.
func (s *SSHKeysService) Update(ctx context.Context, user, keyID, label string) (*SSHKey, *Response, error) {
	return getAt[SSHKey](ctx, s.c, http.MethodPut, routeUserKeys, map[string]string{"type": "ssh_key", "label": label}, "users", user, "ssh-keys", keyID)
}

// Get is GET …/deploy-keys/{key_id}.
func (k *AccessKeys) Get(ctx context.Context, id ID) (*DeployKey, *Response, error) {
	return getAt[DeployKey](ctx, k.c, http.MethodGet, k.route, nil, append(k.segs, id.String())...)
}

// Update is PUT …/deploy-keys/{key_id}, changing the label.
func (k *AccessKeys) Update(ctx context.Context, id ID, label string) (*DeployKey, *Response, error) {
	return getAt[DeployKey](ctx, k.c, http.MethodPut, k.route, map[string]string{"label": label}, append(k.segs, id.String())...)
}

// Fetches reports how many tokens have been fetched.
func (o *OAuthClient) Fetches() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.fetches
}
