package bbapi

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// SSHKeysService manages the SSH keys of a user account. {selected_user} is the
// account's account_id or its {uuid} with braces, never a username.
type SSHKeysService service

// SSHKey is a public key on a user account (Bitbucket's ssh_account_key).
type SSHKey struct {
	UUID    string `json:"uuid,omitempty"`
	Key     string `json:"key"`
	Label   string `json:"label,omitempty"`
	Comment string `json:"comment,omitempty"`
	// Fingerprint is as Bitbucket sent it: unpadded base64 of the SHA-256, no prefix.
	Fingerprint string    `json:"fingerprint,omitempty"`
	CreatedOn   Timestamp `json:"created_on"`
	LastUsed    Timestamp `json:"last_used"`
	ExpiresOn   Timestamp `json:"expires_on"`
	Owner       *Account  `json:"owner,omitempty"`
	Links       SelfLinks `json:"links"`
}

// SHA256 returns the key's fingerprint as "SHA256:…", Bitbucket's or else computed from
// the key; "" if neither works.
func (k *SSHKey) SHA256() string { return KeyFingerprint(k.Fingerprint, k.Key) }

// DeployKey is a repository or project access key.
type DeployKey struct {
	ID      ID     `json:"id"`
	Key     string `json:"key"`
	Label   string `json:"label,omitempty"`
	Comment string `json:"comment,omitempty"`
	// AddedOn is when the key was added: Bitbucket's examples call it created_on, its
	// schema added_on; both are read.
	AddedOn    Timestamp   `json:"-"`
	LastUsed   Timestamp   `json:"last_used"`
	Repository *Repository `json:"repository,omitempty"`
	Project    *Project    `json:"project,omitempty"`
	Links      SelfLinks   `json:"links"`
}

// UnmarshalJSON reads added_on or created_on into AddedOn.
func (k *DeployKey) UnmarshalJSON(b []byte) error {
	type plain DeployKey
	var v struct {
		plain
		AddedOn   Timestamp `json:"added_on"`
		CreatedOn Timestamp `json:"created_on"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*k = DeployKey(v.plain)
	k.AddedOn = v.AddedOn
	if k.AddedOn.IsZero() {
		k.AddedOn = v.CreatedOn
	}
	return nil
}

// SHA256 returns the key's fingerprint as "SHA256:…", computed from the key.
func (k *DeployKey) SHA256() string { return KeyFingerprint("", k.Key) }

// AddSSHKeyOptions is a key to add to an account.
type AddSSHKeyOptions struct {
	// Key is the public key in authorized_keys form: "ssh-ed25519 AAAA… comment".
	Key   string
	Label string
	// ExpiresOn, if set, is sent as the expires_on query parameter.
	ExpiresOn *time.Time
	// OrGet accepts a key already on this account: see AccessKeys.Add.
	OrGet bool
}

// AddDeployKeyOptions is a key to add as an access key.
type AddDeployKeyOptions struct {
	// Key is the public key in authorized_keys form.
	Key   string
	Label string
	// OrGet accepts a key already there: see AccessKeys.Add.
	OrGet bool
}

const (
	routeUserKeys    = "/users/{selected_user}/ssh-keys"
	routeRepoKeys    = "/repositories/{workspace}/{repo_slug}/deploy-keys"
	routeProjectKeys = "/workspaces/{workspace}/projects/{project_key}/deploy-keys"
	routeKeySuffix   = "/{key_id}"
)

// List lists the keys of an account.
//
// GET /users/{selected_user}/ssh-keys
func (s *SSHKeysService) List(ctx context.Context, selectedUser string) iter.Seq2[*SSHKey, error] {
	return list[*SSHKey](ctx, s.c, routeUserKeys, nil, "users", selectedUser, "ssh-keys")
}

// FindByFingerprint returns the account's key with the given fingerprint (any form
// NormalizeFingerprint reads), or nil and no error when there is none.
func (s *SSHKeysService) FindByFingerprint(ctx context.Context, selectedUser, fingerprint string) (*SSHKey, error) {
	return FindKey(s.List(ctx, selectedUser), fingerprint, (*SSHKey).SHA256)
}

// Add adds a key to an account; Bitbucket answers 201. "Already added" is reconciled as
// for AccessKeys.Add; a key on another account stays an error, since a public key
// can sit on one account only.
//
// POST /users/{selected_user}/ssh-keys
func (s *SSHKeysService) Add(ctx context.Context, selectedUser string, opts AddSSHKeyOptions) (*SSHKey, *Response, error) {
	u, err := s.c.URL("users", selectedUser, "ssh-keys")
	if err != nil {
		return nil, nil, fmt.Errorf("adding ssh key: %w", err)
	}
	if opts.ExpiresOn != nil {
		u.RawQuery = encodeQuery(url.Values{"expires_on": {opts.ExpiresOn.UTC().Format("2006-01-02T15:04:05.000Z")}})
	}
	body := map[string]string{"type": "ssh_key", "key": strings.TrimSpace(opts.Key), "label": opts.Label}
	return AddKey(ctx, s.c, &Call{Method: http.MethodPost, Route: routeUserKeys, URL: u, In: body}, opts.Key, opts.OrGet, IsDuplicateKey,
		func(fp string) (*SSHKey, error) { return s.FindByFingerprint(ctx, selectedUser, fp) })
}

// Delete removes a key from an account; Bitbucket answers 204. keyID is the key's uuid.
//
// DELETE /users/{selected_user}/ssh-keys/{key_id}
func (s *SSHKeysService) Delete(ctx context.Context, selectedUser, keyID string) (*Response, error) {
	return deleteKey(ctx, s.c, routeUserKeys, "", "users", selectedUser, "ssh-keys", keyID)
}

// DeleteKey is Delete for a key as Bitbucket returned it, addressed by its
// links.self.href when present (the link is what Bitbucket itself uses), else by its
// owner and uuid.
//
// DELETE /users/{selected_user}/ssh-keys/{key_id}
func (s *SSHKeysService) DeleteKey(ctx context.Context, k *SSHKey) (*Response, error) {
	owner := ""
	if k.Owner != nil {
		owner = cmp.Or(k.Owner.UUID, k.Owner.AccountID)
	}
	if k.Links.Self.Href == "" && (owner == "" || k.UUID == "") {
		return nil, errors.New("deleting ssh key: the key has neither a self link nor an owner and uuid")
	}
	return deleteKey(ctx, s.c, routeUserKeys, k.Links.Self.Href, "users", owner, "ssh-keys", k.UUID)
}

// AccessKeys are the access keys ("deploy keys" in the API) of one repository or one
// project. On Bitbucket Cloud they are always read-only; a project's reach every
// repository of the project.
type AccessKeys struct {
	c     *Client
	segs  []string
	route string
}

// RepoKeys are a repository's access keys.
func (c *Client) RepoKeys(workspace, repoSlug string) *AccessKeys {
	return &AccessKeys{c, []string{"repositories", workspace, repoSlug, "deploy-keys"}, routeRepoKeys}
}

// ProjectKeys are a project's access keys.
func (c *Client) ProjectKeys(workspace, projectKey string) *AccessKeys {
	return &AccessKeys{c, []string{"workspaces", workspace, "projects", projectKey, "deploy-keys"}, routeProjectKeys}
}

// List lists the access keys.
//
// GET /repositories/{workspace}/{repo_slug}/deploy-keys
// GET /workspaces/{workspace}/projects/{project_key}/deploy-keys
func (k *AccessKeys) List(ctx context.Context) iter.Seq2[*DeployKey, error] {
	return list[*DeployKey](ctx, k.c, k.route, nil, k.segs...)
}

// FindByFingerprint returns the access key with the given fingerprint, or nil and no
// error when there is none.
func (k *AccessKeys) FindByFingerprint(ctx context.Context, fingerprint string) (*DeployKey, error) {
	return FindKey(k.List(ctx), fingerprint, (*DeployKey).SHA256)
}

// Add adds an access key; Bitbucket answers 200 (not 201).
//
// After an attempt that may have landed (502, 503, 504, a cut connection), an "already
// added" answer to the retry is reconciled: the key is looked up by fingerprint and
// returned with Response.Reconciled set. With opts.OrGet a key that was already there
// before the call is accepted the same way, so the add can be re-run.
//
// POST /repositories/{workspace}/{repo_slug}/deploy-keys
// POST /workspaces/{workspace}/projects/{project_key}/deploy-keys
func (k *AccessKeys) Add(ctx context.Context, opts AddDeployKeyOptions) (*DeployKey, *Response, error) {
	u, err := k.c.URL(k.segs...)
	if err != nil {
		return nil, nil, fmt.Errorf("adding access key: %w", err)
	}
	body := map[string]string{"key": strings.TrimSpace(opts.Key), "label": opts.Label}
	return AddKey(ctx, k.c, &Call{Method: http.MethodPost, Route: k.route, URL: u, In: body}, opts.Key, opts.OrGet, IsDuplicateKey,
		func(fp string) (*DeployKey, error) { return k.FindByFingerprint(ctx, fp) })
}

// Delete removes an access key by its id; Bitbucket answers 204.
//
// DELETE /repositories/{workspace}/{repo_slug}/deploy-keys/{key_id}
// DELETE /workspaces/{workspace}/projects/{project_key}/deploy-keys/{key_id}
func (k *AccessKeys) Delete(ctx context.Context, id ID) (*Response, error) {
	if id <= 0 {
		return nil, errors.New("deleting access key: no key id")
	}
	return deleteKey(ctx, k.c, k.route, "", append(k.segs, id.String())...)
}

// deleteKey deletes the key at its self link, else at the path of segs.
func deleteKey(ctx context.Context, c *Client, route, self string, segs ...string) (*Response, error) {
	u, err := c.selfURL(self, segs...)
	if err != nil {
		return nil, fmt.Errorf("deleting key: %w", err)
	}
	return c.Do(ctx, &Call{Method: http.MethodDelete, Route: route + routeKeySuffix, URL: u})
}

// Doer sends a Call: a *Client, or the Data Center client over one.
type Doer interface {
	Do(context.Context, *Call) (*Response, error)
}

// AddKey posts a new key (cl) and reconciles a duplicate answer (dup): after an attempt
// that may have landed, or always with orGet, the key is looked up by its fingerprint
// (find) and, when found, returned as success with Response.Reconciled set.
func AddKey[T any](ctx context.Context, c Doer, cl *Call, key string, orGet bool, dup func(error) bool, find func(fingerprint string) (*T, error)) (*T, *Response, error) {
	fp, err := FingerprintOf(key)
	if err != nil {
		return nil, nil, fmt.Errorf("adding key: %w", err)
	}
	var out T
	cl.Out = &out
	resp, err := c.Do(ctx, cl)
	if err == nil {
		return &out, resp, nil
	}
	if !dup(err) || !(cl.MayHaveLanded || orGet) {
		return nil, resp, err
	}
	found, ferr := find(fp)
	switch {
	case ferr != nil:
		return nil, resp, fmt.Errorf("%w; looking the key up afterwards failed: %w", err, ferr)
	case found == nil:
		return nil, resp, err
	}
	if resp != nil {
		resp.Reconciled = true
	}
	return found, resp, nil
}

// FindKey is the first key of seq whose fingerprint (fp) is fingerprint, in any form
// NormalizeFingerprint reads; nil and no error when there is none.
func FindKey[T any](seq iter.Seq2[*T, error], fingerprint string, fp func(*T) string) (*T, error) {
	want := NormalizeFingerprint(fingerprint)
	if want == "" {
		return nil, fmt.Errorf("invalid fingerprint %q", fingerprint)
	}
	for k, err := range seq {
		if err != nil {
			return nil, err
		}
		if fp(k) == want {
			return k, nil
		}
	}
	return nil, nil
}

// Fail is an iterator that yields only err.
func Fail[T any](err error) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		yield(zero, err)
	}
}

// page is Cloud's paginated envelope; only next and values matter, because the client
// never builds page URLs itself.
type page[T any] struct {
	Next   string `json:"next"`
	Values []T    `json:"values"`
}

// list iterates over every value of the collection at segs, asking for DefaultPageLen
// length and then following `next` until it is absent. A `next` that leaves the API or
// repeats a page ends the iteration with an error.
func list[T any](ctx context.Context, c *Client, route string, query url.Values, segs ...string) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		next, err := c.URL(segs...)
		if err != nil {
			yield(zero, fmt.Errorf("listing %s: %w", route, err))
			return
		}
		q := url.Values{"pagelen": {strconv.Itoa(DefaultPageLen)}}
		for k, v := range query {
			q[k] = v
		}
		next.RawQuery = encodeQuery(q)
		seen := map[string]bool{}
		for next != nil {
			if seen[next.String()] {
				yield(zero, fmt.Errorf("listing %s: bitbucket's next link repeats %s", route, c.RedactURL(next)))
				return
			}
			seen[next.String()] = true
			var p page[T]
			if _, err := c.Do(ctx, &Call{Method: http.MethodGet, Route: route, URL: next, Out: &p}); err != nil {
				yield(zero, err)
				return
			}
			for _, v := range p.Values {
				if !yield(v, nil) {
					return
				}
			}
			if p.Next == "" {
				return
			}
			if next, err = c.apiURL(p.Next, true); err != nil {
				yield(zero, fmt.Errorf("listing %s: %w", route, err))
				return
			}
		}
	}
}

// encodeQuery encodes spaces as %20: Bitbucket's filter language (q=name ~ "api") is
// full of them, and %20 is read the same by every server, unlike +.
func encodeQuery(q url.Values) string {
	return strings.ReplaceAll(q.Encode(), "+", "%20")
}
