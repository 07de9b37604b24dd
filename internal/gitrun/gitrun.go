// Package gitrun runs the git binary. Commands get a Runner from the Factory so tests can
// point them at a real git under a throw-away home, and so every git invocation goes
// through one place that keeps secrets out of argv and error messages.
package gitrun

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"

	"github.com/bbkey/bbkey/internal/redact"
)

// Runner runs git in a directory and returns its standard output.
type Runner interface {
	Run(ctx context.Context, dir string, args ...string) (string, error)
	// RunInput is Run with data on git's standard input (e.g. `git credential reject`),
	// which keeps secrets out of argv.
	RunInput(ctx context.Context, dir string, stdin string, args ...string) (string, error)
}

// Exec runs the git found on PATH.
type Exec struct {
	Env []string // extra environment, appended to the process's own
}

// Error is a failed git command: its arguments (redacted), exit code and stderr.
type Error struct {
	Args     []string
	ExitCode int
	Stderr   string
	Err      error
}

func (e *Error) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if msg == "" {
		msg = e.Err.Error()
	}
	return redact.URLs(fmt.Sprintf("git %s: %s", strings.Join(e.Args, " "), msg))
}

func (e *Error) Unwrap() error { return e.Err }

// ErrNotFound is returned when git is not installed.
var ErrNotFound = errors.New("git is not installed or not on PATH")

// Run implements Runner.
func (g Exec) Run(ctx context.Context, dir string, args ...string) (string, error) {
	return g.RunInput(ctx, dir, "", args...)
}

// RunInput implements Runner.
func (g Exec) RunInput(ctx context.Context, dir, stdin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	if len(g.Env) > 0 {
		cmd.Env = append(cmd.Environ(), g.Env...)
	}
	// Never let git stop to ask for a password: bbkey runs unattended.
	// git (and the ssh it starts) needs none of bbkey's secrets.
	cmd.Env = append(redact.Environ(cmd.Environ()), "GIT_TERMINAL_PROMPT=0")
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return "", ErrNotFound
		}
		code := -1
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		}
		return out.String(), &Error{Args: args, ExitCode: code, Stderr: errb.String(), Err: err}
	}
	return out.String(), nil
}
