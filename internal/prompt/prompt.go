// Package prompt asks questions on the controlling terminal (/dev/tty, CONIN$/CONOUT$), so
// prompts work with stdout piped; secrets are read with echo off. Every prompt has a flag
// or an environment variable that answers it instead.
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
		label = fmt.Sprintf("%s [%s]", label, def)
	}
	line, err := interruptible(out, label, func() (string, error) { return readLine(in) })
	if errors.Is(err, ErrCancelled) {
		return "", ErrCancelled
	} else if line == "" && err == nil {
		return def, nil
	}
	return line, err
}

// errInterrupted is ErrCancelled by a signal, whose newline interruptible printed.
var errInterrupted = fmt.Errorf("interrupted: %w", ErrCancelled)

// interruptible shows the prompt and runs read, but returns errInterrupted at once on
// Ctrl-C or SIGTERM: bbkey's main catches both to cancel its context, so they no longer
// end the process, and a blocked read would otherwise wait for a line forever.
func interruptible[T any](out io.Writer, label string, read func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, cancelSignals...)
	defer signal.Stop(sig)
	fmt.Fprintf(out, "%s: ", label)
	done := make(chan result, 1)
	go func() {
		v, err := read()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-sig:
		fmt.Fprintln(out)
		var zero T
		return zero, errInterrupted
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

// Secret implements Prompter. Echo goes off before the prompt shows and comes back on
// every way out, Ctrl-C and SIGTERM included (ErrCancelled).
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
	restore, err := echoOff(in)
	if err != nil {
		return nil, fmt.Errorf("reading %s: turning the terminal's echo off: %w", label, err)
	}
	b, err := interruptible(out, label, func() ([]byte, error) { return readSecretLine(in) })
	restore()
	if err != errInterrupted {
		fmt.Fprintln(out) // the Enter that ended the line was not echoed
	}
	if errors.Is(err, ErrCancelled) {
		return nil, ErrCancelled
	} else if err != nil {
		return nil, fmt.Errorf("reading %s: %w", label, err)
	}
	return b, nil
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
