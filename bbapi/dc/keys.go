package dc

import (
	"cmp"
	"context"
	"fmt"
	"iter"
	"net/http"
	"strconv"
	"strings"

	"github.com/bbkey/bbkey/bbapi"
)

// SSHKeysService manages a user's own SSH keys (the keys git authenticates as that user).
type SSHKeysService service

// Routes, as the spec writes them (relative to /rest).
const (
	routeUserKeys    = "/ssh/latest/keys"
	routeRepoKeys    = "/keys/latest/projects/{projectKey}/repos/{repositorySlug}/ssh"
	routeProjectKeys = "/keys/latest/projects/{projectKey}/ssh"
	routeKeySuffix   = "/{keyId}"
)

// AddSSHKeyOptions is the body of a new user key.
type AddSSHKeyOptions struct {
	// Text is the public key as an authorized_keys line.
	Text  string
	Label string
	// ExpiryDays is the key's lifetime in days (0: none, or the server's enforced maximum).
	ExpiryDays int
	// OrGet accepts a key already this user's: see SSHKeysService.Add.
	OrGet bool
}

// AddAccessKeyOptions is the body of a new access key.
type AddAccessKeyOptions struct {
	// Text is the public key as an authorized_keys line.
	Text  string
	Label string
	// ExpiryDays is the key's lifetime in days (0: none, or the server's maximum).
	ExpiryDays int
	// Permission is REPO_READ or REPO_WRITE for a repository, PROJECT_READ or
	// PROJECT_WRITE for a project; empty means the read permission.
	Permission Permission
	// OrGet accepts a key the place already has (with the permission it has, which may
	// differ from the one asked for): see SSHKeysService.Add.
	OrGet bool
}

type sshKeyBody struct {
	Text       string `json:"text"`
	Label      string `json:"label,omitempty"`
	ExpiryDays int    `json:"expiryDays,omitempty"`
}

// List iterates over the SSH keys of the credential's user (never another user's: no
// ?user=, so nothing read from the state can point the calls elsewhere).
//
// GET /ssh/latest/keys
func (s *SSHKeysService) List(ctx context.Context) iter.Seq2[*SSHKey, error] {
	return list[*SSHKey](ctx, s.c, routeUserKeys, nil, "ssh", "latest", "keys")
}

// FindByFingerprint returns the user's key with this fingerprint (any accepted form),
// or nil and no error when there is none.
func (s *SSHKeysService) FindByFingerprint(ctx context.Context, fingerprint string) (*SSHKey, error) {
	return bbapi.FindKey(s.List(ctx), fingerprint, (*SSHKey).SHA256)
}

// Add adds a key to the credential's user; the server answers 201.
//
// After an attempt that may have landed (a 502, 503 or 504, a cut connection), a 409
// "already exists" to the retry is reconciled: the key is looked up by fingerprint and
// returned with Response.Reconciled set. With opts.OrGet a key that already was this
// user's is accepted the same way, so the add can be re-run. A key held by another
// user, or as an access key, stays an error (IsDuplicateKey).
//
// POST /ssh/latest/keys
func (s *SSHKeysService) Add(ctx context.Context, opts AddSSHKeyOptions) (*SSHKey, *bbapi.Response, error) {
	u, err := s.c.t.URL("ssh", "latest", "keys")
	if err != nil {
		return nil, nil, fmt.Errorf("adding ssh key: %w", err)
	}
	body := sshKeyBody{Text: strings.TrimSpace(opts.Text), Label: opts.Label, ExpiryDays: max(opts.ExpiryDays, 0)}
	return bbapi.AddKey(ctx, s.c, &bbapi.Call{Method: http.MethodPost, Route: routeUserKeys, URL: u, In: body}, opts.Text, opts.OrGet, IsDuplicateKey,
		func(fp string) (*SSHKey, error) { return s.FindByFingerprint(ctx, fp) })
}

// Delete removes one key, by its id; the server answers 204. A zero or negative id is
// refused before anything is sent (ErrNoKeyID), and the client refuses any DELETE of
// the collection itself (ErrUnscopedKeyDelete).
//
// DELETE /ssh/latest/keys/{keyId}
func (s *SSHKeysService) Delete(ctx context.Context, id int) (*bbapi.Response, error) {
	return s.c.deleteKey(ctx, routeUserKeys, id, "ssh", "latest", "keys")
}

// AccessKeys are the access keys of one repository (SSH keys that may read, REPO_READ,
// or read and write, REPO_WRITE, and whose management needs REPO_ADMIN) or of one project
// (PROJECT_READ or PROJECT_WRITE on every repository of the project; PROJECT_ADMIN).
type AccessKeys struct {
	c     *Client
	segs  []string // under /rest
	route string
	what  string // "repository PROJ/slug", for errors
	// Read and Write are the permissions an access key of this place may have.
	Read, Write Permission
}

// RepoKeys are a repository's access keys. A personal repository's project key is "~"
// followed by the user's slug.
func (c *Client) RepoKeys(projectKey, repoSlug string) *AccessKeys {
	return &AccessKeys{c, []string{"keys", "latest", "projects", projectKey, "repos", repoSlug, "ssh"}, routeRepoKeys,
		"repository " + projectKey + "/" + repoSlug, RepoRead, RepoWrite}
}

// ProjectKeys are a project's access keys.
func (c *Client) ProjectKeys(projectKey string) *AccessKeys {
	return &AccessKeys{c, []string{"keys", "latest", "projects", projectKey, "ssh"}, routeProjectKeys,
		"project " + projectKey, ProjectRead, ProjectWrite}
}

// List iterates over the access keys.
//
// GET /keys/latest/projects/{projectKey}/repos/{repositorySlug}/ssh
// GET /keys/latest/projects/{projectKey}/ssh
func (k *AccessKeys) List(ctx context.Context) iter.Seq2[*AccessKey, error] {
	return list[*AccessKey](ctx, k.c, k.route, nil, k.segs...)
}

// FindByFingerprint returns the access key with this fingerprint, or nil and no error
// when there is none.
func (k *AccessKeys) FindByFingerprint(ctx context.Context, fingerprint string) (*AccessKey, error) {
	return bbapi.FindKey(k.List(ctx), fingerprint, func(a *AccessKey) string { return a.Key.SHA256() })
}

// Add grants a key access (Read unless opts.Permission says Write); the server answers
// 201. A duplicate is reconciled as for user keys.
//
// POST /keys/latest/projects/{projectKey}/repos/{repositorySlug}/ssh
// POST /keys/latest/projects/{projectKey}/ssh
func (k *AccessKeys) Add(ctx context.Context, opts AddAccessKeyOptions) (*AccessKey, *bbapi.Response, error) {
	perm := cmp.Or(opts.Permission, k.Read)
	if perm != k.Read && perm != k.Write {
		return nil, nil, fmt.Errorf("adding access key to %s: permission %q is neither %s nor %s", k.what, perm, k.Read, k.Write)
	}
	u, err := k.c.t.URL(k.segs...)
	if err != nil {
		return nil, nil, fmt.Errorf("adding access key to %s: %w", k.what, err)
	}
	body := struct {
		Key        sshKeyBody `json:"key"`
		Permission Permission `json:"permission"`
	}{sshKeyBody{Text: strings.TrimSpace(opts.Text), Label: opts.Label, ExpiryDays: max(opts.ExpiryDays, 0)}, perm}
	return bbapi.AddKey(ctx, k.c, &bbapi.Call{Method: http.MethodPost, Route: k.route, URL: u, In: body}, opts.Text, opts.OrGet, IsDuplicateKey,
		func(fp string) (*AccessKey, error) { return k.FindByFingerprint(ctx, fp) })
}

// Delete revokes an access key; the server answers 204.
//
// DELETE /keys/latest/projects/{projectKey}/repos/{repositorySlug}/ssh/{keyId}
// DELETE /keys/latest/projects/{projectKey}/ssh/{keyId}
func (k *AccessKeys) Delete(ctx context.Context, id int) (*bbapi.Response, error) {
	return k.c.deleteKey(ctx, k.route, id, k.segs...)
}

// deleteKey deletes key id of the collection at segs; an id that is not positive is
// refused before anything is sent.
func (c *Client) deleteKey(ctx context.Context, route string, id int, segs ...string) (*bbapi.Response, error) {
	if id <= 0 {
		return nil, fmt.Errorf("deleting key: %w", ErrNoKeyID)
	}
	u, err := c.t.URL(append(segs, strconv.Itoa(id))...)
	if err != nil {
		return nil, fmt.Errorf("deleting key: %w", err)
	}
	return c.Do(ctx, &bbapi.Call{Method: http.MethodDelete, Route: route + routeKeySuffix, URL: u})
}
