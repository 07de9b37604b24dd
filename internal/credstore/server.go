package credstore

import (
	"context"
	"fmt"

	"github.com/bbkey/bbkey/internal/settings"
)

// serverAccountPrefix starts the account key of a Data Center server's token.
const serverAccountPrefix = "server:"

// ServerAccount is the account key of the credential of a Bitbucket Data Center server
// (its base URL in settings.NormalizeServerURL form): one entry per server, beside DefaultAccount for
// Bitbucket Cloud.
func ServerAccount(serverURL string) string { return serverAccountPrefix + serverURL }

// GetServerToken returns the HTTP access token stored for server (ServerAccount), or an
// error matching ErrNotFound. The caller clears Secret when done.
func GetServerToken(ctx context.Context, s Store, server string) (Secret, error) {
	n, err := settings.NormalizeServerURL(server)
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
