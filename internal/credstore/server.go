package credstore

import (
	"context"
	"fmt"

	"github.com/bbkey/bbkey/internal/settings"
)

// ServerAccount is the account key of a Data Center server's token (its normalized URL).
func ServerAccount(serverURL string) string { return "server:" + serverURL }

// GetServerToken returns the HTTP access token stored for server, or an error matching
// ErrNotFound. The caller clears Secret when done.
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
