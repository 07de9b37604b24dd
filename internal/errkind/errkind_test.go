package errkind

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"testing"
)

func TestExitCode(t *testing.T) {
	base := errors.New("boom")
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, 0},
		{"plain", base, 1},
		{"usage", UsageError(base), 2},
		{"cancel", fmt.Errorf("reading: %w", ErrCancelled), 2},
		{"context", fmt.Errorf("x: %w", context.Canceled), 2},
		{"partial", PartialError(base), 3},
		{"auth wrapped", fmt.Errorf("setup: %w", AuthError(base)), 4},
		{"verify", VerifyError(base), 5},
		{"hint keeps inner code", WithHint(AuthError(base), "log in"), 4},
		{"outer code wins", UsageError(AuthError(base)), 2},
		{"child exit status is not ours", fmt.Errorf("git: %w", childExit(t)), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ExitCode(tt.err); got != tt.want {
				t.Errorf("ExitCode = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestHints(t *testing.T) {
	err := WithHint(fmt.Errorf("a: %w", AuthError(errors.New("b"), "run bbkey auth login", "x")), "x", "first")
	got := Hints(err)
	want := []string{"x", "first", "run bbkey auth login"}
	if !slices.Equal(got, want) {
		t.Errorf("Hints = %q, want %q", got, want)
	}
}

// childExit returns the *exec.ExitError of a real process that exited 3.
func childExit(t *testing.T) error {
	t.Helper()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	err = exec.Command(sh, "-c", "exit 3").Run()
	if _, ok := err.(*exec.ExitError); !ok {
		t.Fatalf("sh -c 'exit 3' = %v", err)
	}
	return err
}
