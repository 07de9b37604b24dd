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

// ProjectDeployKeysService manages a project's access keys: keys that reach every
// repository of the project. Bitbucket has no PUT for them.
type ProjectDeployKeysService service

// ProjectDeployKey is a project access key.
type ProjectDeployKey struct {
	Type    string `json:"type,omitempty"`
	ID      ID     `json:"id"`
	Key     string `json:"key"`
	Label   string `json:"label,omitempty"`
	Comment string `json:"comment,omitempty"`
	// AddedOn is read from added_on, or created_on.
	AddedOn   Timestamp `json:"-"`
	LastUsed  Timestamp `json:"last_used"`
	Project   *Project  `json:"project,omitempty"`
	CreatedBy *Account  `json:"created_by,omitempty"`
	Links     SelfLinks `json:"links"`
}

// UnmarshalJSON reads added_on or created_on into AddedOn.
func (k *ProjectDeployKey) UnmarshalJSON(b []byte) error {
	type plain ProjectDeployKey
	var v struct {
		plain
		AddedOn   Timestamp `json:"added_on"`
		CreatedOn Timestamp `json:"created_on"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*k = ProjectDeployKey(v.plain)
	k.AddedOn = firstTime(v.AddedOn, v.CreatedOn)
	return nil
}

// SHA256 returns the key's fingerprint as "SHA256:…", computed from the key.
func (k *ProjectDeployKey) SHA256() string { return keyFingerprint("", k.Key) }

const (
	routeProjectKeys = "/workspaces/{workspace}/projects/{project_key}/deploy-keys"
	routeProjectKey  = "/workspaces/{workspace}/projects/{project_key}/deploy-keys/{key_id}"
)

// List lists a project's access keys.
//
// GET /workspaces/{workspace}/projects/{project_key}/deploy-keys
func (s *ProjectDeployKeysService) List(ctx context.Context, workspace, projectKey string) iter.Seq2[*ProjectDeployKey, error] {
	u, err := s.c.url("workspaces", workspace, "projects", projectKey, "deploy-keys")
	if err != nil {
		return fail[*ProjectDeployKey](fmt.Errorf("listing project access keys: %w", err))
	}
	return list[*ProjectDeployKey](ctx, s.c, routeProjectKeys, u, nil)
}

// FindByFingerprint returns the project's access key with the given fingerprint, or nil
// and no error when there is none.
func (s *ProjectDeployKeysService) FindByFingerprint(ctx context.Context, workspace, projectKey, fingerprint string) (*ProjectDeployKey, error) {
	return findKey(s.List(ctx, workspace, projectKey), fingerprint, (*ProjectDeployKey).SHA256)
}

// Add adds an access key to a project. Bitbucket answers 200. An "already added"
// answer after an attempt that may have landed is reconciled as for
// DeployKeysService.Add.
//
// POST /workspaces/{workspace}/projects/{project_key}/deploy-keys
func (s *ProjectDeployKeysService) Add(ctx context.Context, workspace, projectKey string, opts AddDeployKeyOptions) (*ProjectDeployKey, *Response, error) {
	return s.add(ctx, workspace, projectKey, opts, false)
}

// AddOrGet is Add, but a key already on this project is returned as success with
// Response.Reconciled set.
//
// POST /workspaces/{workspace}/projects/{project_key}/deploy-keys
func (s *ProjectDeployKeysService) AddOrGet(ctx context.Context, workspace, projectKey string, opts AddDeployKeyOptions) (*ProjectDeployKey, *Response, error) {
	return s.add(ctx, workspace, projectKey, opts, true)
}

func (s *ProjectDeployKeysService) add(ctx context.Context, workspace, projectKey string, opts AddDeployKeyOptions, orGet bool) (*ProjectDeployKey, *Response, error) {
	fp, err := FingerprintOf(opts.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("adding project access key: %w", err)
	}
	u, err := s.c.url("workspaces", workspace, "projects", projectKey, "deploy-keys")
	if err != nil {
		return nil, nil, fmt.Errorf("adding project access key: %w", err)
	}
	body, err := json.Marshal(map[string]string{"key": strings.TrimSpace(opts.Key), "label": opts.Label})
	if err != nil {
		return nil, nil, err
	}
	return addKey(ctx, s.c, endpoint{http.MethodPost, routeProjectKeys, u}, body, orGet, func() (*ProjectDeployKey, error) {
		return s.FindByFingerprint(ctx, workspace, projectKey, fp)
	})
}

// Get returns one project access key.
//
// GET /workspaces/{workspace}/projects/{project_key}/deploy-keys/{key_id}
func (s *ProjectDeployKeysService) Get(ctx context.Context, workspace, projectKey string, id ID) (*ProjectDeployKey, *Response, error) {
	u, err := s.c.url("workspaces", workspace, "projects", projectKey, "deploy-keys", id.String())
	if err != nil {
		return nil, nil, fmt.Errorf("getting project access key: %w", err)
	}
	var out ProjectDeployKey
	resp, err := s.c.do(ctx, &call{endpoint: endpoint{http.MethodGet, routeProjectKey, u}, out: &out})
	if err != nil {
		return nil, resp, err
	}
	return &out, resp, nil
}

// Delete removes an access key from a project. Bitbucket answers 204.
//
// DELETE /workspaces/{workspace}/projects/{project_key}/deploy-keys/{key_id}
func (s *ProjectDeployKeysService) Delete(ctx context.Context, workspace, projectKey string, id ID) (*Response, error) {
	u, err := s.c.url("workspaces", workspace, "projects", projectKey, "deploy-keys", id.String())
	if err != nil {
		return nil, fmt.Errorf("deleting project access key: %w", err)
	}
	return s.c.do(ctx, &call{endpoint: endpoint{http.MethodDelete, routeProjectKey, u}})
}

// DeleteKey is Delete for a key as Bitbucket returned it, addressed by its
// links.self.href when present. The project's workspace is not embedded in the key, so
// without the link use Delete.
//
// DELETE /workspaces/{workspace}/projects/{project_key}/deploy-keys/{key_id}
func (s *ProjectDeployKeysService) DeleteKey(ctx context.Context, k *ProjectDeployKey) (*Response, error) {
	if k == nil || k.Links.Self.Href == "" {
		return nil, errors.New("deleting project access key: the key has no self link; use Delete with the workspace, project and id")
	}
	u, err := s.c.apiURL(k.Links.Self.Href)
	if err != nil {
		return nil, fmt.Errorf("deleting project access key: %w", err)
	}
	u.RawQuery, u.Fragment = "", ""
	return s.c.do(ctx, &call{endpoint: endpoint{http.MethodDelete, routeProjectKey, u}})
}
