package cmdutil

import (
	"errors"
	"fmt"

	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/text"
	"github.com/bbkey/bbkey/keys"
)

// The command layer's words for failure are errkind's (a leaf every layer may use); what
// a Bitbucket API error means to the user comes from apierr. They are named here too so a
// command reads cmdutil.UsageError like the rest of its vocabulary.
const (
	ExitOK      = errkind.ExitOK
	ExitFailure = errkind.ExitFailure
	ExitUsage   = errkind.ExitUsage
	ExitPartial = errkind.ExitPartial
	ExitAuth    = errkind.ExitAuth
	ExitVerify  = errkind.ExitVerify
	ExitFlagged = errkind.ExitFlagged
)

// ExitError is errkind.ExitError.
type ExitError = errkind.ExitError

var (
	UsageError   = errkind.UsageError
	CancelError  = errkind.CancelError
	AuthError    = errkind.AuthError
	PartialError = errkind.PartialError
	FlaggedError = errkind.FlaggedError
	VerifyError  = errkind.VerifyError
	WithHint     = errkind.WithHint
	ErrCancelled = errkind.ErrCancelled
)

// ExitCode is the exit code for err, knowing Bitbucket API errors (see apierr).
func ExitCode(err error) int { return apierr.ExitCode(err) }

// Hints are the hints printed under err, knowing Bitbucket API errors.
func Hints(err error) []string { return apierr.Hints(err) }

// AccessTokenRepoKeysError is the up-front refusal (exit 4) of work that would add,
// update or delete a repository's access keys with an access token, which Bitbucket
// refuses; what names that work.
func AccessTokenRepoKeysError(what string) error {
	return AuthError(fmt.Errorf("%s needs an API token: Bitbucket answers an access token on a repository's access keys with 403 \"This API is not accessible by this authentication mechanism.\"", what),
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
