package dc

import (
	"context"
	"errors"
	"net/http"

	"github.com/bbkey/bbkey/bbapi"
)

// KindHTTPAccessToken is a Data Center HTTP access token (personal, project or
// repository), sent as Bearer.
const KindHTTPAccessToken bbapi.Kind = "http-access-token"

// Token is a Data Center HTTP access token: a personal token acts as its user, a project
// or repository token as a service user with the permissions it was made with. Bearer is
// the one form all three accept.
type Token struct {
	Token string
}

// Value receivers, so that printing a Token with %v or %#v never shows the secret.

func (t Token) Kind() bbapi.Kind  { return KindHTTPAccessToken }
func (t Token) String() string    { return "HTTP access token" }
func (t Token) GoString() string  { return "dc.Token{HTTP access token}" }
func (t Token) Secrets() []string { return []string{t.Token} }

// Authorize sets Bearer token.
func (t Token) Authorize(_ context.Context, req *http.Request, _ bbapi.AuthEnv) error {
	if t.Token == "" {
		return errors.New("data center http access token is empty")
	}
	req.Header.Set("Authorization", "Bearer "+t.Token)
	return nil
}
