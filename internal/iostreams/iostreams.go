// Package iostreams carries the three standard streams and what is known about them
// (terminal or not, colour or not), so commands never touch os.Stdout themselves and tests
// can swap in buffers (iostreamstest) and flip the terminal switches.
//
// The terminal contract: data goes to Out, progress, status and warnings to ErrOut;
// colour and progress animation only when that stream is a terminal and NO_COLOR is unset.
package iostreams

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"
)

// IOStreams is the set of streams a command reads and writes.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	// StdinTTY, StdoutTTY and StderrTTY say which of the streams are terminals.
	StdinTTY, StdoutTTY, StderrTTY bool
	// NoColor turns colour off: NO_COLOR, TERM=dumb, --json.
	NoColor bool
}

// System returns the process's own streams.
func System() *IOStreams {
	// no-color.org: set and not empty.
	noColor := os.Getenv("NO_COLOR") != ""
	return &IOStreams{
		In:        os.Stdin,
		Out:       os.Stdout,
		ErrOut:    os.Stderr,
		StdinTTY:  term.IsTerminal(int(os.Stdin.Fd())),
		StdoutTTY: term.IsTerminal(int(os.Stdout.Fd())),
		StderrTTY: term.IsTerminal(int(os.Stderr.Fd())),
		NoColor:   noColor || os.Getenv("TERM") == "dumb",
	}
}

// WriteJSON writes v as every --json document is written: indented by two spaces, with
// '<', '>' and '&' as they are (a hint "run: A && B", a URL's query), not as \u003c.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// ColorEnabled reports whether status lines on stderr may carry ANSI colour.
func (s *IOStreams) ColorEnabled() bool { return !s.NoColor && s.StderrTTY }

// CanPrompt reports whether the user can be asked: stdin and stderr are terminals.
func (s *IOStreams) CanPrompt() bool { return s.StdinTTY && s.StderrTTY }

// Status marks used at the start of step lines.
const (
	MarkOK   = "✓"
	MarkWarn = "!"
	MarkFail = "✗"
)

// markColors are the ANSI colours of the marks on a terminal.
var markColors = map[string]string{MarkOK: "32", MarkWarn: "33", MarkFail: "31"}

// Step prints one status line to ErrOut: a mark (✓, ! or ✗), coloured on a terminal.
func (s *IOStreams) Step(mark, format string, args ...any) {
	if c, ok := markColors[mark]; ok && s.ColorEnabled() {
		mark = "\x1b[" + c + "m" + mark + "\x1b[0m"
	}
	fmt.Fprintf(s.ErrOut, "%s %s\n", mark, fmt.Sprintf(format, args...))
}

// Warnf prints a warning line to ErrOut.
func (s *IOStreams) Warnf(format string, args ...any) {
	prefix := "bbkey: warning: "
	if s.ColorEnabled() {
		prefix = "\x1b[33mbbkey: warning:\x1b[0m "
	}
	fmt.Fprintf(s.ErrOut, prefix+format+"\n", args...)
}

// Hint writes a "bbkey: hint:" line to ErrOut: what to do about the error or warning
// just written.
func (s *IOStreams) Hint(hint string) {
	fmt.Fprintf(s.ErrOut, "bbkey: hint: %s\n", hint)
}
