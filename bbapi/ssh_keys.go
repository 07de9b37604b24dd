package bbapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// SSHKeysService manages the SSH keys of a user account.
//
// {selected_user} is the account's account_id or its {uuid} with braces; a username is
// not documented there and is not to be used.
type SSHKeysService service

// SSHKey is a public key on a user account (Bitbucket's ssh_account_key).
type SSHKey struct {
	Type    string `json:"type,omitempty"`
	UUID    string `json:"uuid,omitempty"`
	Key     string `json:"key"`
	Comment string `json:"comment,omitempty"`
	Label   string `json:"label,omitempty"`
	// Fingerprint is as Bitbucket sent it: unpadded base64 of the SHA-256, no prefix.
	// Use SHA256 for the OpenSSH form.
	Fingerprint string    `json:"fingerprint,omitempty"`
	CreatedOn   Timestamp `json:"created_on"`
	LastUsed    Timestamp `json:"last_used"`
	ExpiresOn   Timestamp `json:"expires_on"`
	Owner       *Account  `json:"owner,omitempty"`
	Links       SelfLinks `json:"links"`
}

// SHA256 returns the key's fingerprint as "SHA256:…" (as ssh.FingerprintSHA256 prints
// it), from Bitbucket's fingerprint or else computed from the key; "" if neither works.
func (k *SSHKey) SHA256() string { return keyFingerprint(k.Fingerprint, k.Key) }

// AddSSHKeyOptions is a key to add to an account.
type AddSSHKeyOptions struct {
	// Key is the public key in authorized_keys form: "ssh-ed25519 AAAA… comment".
	Key   string
	Label string
	// ExpiresOn, if set, is sent as the expires_on query parameter (the body form is
	// unconfirmed).
	ExpiresOn *time.Time
}

// UpdateSSHKeyOptions changes a key's metadata; the key itself cannot change (rotation
// is add new, then delete old).
type UpdateSSHKeyOptions struct {
	Label string
}

const (
	routeUserKeys = "/users/{selected_user}/ssh-keys"
	routeUserKey  = "/users/{selected_user}/ssh-keys/{key_id}"
)

// List lists the keys of an account.
//
// GET /users/{selected_user}/ssh-keys
func (s *SSHKeysService) List(ctx context.Context, selectedUser string) iter.Seq2[*SSHKey, error] {
	u, err := s.c.url("users", selectedUser, "ssh-keys")
	if err != nil {
		return fail[*SSHKey](fmt.Errorf("listing ssh keys: %w", err))
	}
	return list[*SSHKey](ctx, s.c, routeUserKeys, u, nil)
}

// FindByFingerprint returns the account's key with the given fingerprint (any form
// NormalizeFingerprint reads), or nil and no error when there is none.
func (s *SSHKeysService) FindByFingerprint(ctx context.Context, selectedUser, fingerprint string) (*SSHKey, error) {
	want := NormalizeFingerprint(fingerprint)
	if want == "" {
		return nil, fmt.Errorf("invalid fingerprint %q", fingerprint)
	}
	for k, err := range s.List(ctx, selectedUser) {
		if err != nil {
			return nil, err
		}
		if k.SHA256() == want {
			return k, nil
		}
	}
	return nil, nil
}

// Add adds a key to an account. Bitbucket answers 201.
//
// If an attempt fails in a way that may hide a key that was in fact added (a 502, 503 or
// 504, a cut connection) and the retry then answers "already added", the key is looked
// up by fingerprint and returned with Response.Reconciled set: the add did land. Any
// other "already added" answer is returned as an error (IsDuplicateKey); use AddOrGet to
// accept a key already on this account.
//
// POST /users/{selected_user}/ssh-keys
func (s *SSHKeysService) Add(ctx context.Context, selectedUser string, opts AddSSHKeyOptions) (*SSHKey, *Response, error) {
	return s.add(ctx, selectedUser, opts, false)
}

// AddOrGet is Add, but a key that is already on this account (found by fingerprint
// after an "already added" answer) is returned as success with Response.Reconciled set,
// so a step that adds a key can be re-run. A key on another account stays an error: a
// public key can sit on one account only.
//
// POST /users/{selected_user}/ssh-keys
func (s *SSHKeysService) AddOrGet(ctx context.Context, selectedUser string, opts AddSSHKeyOptions) (*SSHKey, *Response, error) {
	return s.add(ctx, selectedUser, opts, true)
}

func (s *SSHKeysService) add(ctx context.Context, selectedUser string, opts AddSSHKeyOptions, orGet bool) (*SSHKey, *Response, error) {
	fp, err := FingerprintOf(opts.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("adding ssh key: %w", err)
	}
	u, err := s.c.url("users", selectedUser, "ssh-keys")
	if err != nil {
		return nil, nil, fmt.Errorf("adding ssh key: %w", err)
	}
	if opts.ExpiresOn != nil {
		u.RawQuery = encodeQuery(url.Values{"expires_on": {opts.ExpiresOn.UTC().Format("2006-01-02T15:04:05.000Z")}})
	}
	body, err := json.Marshal(map[string]string{"type": "ssh_key", "key": strings.TrimSpace(opts.Key), "label": opts.Label})
	if err != nil {
		return nil, nil, err
	}
	return addKey(ctx, s.c, endpoint{http.MethodPost, routeUserKeys, u}, body, orGet, func() (*SSHKey, error) {
		return s.FindByFingerprint(ctx, selectedUser, fp)
	})
}

// addKey posts a new key and reconciles an "already added" answer: after an attempt
// that may have landed (or always, with orGet), the key is looked up by fingerprint and,
// when found, returned as success.
func addKey[T any](ctx context.Context, c *Client, ep endpoint, body []byte, orGet bool, find func() (*T, error)) (*T, *Response, error) {
	var out T
	cl := &call{endpoint: ep, body: body, out: &out}
	resp, err := c.do(ctx, cl)
	if err == nil {
		return &out, resp, nil
	}
	if !IsDuplicateKey(err) || !(cl.ambiguous || orGet) {
		return nil, resp, err
	}
	found, ferr := find()
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

// Get returns one key. keyID is the key's uuid (with or without braces).
//
// GET /users/{selected_user}/ssh-keys/{key_id}
func (s *SSHKeysService) Get(ctx context.Context, selectedUser, keyID string) (*SSHKey, *Response, error) {
	u, err := s.c.url("users", selectedUser, "ssh-keys", keyID)
	if err != nil {
		return nil, nil, fmt.Errorf("getting ssh key: %w", err)
	}
	return s.get(ctx, u)
}

func (s *SSHKeysService) get(ctx context.Context, u *url.URL) (*SSHKey, *Response, error) {
	var out SSHKey
	resp, err := s.c.do(ctx, &call{endpoint: endpoint{http.MethodGet, routeUserKey, u}, out: &out})
	if err != nil {
		return nil, resp, err
	}
	return &out, resp, nil
}

// Update changes a key's label.
//
// PUT /users/{selected_user}/ssh-keys/{key_id}
func (s *SSHKeysService) Update(ctx context.Context, selectedUser, keyID string, opts UpdateSSHKeyOptions) (*SSHKey, *Response, error) {
	u, err := s.c.url("users", selectedUser, "ssh-keys", keyID)
	if err != nil {
		return nil, nil, fmt.Errorf("updating ssh key: %w", err)
	}
	return s.update(ctx, u, opts)
}

// UpdateKey is Update for a key as Bitbucket returned it, addressed by its
// links.self.href when present.
//
// PUT /users/{selected_user}/ssh-keys/{key_id}
func (s *SSHKeysService) UpdateKey(ctx context.Context, k *SSHKey, opts UpdateSSHKeyOptions) (*SSHKey, *Response, error) {
	u, err := s.keyURL(k)
	if err != nil {
		return nil, nil, fmt.Errorf("updating ssh key: %w", err)
	}
	return s.update(ctx, u, opts)
}

func (s *SSHKeysService) update(ctx context.Context, u *url.URL, opts UpdateSSHKeyOptions) (*SSHKey, *Response, error) {
	body, err := json.Marshal(map[string]string{"type": "ssh_key", "label": opts.Label})
	if err != nil {
		return nil, nil, err
	}
	var out SSHKey
	resp, err := s.c.do(ctx, &call{endpoint: endpoint{http.MethodPut, routeUserKey, u}, body: body, out: &out})
	if err != nil {
		return nil, resp, err
	}
	return &out, resp, nil
}

// Delete removes a key from an account. Bitbucket answers 204.
//
// DELETE /users/{selected_user}/ssh-keys/{key_id}
func (s *SSHKeysService) Delete(ctx context.Context, selectedUser, keyID string) (*Response, error) {
	u, err := s.c.url("users", selectedUser, "ssh-keys", keyID)
	if err != nil {
		return nil, fmt.Errorf("deleting ssh key: %w", err)
	}
	return s.c.do(ctx, &call{endpoint: endpoint{http.MethodDelete, routeUserKey, u}})
}

// DeleteKey is Delete for a key as Bitbucket returned it, addressed by its
// links.self.href when present (the spec shows key ids both with and without braces;
// the link is what Bitbucket itself uses).
//
// DELETE /users/{selected_user}/ssh-keys/{key_id}
func (s *SSHKeysService) DeleteKey(ctx context.Context, k *SSHKey) (*Response, error) {
	u, err := s.keyURL(k)
	if err != nil {
		return nil, fmt.Errorf("deleting ssh key: %w", err)
	}
	return s.c.do(ctx, &call{endpoint: endpoint{http.MethodDelete, routeUserKey, u}})
}

func (s *SSHKeysService) keyURL(k *SSHKey) (*url.URL, error) {
	if k == nil {
		return nil, errors.New("no key given")
	}
	owner := ""
	if k.Owner != nil {
		owner = k.Owner.UUID
		if owner == "" {
			owner = k.Owner.AccountID
		}
	}
	if k.Links.Self.Href == "" && (owner == "" || k.UUID == "") {
		return nil, errors.New("the key has neither a self link nor an owner and uuid")
	}
	return s.c.selfURL(k.Links.Self.Href, "users", owner, "ssh-keys", k.UUID)
}
