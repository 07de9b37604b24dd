// Package prompt asks the user questions at the terminal. It talks to the controlling
// terminal directly (/dev/tty, or CONIN$/CONOUT$ on Windows) so that prompts work even when
// stdout is piped, and secrets are read with echo off. Nothing here reads a secret from
// argv. Commands must check Factory.NoInput before prompting; every prompt has a flag or an
// environment variable that answers it instead.
package prompt

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
)

// Prompter asks questions.
type Prompter interface {
	// Input asks for a line of text; an empty answer gives def.
	Input(label, def string) (string, error)
	// Secret asks for a secret with echo off. The caller zeroes the result after use.
	Secret(label string) ([]byte, error)
	// Confirm asks a yes/no question; an empty answer gives def.
	Confirm(label string, def bool) (bool, error)
}

// ErrNoTerminal is returned when there is no terminal to ask.
var ErrNoTerminal = errors.New("no terminal to prompt on")

// Terminal prompts on the controlling terminal.
type Terminal struct{}

// Input implements Prompter.
func (Terminal) Input(label, def string) (string, error) {
	in, out, closeTTY, err := openTTY()
	if err != nil {
		return "", err
	}
	defer closeTTY()
	if def != "" {
		fmt.Fprintf(out, "%s [%s]: ", label, def)
	} else {
		fmt.Fprintf(out, "%s: ", label)
	}
	line, err := interruptible(out, func() (string, error) { return readLine(in) })
	if err != nil {
		return "", err
	}
	if line == "" {
		return def, nil
	}
	return line, nil
}

// interruptible runs read, but returns ErrCancelled at once on Ctrl-C. bbkey's main
// catches SIGINT to cancel its context, so the default action (ending the process) no
// longer happens and a blocked read would otherwise wait for a line forever.
func interruptible(out io.Writer, read func() (string, error)) (string, error) {
	type result struct {
		s   string
		err error
	}
	done := make(chan result, 1)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, cancelSignals...)
	defer signal.Stop(sig)
	go func() {
		s, err := read()
		done <- result{s, err}
	}()
	select {
	case r := <-done:
		return r.s, r.err
	case <-sig:
		fmt.Fprintln(out)
		return "", ErrCancelled
	}
}

// Confirm implements Prompter.
func (t Terminal) Confirm(label string, def bool) (bool, error) {
	hint := "y/N"
	if def {
		hint = "Y/n"
	}
	for {
		ans, err := t.Input(fmt.Sprintf("%s (%s)", label, hint), "")
		if err != nil {
			return false, err
		}
		switch strings.ToLower(strings.TrimSpace(ans)) {
		case "":
			return def, nil
		case "y", "yes":
			return true, nil
		case "n", "no":
			return false, nil
		}
	}
}

// Secret implements Prompter. The terminal's echo goes off before the prompt is shown, so
// nothing typed once the prompt is visible is ever echoed, and comes back on every way
// out: the answer, a read error, Ctrl-C or SIGTERM (ErrCancelled, so the command can clean
// up instead of leaving the terminal with echo off).
func (Terminal) Secret(label string) ([]byte, error) {
	in, out, closeTTY, err := openTTY()
	if err != nil {
		return nil, err
	}
	defer closeTTY()
	return readSecret(in, out, label)
}

// readSecret asks for label on the terminal whose input is in and whose screen is out.
func readSecret(in *os.File, out io.Writer, label string) ([]byte, error) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, cancelSignals...)
	defer signal.Stop(sig)
	restore, err := echoOff(in)
	if err != nil {
		return nil, fmt.Errorf("reading %s: turning the terminal's echo off: %w", label, err)
	}
	var once sync.Once
	restoreEcho := func() { once.Do(restore) }
	defer restoreEcho()
	fmt.Fprintf(out, "%s: ", label)

	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := readSecretLine(in)
		done <- result{b, err}
	}()
	select {
	case r := <-done:
		restoreEcho()
		fmt.Fprintln(out) // the Enter that ended the line was not echoed
		if errors.Is(r.err, ErrCancelled) {
			return nil, ErrCancelled
		}
		if r.err != nil {
			return nil, fmt.Errorf("reading %s: %w", label, r.err)
		}
		return r.b, nil
	case <-sig:
		restoreEcho()
		fmt.Fprintln(out)
		return nil, ErrCancelled
	}
}

// cancelSignals end a prompt with ErrCancelled: the ones bbkey's main catches, whose
// default action (ending the process) therefore no longer happens.
var cancelSignals = []os.Signal{os.Interrupt, syscall.SIGTERM}

// readSecretLine reads one line from the terminal a byte at a time (nothing beyond the
// line is consumed, and no buffer keeps a copy of the secret), without its line ending.
// The terminal edits the line (canonical mode, the console's line input). End of input
// before anything was typed is ErrCancelled.
func readSecretLine(r io.Reader) ([]byte, error) {
	var one [1]byte
	line := make([]byte, 0, 128)
	for {
		n, err := r.Read(one[:])
		if n == 1 {
			if one[0] == '\n' {
				return bytes.TrimSuffix(line, []byte("\r")), nil
			}
			if len(line) == cap(line) {
				grown := make([]byte, len(line), 2*cap(line))
				copy(grown, line)
				clear(line)
				line = grown
			}
			line = append(line, one[0])
			continue
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				if len(line) > 0 {
					return line, nil
				}
				return nil, ErrCancelled
			}
			clear(line)
			return nil, err
		}
	}
}

func readLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		if errors.Is(err, io.EOF) {
			return "", ErrCancelled
		}
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// ErrCancelled is returned when the user interrupts a prompt (Ctrl-C, or end of input).
var ErrCancelled = errors.New("cancelled")
