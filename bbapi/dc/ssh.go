package dc

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/bbapi"
)

// SSHService reads the server's SSH settings.
type SSHService service

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
	u, err := s.c.url("ssh", "latest", "settings")
	if err != nil {
		return nil, nil, err
	}
	var out SSHSettings
	resp, err := s.c.do(ctx, &call{method: http.MethodGet, route: "/ssh/latest/settings", url: u, out: &out})
	if err != nil {
		return nil, resp, err
	}
	return &out, resp, nil
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

// CloneURL is the SSH clone URL of a repository, as Data Center writes it:
// ssh://git@host:port/proj/slug.git, with the project key in lower case (a personal
// project keeps its "~user").
func (st *SSHSettings) CloneURL(projectKey, slug string) (string, error) {
	host, port, err := st.Endpoint()
	if err != nil {
		return "", err
	}
	return "ssh://git@" + net.JoinHostPort(host, strconv.Itoa(port)) + "/" + strings.ToLower(projectKey) + "/" + strings.ToLower(slug) + ".git", nil
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
