// Package secret reads key passphrases and Bitbucket tokens from a file named by a flag,
// the environment or the terminal. Every rule about them is checked here and only here.
package secret

import (
	"bytes"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/prompt"
	"github.com/bbkey/bbkey/keys"
)

// PassphraseEnv is the environment variable that may hold a key passphrase.
const PassphraseEnv = "BBKEY_PASSPHRASE"

// MinPassphraseLen is the shortest new passphrase accepted, in characters: a little more
// than ssh-keygen's five, as a key file that leaves the machine faces offline guessing.
const MinPassphraseLen = 8

// maxTries bounds how often a passphrase is asked for at the terminal.
const maxTries = 3

// NoPassphraseWarning is what a command prints (as a warning) when --no-passphrase is used.
const NoPassphraseWarning = "--no-passphrase: the private key is written unencrypted; anyone who can read the file can use the key"

// Source says where passphrases come from, in order: --passphrase-file, BBKEY_PASSPHRASE,
// the terminal (echo off); else an error naming the flag and the variable.
type Source struct {
	File      string                      // --passphrase-file
	LookupEnv func(string) (string, bool) // nil reads nothing
	Prompter  prompt.Prompter             // nil: no terminal
	NoInput   bool                        // --no-input
	// NoPassphrase is --no-passphrase; KeyGiven is --key, an existing key.
	NoPassphrase bool
	KeyGiven     bool
}

// Input is where a command's key passphrases come from: file (--passphrase-file),
// BBKEY_PASSPHRASE, then the prompter unless noInput.
func Input(file string, lookupEnv func(string) (string, bool), noInput bool, prompter func() prompt.Prompter) Source {
	src := Source{File: file, LookupEnv: lookupEnv, NoInput: noInput}
	if !noInput && prompter != nil {
		src.Prompter = prompter()
	}
	return src
}

// origin is where a passphrase came from; only a typed one is worth asking for again.
type origin int

const (
	fromFile origin = iota
	fromEnv
	fromPrompt
)

// Check refuses --no-passphrase with --passphrase-file or --key: the one place this is
// checked; every command calls it while parsing its flags.
func (s Source) Check() error {
	switch {
	case s.NoPassphrase && s.File != "":
		return errkind.UsageError(errors.New("--no-passphrase and --passphrase-file cannot be used together"))
	case s.NoPassphrase && s.KeyGiven:
		return errkind.UsageError(errors.New("--no-passphrase applies to a new key and cannot be used with --key"))
	}
	return nil
}

// NewPassphrase returns the passphrase for a new key, or (nil, nil) with NoPassphrase (the
// caller prints NoPassphraseWarning). At the terminal it is asked for twice, up to three
// times. The caller clears the returned slice.
func (s Source) NewPassphrase() ([]byte, error) {
	pass, done, err := s.newFromFileOrEnv()
	if err != nil || done {
		return pass, err
	}
	label := "Passphrase for the new key"
	for range maxTries {
		p1, err := s.Prompter.Secret(label)
		if err != nil {
			return nil, promptErr(err)
		}
		if err := checkNew(p1, fromPrompt); err != nil {
			clear(p1)
			label = err.Error() + "; passphrase for the new key"
			continue
		}
		p2, err := s.Prompter.Secret("Same passphrase again")
		if err != nil {
			clear(p1)
			return nil, promptErr(err)
		}
		same := bytes.Equal(p1, p2)
		clear(p2)
		if same {
			return p1, nil
		}
		clear(p1)
		label = "The passphrases differ; passphrase for the new key"
	}
	return nil, errkind.UsageError(fmt.Errorf("no usable passphrase after %d tries", maxTries),
		fmt.Sprintf("type the same passphrase twice, at least %d characters; or give it in a file: --passphrase-file FILE", MinPassphraseLen))
}

// CheckNew fails as NewPassphrase would, without asking anything (for dry runs).
func (s Source) CheckNew() error {
	pass, _, err := s.newFromFileOrEnv()
	clear(pass)
	return err
}

// newFromFileOrEnv is NewPassphrase without the terminal: done when the passphrase (or
// NoPassphrase) is settled, an error when nothing can give one.
func (s Source) newFromFileOrEnv() ([]byte, bool, error) {
	if err := s.Check(); err != nil || s.NoPassphrase {
		return nil, true, err
	}
	pass, from, found, err := s.fromFileOrEnv()
	if err == nil && found {
		err = checkNew(pass, from)
	}
	if err != nil {
		clear(pass)
		return nil, true, err
	}
	if found {
		return pass, true, nil
	}
	return nil, false, s.canPrompt("a passphrase for the new key")
}

func (s Source) existing(path string) ([]byte, origin, error) {
	pass, from, found, err := s.fromFileOrEnv()
	if err != nil {
		return nil, from, err
	}
	if found {
		if len(pass) == 0 {
			return nil, from, errkind.UsageError(fmt.Errorf("the passphrase from %s is empty", from.name(s.File)))
		}
		return pass, from, nil
	}
	if err := s.canPrompt("the passphrase for " + path); err != nil {
		return nil, fromPrompt, err
	}
	p, err := s.Prompter.Secret("Passphrase for " + path)
	if err != nil {
		return nil, fromPrompt, promptErr(err)
	}
	return p, fromPrompt, nil
}

// CheckUnlock answers as Unlock would before it tries a passphrase (a private key or
// passphrase file refused, no way to give the passphrase), for a dry run; it never prompts.
func (s Source) CheckUnlock(path string) error {
	enc, err := keys.IsEncrypted(path)
	if err != nil || !enc {
		return err
	}
	pass, _, found, err := s.fromFileOrEnv()
	clear(pass)
	if err == nil && !found {
		err = s.canPrompt("the passphrase for " + path)
	}
	return err
}

// Unlock loads the private key at path, asking for its passphrase when it is encrypted: a
// wrong one typed at the terminal is asked for again (three tries). Call Wipe when done.
func (s Source) Unlock(path string) (*keys.Key, error) {
	enc, err := keys.IsEncrypted(path)
	if err != nil {
		return nil, err
	}
	if !enc {
		return keys.LoadPrivate(path, nil)
	}
	for try := 1; ; try++ {
		pass, from, err := s.existing(path)
		if err != nil {
			return nil, err
		}
		var k *keys.Key
		if len(pass) == 0 {
			// Enter alone at the prompt: a wrong passphrase, not none.
			err = &keys.IncorrectPassphraseError{Path: path}
		} else {
			k, err = keys.LoadPrivate(path, pass)
			clear(pass)
		}
		if errors.Is(err, keys.ErrIncorrectPassphrase) && from == fromPrompt && try < maxTries {
			continue
		}
		if errors.Is(err, keys.ErrIncorrectPassphrase) && from != fromPrompt {
			err = errkind.WithHint(err, "the passphrase came from "+from.name(s.File)+"; check what it holds")
		}
		return k, err
	}
}

// fromFileOrEnv returns the passphrase from --passphrase-file or BBKEY_PASSPHRASE.
func (s Source) fromFileOrEnv() (pass []byte, from origin, found bool, err error) {
	if s.File != "" {
		p, err := ReadFile("--passphrase-file", s.File)
		return p, fromFile, err == nil, err
	}
	if s.LookupEnv != nil {
		if v, ok := s.LookupEnv(PassphraseEnv); ok {
			// The string itself cannot be cleared; the copy handed out can.
			return []byte(v), fromEnv, true, nil
		}
	}
	return nil, fromPrompt, false, nil
}

func (o origin) name(file string) string {
	switch o {
	case fromFile:
		return file
	case fromEnv:
		return PassphraseEnv
	}
	return "the terminal"
}

// canPrompt fails with a usage error naming the non-interactive ways to give what.
func (s Source) canPrompt(what string) error {
	if s.Prompter != nil && !s.NoInput {
		return nil
	}
	return noTerminalErr(what)
}

func noTerminalErr(what string) error {
	return errkind.UsageError(fmt.Errorf("bbkey needs %s and cannot prompt for it", what),
		"give it in a file only you can read: --passphrase-file FILE ("+keys.PrivateFileCommand+")",
		"or set the "+PassphraseEnv+" environment variable",
	)
}

func promptErr(err error) error {
	if errors.Is(err, prompt.ErrNoTerminal) {
		return noTerminalErr("a passphrase")
	}
	return fmt.Errorf("reading the passphrase: %w", err)
}

// checkNew enforces the rules for a new passphrase.
func checkNew(p []byte, from origin) error {
	var err error
	switch n := utf8.RuneCount(p); {
	case n == 0:
		err = errors.New("the passphrase is empty")
	case n < MinPassphraseLen:
		err = fmt.Errorf("the passphrase is shorter than %d characters", MinPassphraseLen)
	default:
		return nil
	}
	if from == fromPrompt {
		return err
	}
	return errkind.UsageError(err, "to write the key without a passphrase, say so with --no-passphrase")
}
