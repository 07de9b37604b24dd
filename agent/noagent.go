package agent

import (
	"errors"
	"path"
	"strings"
)

// ErrNoAgent matches a NoAgentError with errors.Is.
var ErrNoAgent = errors.New("no ssh agent is running")

// NoAgentError says no agent could be reached, why, and (in Hints) how to start one.
type NoAgentError struct {
	Reason string // e.g. "SSH_AUTH_SOCK is not set"
	Err    error  // the dial error, if any
	hints  []string
}

func (e *NoAgentError) Error() string {
	msg := "no ssh agent: " + e.Reason
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *NoAgentError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrNoAgent) true.
func (e *NoAgentError) Is(target error) bool { return target == ErrNoAgent }

func (e *NoAgentError) Hints() []string { return e.hints }

func noAgent(goos string, lookupEnv func(string) (string, bool), reason string, err error) *NoAgentError {
	shell := ""
	if lookupEnv != nil {
		shell, _ = lookupEnv("SHELL")
	}
	return &NoAgentError{Reason: reason, Err: err, hints: noAgentHints(goos, shell)}
}

// noAgentHints says how to start an agent on goos in shell (arguments, for tests).
func noAgentHints(goos, shell string) []string {
	if goos == "windows" {
		return []string{
			"start the " + ServiceName + " service (OpenSSH Authentication Agent), once, in PowerShell as administrator: " + EnableServiceCommand,
			"then run bbkey again",
		}
	}
	var start string
	switch path.Base(strings.TrimSpace(shell)) {
	case "fish":
		start = "eval (ssh-agent -c)"
	case "csh", "tcsh":
		start = "eval `ssh-agent -c`"
	default: // sh, bash, zsh, dash, ksh and anything POSIX
		start = `eval "$(ssh-agent -s)"`
	}
	return []string{
		"start an agent in this shell: " + start,
		"then run bbkey again from the same shell (the agent lives as long as the session)",
	}
}
