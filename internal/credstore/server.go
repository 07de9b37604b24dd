package credstore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// serverAccountPrefix starts the account key of a Data Center server's token.
const serverAccountPrefix = "server:"

// NormalizeServer is the canonical form of a Data Center base URL, the one its keychain
// entry is keyed by, so "HTTPS://Bitbucket.Example.com:443/ctx/" and
// "https://bitbucket.example.com/ctx/rest" find the same token: the scheme and host in
// lower case, the scheme's default port dropped, no trailing slash or "/rest", no query,
// fragment or credentials (a URL carrying credentials is refused: they belong in the
// keychain, not in a name).
func NormalizeServer(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", errors.New("the Data Center server URL is empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("the Data Center server URL %q is not a URL: %w", raw, err)
	}
	if u.User != nil {
		return "", fmt.Errorf("the Data Center server URL %s carries credentials: give the bare URL and the token separately", u.Redacted())
	}
	scheme := strings.ToLower(u.Scheme)
	if (scheme != "https" && scheme != "http") || u.Hostname() == "" {
		return "", fmt.Errorf("the Data Center server URL %q is not an http(s) URL with a host, e.g. https://bitbucket.example.com", raw)
	}
	host := strings.ToLower(u.Hostname())
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if p := u.Port(); p != "" && !(scheme == "https" && p == "443") && !(scheme == "http" && p == "80") {
		host += ":" + p
	}
	path := strings.TrimRight(u.EscapedPath(), "/")
	path = strings.TrimRight(strings.TrimSuffix(path, "/rest"), "/")
	return scheme + "://" + host + path, nil
}

// ServerAccount is the account key of the credential of a Bitbucket Data Center server
// (its base URL in NormalizeServer form): one entry per server, beside DefaultAccount for
// Bitbucket Cloud.
func ServerAccount(serverURL string) string { return serverAccountPrefix + serverURL }

// GetServerToken returns the HTTP access token stored for server (ServerAccount), or an
// error matching ErrNotFound. The caller clears Secret when done.
func GetServerToken(ctx context.Context, s Store, server string) (Secret, error) {
	n, err := NormalizeServer(server)
	if err != nil {
		return Secret{}, err
	}
	account := ServerAccount(n)
	sec, err := s.Get(ctx, account)
	if err != nil {
		return Secret{}, err
	}
	if sec.Kind != KindHTTPAccessToken || len(sec.Secret) == 0 {
		clear(sec.Secret)
		return Secret{}, fmt.Errorf("stored credential %q is a %s, not an HTTP access token", account, sec.Kind)
	}
	return sec, nil
}
