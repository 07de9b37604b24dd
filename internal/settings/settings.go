// Package settings holds the non-secret settings of a run (API URL, SSH host and
// endpoint, pinned host keys), the directories bbkey works in, and where the credential
// of a run came from. Resolving them is the command layer's job (cmdutil.Factory).
package settings

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/bbkey/bbkey/bbapi"
)

// Defaults of DESIGN.md.
const (
	DefaultAPIURL        = bbapi.DefaultBaseURL
	DefaultOAuthTokenURL = bbapi.DefaultOAuthTokenURL
	DefaultSSHHost       = "ssh.bitbucket.org"
	DefaultSSHEndpoint   = "ssh.bitbucket.org:22"
	AltSSHEndpoint       = "altssh.bitbucket.org:443"
)

// Settings are the resolved non-secret settings: flag > environment > config file > default.
type Settings struct {
	APIURL        string `json:"api_url,omitempty"`
	OAuthTokenURL string `json:"oauth_token_url,omitempty"`
	// SSHHost is the name written into remotes and the Host line.
	SSHHost string `json:"ssh_host,omitempty"`
	// SSHEndpoint is host:port where SSH really connects.
	SSHEndpoint string `json:"ssh_endpoint,omitempty"`
	// SSHHostKeys is a file of trusted host keys for the endpoint; empty means the
	// built-in Bitbucket keys.
	SSHHostKeys string `json:"ssh_host_keys,omitempty"`

	// Server is the selected Data Center server's base URL (NormalizeServerURL form); ""
	// selects Cloud. The SSH settings above stay Cloud's either way (every command still
	// writes Cloud's Host blocks); a server's own are in DC.
	Server string `json:"server,omitempty"`
	// DC is the selected server's own SSH settings; zero for Cloud.
	DC ServerSettings `json:"-"`
}

// ServerSettings are what a Data Center server's SSH settings
// (GET /rest/ssh/latest/settings) are overridden with: recorded per server in
// config.json's "servers", so a later run reaches the same endpoint.
type ServerSettings struct {
	// SSHEndpoint is HOST:PORT where ssh connects instead of the server's SSH base URL.
	SSHEndpoint string `json:"ssh_endpoint,omitempty"`
	// SSHHostKeys is a file of the host keys to trust instead of the one the server's
	// settings vouch for.
	SSHHostKeys string `json:"ssh_host_keys,omitempty"`
}

// CloudServer is what --server and BITBUCKET_SERVER take to select Bitbucket Cloud
// when config.json records a Data Center server.
const CloudServer = "cloud"

// SettingsFile is where `config.json` lives in the config directory.
func SettingsFile(p Paths) string { return filepath.Join(p.ConfigDir, "config.json") }

// SplitEndpoint splits HOST:PORT; a bare host name means port 22.
func SplitEndpoint(ep string) (string, int, error) {
	if ep == "" {
		return "", 0, errors.New("empty ssh endpoint")
	}
	if !strings.Contains(ep, ":") {
		return ep, 22, nil
	}
	host, portStr, err := net.SplitHostPort(ep)
	if err != nil {
		return "", 0, fmt.Errorf("invalid ssh endpoint %q: %v", ep, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 || host == "" {
		return "", 0, fmt.Errorf("invalid ssh endpoint %q: want HOST:PORT", ep)
	}
	return host, port, nil
}

// CredentialSource says where the Bitbucket credential of a run came from.
type CredentialSource string

const (
	SourceTokenFile CredentialSource = "token-file"
	SourceEnv       CredentialSource = "environment"
	SourceStore     CredentialSource = "keychain"
	SourceFileStore CredentialSource = "file"
)

// ResolvedCredential is the credential of a run and where it came from.
type ResolvedCredential struct {
	Credential bbapi.Credential
	Source     CredentialSource
}

// ErrNoCredential is returned when no credential is configured anywhere.
var ErrNoCredential = errors.New("not logged in to Bitbucket")

// NormalizeServerURL is the form a Data Center server's base URL is recorded and compared
// in: scheme and host in lower case, the scheme's default port dropped, no trailing
// slash, no "/rest", no credentials, query or fragment. It must be https, or http on a
// loopback address (as bbapi requires).
func NormalizeServerURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "", fmt.Errorf("invalid server url %q: want https://host[/context]", raw)
	}
	if u.User != nil {
		return "", fmt.Errorf("server url %s: credentials do not belong in the url", u.Redacted())
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("invalid server url %q: want https://host[/context], without a query", raw)
	}
	scheme, host, port := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), u.Port()
	if port == "443" && scheme == "https" || port == "80" && scheme == "http" {
		port = ""
	}
	if port != "" {
		host = net.JoinHostPort(host, port)
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	path := strings.TrimSuffix(strings.TrimRight(u.EscapedPath(), "/"), "/rest")
	if ctx, page, ok := serverPage(path); ok {
		return "", &PageURLError{Given: raw, Base: scheme + "://" + host + ctx, Page: page}
	}
	return scheme + "://" + host + strings.TrimRight(path, "/"), nil
}

// serverPages are the first path segments of a Data Center server's pages, clone URLs and
// REST resources: what follows the base URL (and its context path), never part of it.
var serverPages = []string{"scm", "projects", "users", "rest", "plugins", "dashboard", "admin", "account", "profile", "login"}

// serverPage splits path at the first segment that starts a page of the server.
func serverPage(path string) (ctx, page string, ok bool) {
	segs := strings.Split(path, "/")
	for i, s := range segs {
		if slices.Contains(serverPages, strings.ToLower(s)) {
			return strings.Join(segs[:i], "/"), strings.Join(segs[i:], "/"), true
		}
	}
	return "", "", false
}

// PageURLError is a server URL that names one of the server's pages or a clone URL
// (copied from the browser or from git remote -v) rather than its base URL.
type PageURLError struct {
	Given, Base, Page string
}

func (e *PageURLError) Error() string {
	return fmt.Sprintf("server url %q is a page or clone URL of the server (/%s), not its base URL", e.Given, e.Page)
}

// Hints name the base URL to give instead.
func (e *PageURLError) Hints() []string {
	return []string{"the server's base URL is the part before /" + strings.SplitN(e.Page, "/", 2)[0] + "/: --server " + e.Base}
}
