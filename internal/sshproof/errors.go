package sshproof

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"

	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/settings"
)

// RefusedError is the server refusing the key: not registered, or with another account.
type RefusedError struct {
	Endpoint string
	User     string
	Offered  []string // fingerprints
	Reason   string   // "permission denied (publickey)"
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("%s refused the key %s for %s: %s", e.Endpoint, strings.Join(e.Offered, ", "), e.User, e.Reason)
}

// ExitCode: the key was not proven to work (exit 5).
func (e *RefusedError) ExitCode() int { return errkind.ExitVerify }

// Hints say what usually causes a refusal.
func (e *RefusedError) Hints() []string {
	return []string{
		"the key is not registered with Bitbucket, or only with another account: `bbkey list` shows where each key is registered",
		"a key added a moment ago can take a few seconds to reach the SSH servers: run the command again",
	}
}

// NetworkError is an endpoint that cannot be reached or hangs up before SSH gets going.
type NetworkError struct {
	Endpoint string
	Op       string // "connecting to", "ssh handshake with"
	Err      error
}

func (e *NetworkError) Error() string { return fmt.Sprintf("%s %s: %v", e.Op, e.Endpoint, e.Err) }
func (e *NetworkError) Unwrap() error { return e.Err }

// ExitCode: nothing about the key was learned; a plain error (exit 1).
func (e *NetworkError) ExitCode() int { return errkind.ExitFailure }

// Timeout reports whether the endpoint did not answer in time.
func (e *NetworkError) Timeout() bool {
	var ne net.Error
	return errors.As(e.Err, &ne) && ne.Timeout()
}

// Hints suggest SSH over port 443 when port 22 looks blocked.
func (e *NetworkError) Hints() []string {
	_, port, _ := settings.SplitEndpoint(e.Endpoint)
	if port == 22 && (e.Timeout() || errors.Is(e.Err, syscall.ECONNREFUSED) || errors.Is(e.Err, syscall.ECONNRESET)) {
		return []string{"if this network blocks port 22, use SSH over port 443: --ssh-endpoint " + settings.AltSSHEndpoint + " (or BBKEY_SSH_ENDPOINT)"}
	}
	if port == 22 {
		return []string{"check the network, or try SSH over port 443: --ssh-endpoint " + settings.AltSSHEndpoint}
	}
	return nil
}

// Error is any other SSH failure during a proof.
type Error struct {
	Endpoint string
	Err      error
}

func (e *Error) Error() string { return fmt.Sprintf("ssh to %s: %v", e.Endpoint, e.Err) }
func (e *Error) Unwrap() error { return e.Err }

// ExitCode: the key was not proven to work (exit 5).
func (e *Error) ExitCode() int { return errkind.ExitVerify }
