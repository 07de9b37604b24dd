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

// SSHKeysService manages a user's own SSH keys (the keys git authenticates as that
// user).
type SSHKeysService service

// Routes, as the spec writes them (relative to /rest).
const (
	routeUserKeys = "/ssh/latest/keys"
	routeUserKey  = "/ssh/latest/keys/{keyId}"
)

// AddSSHKeyOptions is the body of a new user key.
type AddSSHKeyOptions struct {
	// Text is the public key as an authorized_keys line.
	Text  string
	Label string
	// ExpiryDays is the key's lifetime in days (0: none, or the server's enforced maximum).
	ExpiryDays int
	// User adds the key to another user (needs admin); "" for the credential's own user.
	User string
}

type sshKeyBody struct {
	Text       string `json:"text"`
	Label      string `json:"label,omitempty"`
	ExpiryDays int    `json:"expiryDays,omitempty"`
}

// List iterates over a user's SSH keys; user "" is the credential's own user.
//
// GET /ssh/latest/keys
func (s *SSHKeysService) List(ctx context.Context, user string) iter.Seq2[*SSHKey, error] {
	u, err := s.c.url("ssh", "latest", "keys")
	if err != nil {
		return errSeq[*SSHKey](err)
	}
	q := url.Values{}
	if user != "" {
		q.Set("user", user)
	}
	return list[*SSHKey](ctx, s.c, routeUserKeys, u, q)
}

// FindByFingerprint returns the user's key with this fingerprint (any accepted form),
// or nil and no error when there is none.
func (s *SSHKeysService) FindByFingerprint(ctx context.Context, user, fingerprint string) (*SSHKey, error) {
	return findKey(s.List(ctx, user), fingerprint, func(k *SSHKey) string { return k.SHA256() })
}

// Add adds a key to a user. The server answers 201.
//
// After an attempt that may have landed (a 502, 503 or 504, a cut connection), a 409
// "already exists" to the retry is reconciled: the key is looked up by fingerprint among
// the user's keys and returned with Response.Reconciled set. Any other duplicate is an
// error (IsDuplicateKey); use AddOrGet to accept a key already on this user.
//
// POST /ssh/latest/keys
func (s *SSHKeysService) Add(ctx context.Context, opts AddSSHKeyOptions) (*SSHKey, *bbapi.Response, error) {
	return s.add(ctx, opts, false)
}

// AddOrGet is Add, but a key that is already this user's (found by fingerprint after a
// 409) is returned as success with Response.Reconciled set, so a step that adds a key can
// be re-run. A key held by another user, or as an access key, stays an error.
//
// POST /ssh/latest/keys
func (s *SSHKeysService) AddOrGet(ctx context.Context, opts AddSSHKeyOptions) (*SSHKey, *bbapi.Response, error) {
	return s.add(ctx, opts, true)
}

func (s *SSHKeysService) add(ctx context.Context, opts AddSSHKeyOptions, orGet bool) (*SSHKey, *bbapi.Response, error) {
	fp, err := bbapi.FingerprintOf(opts.Text)
	if err != nil {
		return nil, nil, fmt.Errorf("adding ssh key: %w", err)
	}
	u, err := s.c.url("ssh", "latest", "keys")
	if err != nil {
		return nil, nil, fmt.Errorf("adding ssh key: %w", err)
	}
	if opts.User != "" {
		withQuery(u, url.Values{"user": {opts.User}})
	}
	body := sshKeyBody{Text: strings.TrimSpace(opts.Text), Label: opts.Label, ExpiryDays: max(opts.ExpiryDays, 0)}
	return addKey(ctx, s.c, &call{method: http.MethodPost, route: routeUserKeys, url: u, in: body}, orGet, func() (*SSHKey, error) {
		return s.FindByFingerprint(ctx, opts.User, fp)
	})
}

// addKey posts a new key and reconciles a duplicate answer: after an attempt that may
// have landed (or always, with orGet), the key is looked up by fingerprint and, when
// found, returned as success.
func addKey[T any](ctx context.Context, c *Client, cl *call, orGet bool, find func() (*T, error)) (*T, *bbapi.Response, error) {
	var out T
	cl.out = &out
	resp, err := c.do(ctx, cl)
	if err == nil {
		return &out, resp, nil
	}
	if !IsDuplicateKey(err) || !(cl.mayHaveLanded || orGet) {
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

// Get returns one of the user's keys.
//
// GET /ssh/latest/keys/{keyId}
func (s *SSHKeysService) Get(ctx context.Context, id int) (*SSHKey, *bbapi.Response, error) {
	u, err := s.keyURL(id)
	if err != nil {
		return nil, nil, fmt.Errorf("getting ssh key: %w", err)
	}
	var out SSHKey
	resp, err := s.c.do(ctx, &call{method: http.MethodGet, route: routeUserKey, url: u, out: &out})
	if err != nil {
		return nil, resp, err
	}
	return &out, resp, nil
}

// Delete removes one key, by its id. The server answers 204.
//
// There is deliberately no way to send `DELETE /ssh/latest/keys` itself, which deletes
// every key of the user: the URL is built with the id as its last segment, a zero or
// negative id is refused before anything is sent, and the client refuses any DELETE of
// the collection (ErrUnscopedKeyDelete).
//
// DELETE /ssh/latest/keys/{keyId}
func (s *SSHKeysService) Delete(ctx context.Context, id int) (*bbapi.Response, error) {
	u, err := s.keyURL(id)
	if err != nil {
		return nil, fmt.Errorf("deleting ssh key: %w", err)
	}
	return s.c.do(ctx, &call{method: http.MethodDelete, route: routeUserKey, url: u})
}

// DeleteKey is Delete for a key as the server returned it.
//
// DELETE /ssh/latest/keys/{keyId}
func (s *SSHKeysService) DeleteKey(ctx context.Context, k *SSHKey) (*bbapi.Response, error) {
	if k == nil {
		return nil, errors.New("deleting ssh key: no key given")
	}
	return s.Delete(ctx, k.ID)
}

// ErrNoKeyID is returned for a key id that is not positive: Data Center's ids start at 1,
// and a missing id must never turn into a request on the collection.
var ErrNoKeyID = errors.New("no key id (Data Center key ids are positive integers)")

func (s *SSHKeysService) keyURL(id int) (*url.URL, error) {
	if id <= 0 {
		return nil, ErrNoKeyID
	}
	return s.c.url("ssh", "latest", "keys", strconv.Itoa(id))
}

func findKey[T any](seq iter.Seq2[*T, error], fingerprint string, fp func(*T) string) (*T, error) {
	want := bbapi.NormalizeFingerprint(fingerprint)
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

func errSeq[T any](err error) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		yield(zero, err)
	}
}
