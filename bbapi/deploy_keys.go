package bbapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"strings"
)

// DeployKeysService manages a repository's access keys ("deploy keys" in the API).
// On Bitbucket Cloud they are always read-only.
type DeployKeysService service

// DeployKey is a repository access key.
type DeployKey struct {
	Type    string `json:"type,omitempty"`
	ID      ID     `json:"id"`
	Key     string `json:"key"`
	Label   string `json:"label,omitempty"`
	Comment string `json:"comment,omitempty"`
	// AddedOn is when the key was added. Bitbucket's examples call it created_on, its
	// schema added_on; both are read.
	AddedOn    Timestamp   `json:"-"`
	LastUsed   Timestamp   `json:"last_used"`
	Repository *Repository `json:"repository,omitempty"`
	Owner      *Account    `json:"owner,omitempty"`
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
	k.AddedOn = firstTime(v.AddedOn, v.CreatedOn)
	return nil
}

func firstTime(ts ...Timestamp) Timestamp {
	for _, t := range ts {
		if !t.IsZero() {
			return t
		}
	}
	return Timestamp{}
}

// SHA256 returns the key's fingerprint as "SHA256:…", computed from the key.
func (k *DeployKey) SHA256() string { return keyFingerprint("", k.Key) }

// AddDeployKeyOptions is a key to add as an access key.
type AddDeployKeyOptions struct {
	// Key is the public key in authorized_keys form.
	Key   string
	Label string
}

// UpdateDeployKeyOptions changes an access key's label.
type UpdateDeployKeyOptions struct {
	Label string
}

const (
	routeRepoKeys = "/repositories/{workspace}/{repo_slug}/deploy-keys"
	routeRepoKey  = "/repositories/{workspace}/{repo_slug}/deploy-keys/{key_id}"
)

// List lists a repository's access keys.
//
// GET /repositories/{workspace}/{repo_slug}/deploy-keys
func (s *DeployKeysService) List(ctx context.Context, workspace, repoSlug string) iter.Seq2[*DeployKey, error] {
	u, err := s.c.url("repositories", workspace, repoSlug, "deploy-keys")
	if err != nil {
		return fail[*DeployKey](fmt.Errorf("listing access keys: %w", err))
	}
	return list[*DeployKey](ctx, s.c, routeRepoKeys, u, nil)
}

// FindByFingerprint returns the repository's access key with the given fingerprint, or
// nil and no error when there is none.
func (s *DeployKeysService) FindByFingerprint(ctx context.Context, workspace, repoSlug, fingerprint string) (*DeployKey, error) {
	return findKey(s.List(ctx, workspace, repoSlug), fingerprint, (*DeployKey).SHA256)
}

func findKey[T any](seq iter.Seq2[*T, error], fingerprint string, fp func(*T) string) (*T, error) {
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

// Add adds an access key to a repository. Bitbucket answers 200 (not 201).
//
// After an attempt that may have landed (502, 503, 504, a cut connection), an "already
// added" answer to the retry is reconciled: the key is looked up by fingerprint and
// returned with Response.Reconciled set. Use AddOrGet to accept a key that was already
// there before the call.
//
// POST /repositories/{workspace}/{repo_slug}/deploy-keys
func (s *DeployKeysService) Add(ctx context.Context, workspace, repoSlug string, opts AddDeployKeyOptions) (*DeployKey, *Response, error) {
	return s.add(ctx, workspace, repoSlug, opts, false)
}

// AddOrGet is Add, but a key already on this repository is returned as success with
// Response.Reconciled set, so adding a machine's key to a repository can be re-run.
//
// POST /repositories/{workspace}/{repo_slug}/deploy-keys
func (s *DeployKeysService) AddOrGet(ctx context.Context, workspace, repoSlug string, opts AddDeployKeyOptions) (*DeployKey, *Response, error) {
	return s.add(ctx, workspace, repoSlug, opts, true)
}

func (s *DeployKeysService) add(ctx context.Context, workspace, repoSlug string, opts AddDeployKeyOptions, orGet bool) (*DeployKey, *Response, error) {
	fp, err := FingerprintOf(opts.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("adding access key: %w", err)
	}
	u, err := s.c.url("repositories", workspace, repoSlug, "deploy-keys")
	if err != nil {
		return nil, nil, fmt.Errorf("adding access key: %w", err)
	}
	body, err := json.Marshal(map[string]string{"key": strings.TrimSpace(opts.Key), "label": opts.Label})
	if err != nil {
		return nil, nil, err
	}
	return addKey(ctx, s.c, endpoint{http.MethodPost, routeRepoKeys, u}, body, orGet, func() (*DeployKey, error) {
		return s.FindByFingerprint(ctx, workspace, repoSlug, fp)
	})
}

// Get returns one access key.
//
// GET /repositories/{workspace}/{repo_slug}/deploy-keys/{key_id}
func (s *DeployKeysService) Get(ctx context.Context, workspace, repoSlug string, id ID) (*DeployKey, *Response, error) {
	u, err := s.c.url("repositories", workspace, repoSlug, "deploy-keys", id.String())
	if err != nil {
		return nil, nil, fmt.Errorf("getting access key: %w", err)
	}
	var out DeployKey
	resp, err := s.c.do(ctx, &call{endpoint: endpoint{http.MethodGet, routeRepoKey, u}, out: &out})
	if err != nil {
		return nil, resp, err
	}
	return &out, resp, nil
}

// Update changes an access key's label.
//
// PUT /repositories/{workspace}/{repo_slug}/deploy-keys/{key_id}
func (s *DeployKeysService) Update(ctx context.Context, workspace, repoSlug string, id ID, opts UpdateDeployKeyOptions) (*DeployKey, *Response, error) {
	u, err := s.c.url("repositories", workspace, repoSlug, "deploy-keys", id.String())
	if err != nil {
		return nil, nil, fmt.Errorf("updating access key: %w", err)
	}
	body, err := json.Marshal(map[string]string{"label": opts.Label})
	if err != nil {
		return nil, nil, err
	}
	var out DeployKey
	resp, err := s.c.do(ctx, &call{endpoint: endpoint{http.MethodPut, routeRepoKey, u}, body: body, out: &out})
	if err != nil {
		return nil, resp, err
	}
	return &out, resp, nil
}

// Delete removes an access key from a repository. Bitbucket answers 204.
//
// DELETE /repositories/{workspace}/{repo_slug}/deploy-keys/{key_id}
func (s *DeployKeysService) Delete(ctx context.Context, workspace, repoSlug string, id ID) (*Response, error) {
	u, err := s.c.url("repositories", workspace, repoSlug, "deploy-keys", id.String())
	if err != nil {
		return nil, fmt.Errorf("deleting access key: %w", err)
	}
	return s.c.do(ctx, &call{endpoint: endpoint{http.MethodDelete, routeRepoKey, u}})
}

// DeleteKey is Delete for a key as Bitbucket returned it, addressed by its
// links.self.href when present, else by its repository's full_name and id.
//
// DELETE /repositories/{workspace}/{repo_slug}/deploy-keys/{key_id}
func (s *DeployKeysService) DeleteKey(ctx context.Context, k *DeployKey) (*Response, error) {
	if k == nil {
		return nil, errors.New("deleting access key: no key given")
	}
	var ws, slug string
	if k.Repository != nil {
		ws, slug = k.Repository.WorkspaceSlug(), k.Repository.RepoSlug()
	}
	if k.Links.Self.Href == "" && (ws == "" || slug == "" || k.ID == 0) {
		return nil, errors.New("deleting access key: the key has neither a self link nor a repository and id")
	}
	u, err := s.c.selfURL(k.Links.Self.Href, "repositories", ws, slug, "deploy-keys", k.ID.String())
	if err != nil {
		return nil, fmt.Errorf("deleting access key: %w", err)
	}
	return s.c.do(ctx, &call{endpoint: endpoint{http.MethodDelete, routeRepoKey, u}})
}
