// Package iostreams carries the three standard streams and what is known about them
// (terminal or not, colour or not), so commands never touch os.Stdout themselves and tests
// can swap in buffers and flip the terminal switches.
//
// The terminal contract: data goes to Out, progress, status and warnings to ErrOut;
// colour and progress animation only when that stream is a terminal and NO_COLOR is unset.
package iostreams

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sync"

	"golang.org/x/term"
)

// IOStreams is the set of streams a command reads and writes.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	stdinTTY  bool
	stdoutTTY bool
	stderrTTY bool
	noColor   bool
}

// System returns the process's own streams.
func System() *IOStreams {
	_, noColor := os.LookupEnv("NO_COLOR")
	if os.Getenv("TERM") == "dumb" {
		noColor = true
	}
	return &IOStreams{
		In:        os.Stdin,
		Out:       os.Stdout,
		ErrOut:    os.Stderr,
		stdinTTY:  term.IsTerminal(int(os.Stdin.Fd())),
		stdoutTTY: term.IsTerminal(int(os.Stdout.Fd())),
		stderrTTY: term.IsTerminal(int(os.Stderr.Fd())),
		noColor:   noColor,
	}
}

// Test returns streams backed by buffers (stdin, stdout, stderr), none of them a terminal.
func Test() (*IOStreams, *bytes.Buffer, *SyncBuffer, *SyncBuffer) {
	in := &bytes.Buffer{}
	out := &SyncBuffer{}
	errOut := &SyncBuffer{}
	return &IOStreams{In: in, Out: out, ErrOut: errOut, noColor: true}, in, out, errOut
}

// IsStdinTTY reports whether input comes from a terminal.
func (s *IOStreams) IsStdinTTY() bool { return s.stdinTTY }

// IsStdoutTTY reports whether data output goes to a terminal.
func (s *IOStreams) IsStdoutTTY() bool { return s.stdoutTTY }

// IsStderrTTY reports whether status output goes to a terminal.
func (s *IOStreams) IsStderrTTY() bool { return s.stderrTTY }

// SetStdinTTY, SetStdoutTTY and SetStderrTTY are for tests.
func (s *IOStreams) SetStdinTTY(v bool)  { s.stdinTTY = v }
func (s *IOStreams) SetStdoutTTY(v bool) { s.stdoutTTY = v }
func (s *IOStreams) SetStderrTTY(v bool) { s.stderrTTY = v }

// SetColor forces colour on or off (tests, and --json which never colours).
func (s *IOStreams) SetColor(on bool) { s.noColor = !on }

// ColorEnabled reports whether status lines on stderr may carry ANSI colour.
func (s *IOStreams) ColorEnabled() bool { return !s.noColor && s.stderrTTY }

// CanPrompt reports whether the user can be asked: stdin and stderr are terminals.
func (s *IOStreams) CanPrompt() bool { return s.stdinTTY && s.stderrTTY }

// Status marks used at the start of step lines.
const (
	MarkOK   = "✓"
	MarkWarn = "!"
	MarkFail = "✗"
)

// Step prints one status line to ErrOut: a mark (✓, ! or ✗), coloured on a terminal.
func (s *IOStreams) Step(mark, format string, args ...any) {
	m := mark
	if s.ColorEnabled() {
		switch mark {
		case MarkOK:
			m = "\x1b[32m" + mark + "\x1b[0m"
		case MarkWarn:
			m = "\x1b[33m" + mark + "\x1b[0m"
		case MarkFail:
			m = "\x1b[31m" + mark + "\x1b[0m"
		}
	}
	fmt.Fprintf(s.ErrOut, "%s %s\n", m, fmt.Sprintf(format, args...))
}

// Warnf prints a warning line to ErrOut.
func (s *IOStreams) Warnf(format string, args ...any) {
	prefix := "bbkey: warning: "
	if s.ColorEnabled() {
		prefix = "\x1b[33mbbkey: warning:\x1b[0m "
	}
	fmt.Fprintf(s.ErrOut, prefix+format+"\n", args...)
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers (progress from goroutines).
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Reset empties the buffer.
func (b *SyncBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}
