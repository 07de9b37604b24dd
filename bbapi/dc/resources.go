package dc

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/bbapi"
)

// RepositoriesService lists repositories.
type RepositoriesService service

// ProjectsService lists projects.
type ProjectsService service

// UsersService reads users.
type UsersService service

// SSHService reads the server's SSH settings.
type SSHService service

// ListRepositoriesOptions filters GET /api/latest/repos.
type ListRepositoriesOptions struct {
	// Permission keeps the repositories on which the credential has at least this
	// permission: RepoAdmin lists every repository whose access keys it may manage.
	Permission Permission
	// ProjectKey keeps the repositories of one project.
	ProjectKey string
}

// List iterates over the repositories the credential can see, filtered.
//
// GET /api/latest/repos
func (s *RepositoriesService) List(ctx context.Context, opts ListRepositoriesOptions) iter.Seq2[*Repository, error] {
	q := url.Values{"permission": {string(opts.Permission)}, "projectkey": {opts.ProjectKey}}
	return list[*Repository](ctx, s.c, "/api/latest/repos", q, "api", "latest", "repos")
}

// ListByProject iterates over the repositories of a project the credential can see.
//
// GET /api/latest/projects/{projectKey}/repos
func (s *RepositoriesService) ListByProject(ctx context.Context, projectKey string) iter.Seq2[*Repository, error] {
	return list[*Repository](ctx, s.c, "/api/latest/projects/{projectKey}/repos", nil, "api", "latest", "projects", projectKey, "repos")
}

// ListProjectsOptions filters GET /api/latest/projects.
type ListProjectsOptions struct {
	// Permission keeps the projects on which the credential has at least this
	// permission: ProjectAdmin lists the projects whose access keys it may manage.
	Permission Permission
}

// List iterates over the projects the credential can see, filtered.
//
// GET /api/latest/projects
func (s *ProjectsService) List(ctx context.Context, opts ListProjectsOptions) iter.Seq2[*Project, error] {
	q := url.Values{"permission": {string(opts.Permission)}}
	return list[*Project](ctx, s.c, "/api/latest/projects", q, "api", "latest", "projects")
}

// Current returns the user the credential acts as (for a project or repository HTTP
// access token, its service user), and what the server says about itself: Data Center
// names the user in the X-AUSERNAME header of every authenticated answer.
//
// GET /api/latest/application-properties, then GET /api/latest/users/{userSlug}
func (s *UsersService) Current(ctx context.Context) (*User, *ApplicationProperties, error) {
	const route = "/api/latest/application-properties"
	props, resp, err := get[ApplicationProperties](ctx, s.c, route, "api", "latest", "application-properties")
	if err != nil {
		return nil, nil, err
	}
	name := resp.Header.Get("X-AUSERNAME")
	if name == "" {
		return nil, props, &bbapi.ErrorResponse{Method: http.MethodGet, URL: s.c.BaseURL() + route, Route: route, StatusCode: resp.StatusCode, Body: "the server did not name the credential's user (no X-AUSERNAME header): the credential was not accepted"}
	}
	u, _, err := get[User](ctx, s.c, "/api/latest/users/{userSlug}", "api", "latest", "users", name)
	return u, props, err
}

// SSHSettings is where the server's SSH git listens and the fingerprint of its host key
// (RestSshSettings), from the server's own HTTPS answer: what bbkey pins instead of
// trusting the SSH server on first use.
type SSHSettings struct {
	Enabled           bool   `json:"enabled"`
	AccessKeysEnabled bool   `json:"accessKeysEnabled"`
	BaseURL           string `json:"baseUrl"` // e.g. "ssh://git@bitbucket.example.com:7999"
	Port              int    `json:"port"`
	Fingerprint       struct {
		Algorithm string `json:"algorithm"` // e.g. "SHA256" or "MD5"
		Value     string `json:"value"`
	} `json:"fingerprint"`
}

// Settings returns the SSH settings.
//
// GET /ssh/latest/settings
func (s *SSHService) Settings(ctx context.Context) (*SSHSettings, *bbapi.Response, error) {
	return get[SSHSettings](ctx, s.c, "/ssh/latest/settings", "ssh", "latest", "settings")
}

// Endpoint is the SSH host and port: from BaseURL (its port wins when it names one),
// else Port, else DefaultSSHPort.
func (st *SSHSettings) Endpoint() (host string, port int, err error) {
	raw := strings.TrimSpace(st.BaseURL)
	if raw == "" {
		return "", 0, fmt.Errorf("the server's ssh settings name no base url")
	}
	if !strings.Contains(raw, "://") {
		raw = "ssh://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" {
		return "", 0, fmt.Errorf("the server's ssh base url %q is not a url", st.BaseURL)
	}
	port = st.Port
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return "", 0, fmt.Errorf("the server's ssh base url %q has an invalid port", st.BaseURL)
		}
		port = n
	}
	if port <= 0 {
		port = DefaultSSHPort
	}
	return u.Hostname(), port, nil
}

// MatchesHostKey reports whether key is the host key the settings vouch for. The
// fingerprint is compared in the algorithm the server names (SHA256, or MD5 as
// colon-separated or bare hex); an unknown algorithm or an empty value matches nothing.
func (st *SSHSettings) MatchesHostKey(key ssh.PublicKey) bool {
	v := strings.TrimSpace(st.Fingerprint.Value)
	if key == nil || v == "" {
		return false
	}
	switch strings.ToUpper(strings.ReplaceAll(st.Fingerprint.Algorithm, "-", "")) {
	case "SHA256":
		return bbapi.SameFingerprint(v, ssh.FingerprintSHA256(key))
	case "MD5":
		sum := md5.Sum(key.Marshal())
		want := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(strings.ToUpper(v), "MD5:"), ":", ""))
		return want == hex.EncodeToString(sum[:])
	}
	return false
}
