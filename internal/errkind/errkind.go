// Package errkind is the vocabulary of failure every layer shares: the kinds of error
// bbkey's exit codes stand for, the error that carries one with hints, and the walk that
// reads them back from a wrapped chain. It imports nothing of bbkey's, so any package may
// mark an error without depending on the command layer.
package errkind

import (
	"context"
	"errors"
	"os/exec"
	"strings"

	"github.com/bbkey/bbkey/internal/prompt"
)

// Exit codes, documented in the README and `bbkey --help`.
const (
	ExitOK      = 0 // ok
	ExitFailure = 1 // error
	ExitUsage   = 2 // usage error or cancelled
	ExitPartial = 3 // some targets failed, --max-wait ran out, or an old key not revoked yet
	ExitAuth    = 4 // not authenticated or missing scope
	ExitVerify  = 5 // SSH verification failed
	ExitFlagged = 6 // audit: the audit found keys that need attention
)

// ExitError carries the exit code an error maps to, and hints that say what to do next.
// The message of the wrapped error is printed as `bbkey: error: …`, each hint as
// `bbkey: hint: …`.
type ExitError struct {
	Code  int
	Err   error
	hints []string
}

func (e *ExitError) Error() string   { return e.Err.Error() }
func (e *ExitError) Unwrap() error   { return e.Err }
func (e *ExitError) ExitCode() int   { return e.Code }
func (e *ExitError) Hints() []string { return e.hints }

func withCode(code int, err error, hints []string) error {
	if err == nil {
		return nil
	}
	return &ExitError{Code: code, Err: err, hints: hints}
}

// UsageError marks a mistake in how bbkey was called (exit 2).
func UsageError(err error, hints ...string) error { return withCode(ExitUsage, err, hints) }

// CancelError marks a run the user cancelled or declined (exit 2).
func CancelError(err error, hints ...string) error { return withCode(ExitUsage, err, hints) }

// AuthError marks missing or rejected credentials or scopes (exit 4).
func AuthError(err error, hints ...string) error { return withCode(ExitAuth, err, hints) }

// PartialError marks a bulk run where some targets failed (exit 3).
func PartialError(err error, hints ...string) error { return withCode(ExitPartial, err, hints) }

// FlaggedError marks an audit that ran to the end and found keys that need attention
// (exit 6), so a scheduled audit can alert without mistaking it for a failure.
func FlaggedError(err error, hints ...string) error { return withCode(ExitFlagged, err, hints) }

// VerifyError marks a key that was not proven to work over SSH (exit 5).
func VerifyError(err error, hints ...string) error { return withCode(ExitVerify, err, hints) }

// WithHint adds hints to err and keeps whatever exit code err already maps to.
func WithHint(err error, hints ...string) error { return withCode(0, err, hints) }

// ErrCancelled is returned when the user interrupts a prompt or declines a confirmation.
var ErrCancelled = prompt.ErrCancelled

// An Explainer says what an error of a lower layer means to the user when the error cannot
// say it itself (bbapi's errors know nothing of exit codes or hints): its exit code (0 for
// no opinion) and hints, and ok false when it is not such an error. It is asked about each
// error of the chain in turn.
type Explainer func(error) (code int, hints []string, ok bool)

// ExitCode picks the exit code for err: the outermost non-zero code an error in the chain
// declares through an `ExitCode() int` method or an explainer gives it; cancellation maps
// to 2; anything else to 1.
func ExitCode(err error, explain ...Explainer) int {
	if err == nil {
		return ExitOK
	}
	for e := err; e != nil; e = unwrapOne(e) {
		// A child process's exit status (git, ssh) is not bbkey's: it says how the child
		// failed, and 128 or 255 would mean nothing to a script reading bbkey's codes.
		if _, child := e.(*exec.ExitError); child {
			break
		}
		if c, ok := e.(interface{ ExitCode() int }); ok && c.ExitCode() != 0 {
			return c.ExitCode()
		}
		for _, x := range explain {
			if c, _, ok := x(e); ok && c != 0 {
				return c
			}
		}
	}
	if errors.Is(err, ErrCancelled) || errors.Is(err, context.Canceled) {
		return ExitUsage
	}
	return ExitFailure
}

// Hints collects the hints of every error in the chain (its Hints method, or what an
// explainer says of it), outermost first, without repeats.
func Hints(err error, explain ...Explainer) []string {
	var out []string
	seen := map[string]bool{}
	add := func(hs []string) {
		for _, s := range hs {
			if s = strings.TrimSpace(s); s != "" && !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	for e := err; e != nil; e = unwrapOne(e) {
		if h, ok := e.(interface{ Hints() []string }); ok {
			add(h.Hints())
			continue
		}
		for _, x := range explain {
			if _, hs, ok := x(e); ok {
				add(hs)
				break
			}
		}
	}
	return out
}

// unwrapOne follows a single Unwrap; for joined errors it follows the first.
func unwrapOne(err error) error {
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return u.Unwrap()
	case interface{ Unwrap() []error }:
		if errs := u.Unwrap(); len(errs) > 0 {
			return errs[0]
		}
	}
	return nil
}
