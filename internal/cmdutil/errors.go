package cmdutil

import (
	"errors"
	"fmt"

	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/text"
	"github.com/bbkey/bbkey/keys"
)

// AccessTokenRepoKeysError is the up-front refusal (exit 4) of work that would add,
// update or delete a repository's access keys with an access token, which Bitbucket
// refuses; what names that work.
func AccessTokenRepoKeysError(what string) error {
	return errkind.AuthError(fmt.Errorf("%s needs an API token: Bitbucket answers an access token on a repository's access keys with 403 \"This API is not accessible by this authentication mechanism.\"", what),
		apierr.AccessTokenRepoKeysHint)
}

// KeyExistsHint adds, to a key generation that found its file taken, the flags that get
// around it: another --name, or the existing key with --key.
func KeyExistsHint(err error) error {
	var ee *keys.ExistsError
	if !errors.As(err, &ee) {
		return err
	}
	return errkind.WithHint(err, "choose another --name, or use the existing key with --key "+text.CommandQuote(ee.Path))
}
