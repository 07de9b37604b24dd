// Package scheduletest is the timer-command fake the tests of internal/schedule and
// cmd/rotate share; the binary does not import it.
package scheduletest

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/bbkey/bbkey/internal/text"
)

// Call is one command a FakeRunner was asked to run.
type Call struct {
	Args  []string
	Stdin []byte
}

// String is the command line, as schedule.Command.String shows it.
func (c Call) String() string {
	s := text.JoinQuoted(c.Args, text.ShellQuote)
	if c.Stdin != nil {
		s += fmt.Sprintf(" < (%d lines)", strings.Count(string(c.Stdin), "\n"))
	}
	return s
}

// FakeRunner records commands instead of running them, for tests of the installer and
// of the commands built on it.
type FakeRunner struct {
	mu    sync.Mutex
	calls []Call
	// Handle answers each command (nil: success, no output).
	Handle func(c Call) ([]byte, error)
}

// Run records the command and answers it with Handle.
func (f *FakeRunner) Run(_ context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	c := Call{Args: append([]string{name}, args...), Stdin: stdin}
	f.mu.Lock()
	f.calls = append(f.calls, c)
	h := f.Handle
	f.mu.Unlock()
	if h == nil {
		return nil, nil
	}
	return h(c)
}

// Calls returns the commands run so far and forgets them.
func (f *FakeRunner) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

// Commands returns the command lines run so far, one string each, and forgets them.
func (f *FakeRunner) Commands() string {
	var b strings.Builder
	for _, c := range f.Calls() {
		b.WriteString(c.String())
		b.WriteByte('\n')
	}
	return b.String()
}
