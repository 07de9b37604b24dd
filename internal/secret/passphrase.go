// Package secret reads the secrets bbkey is given: key passphrases and Bitbucket tokens,
// from a file named by a flag, the environment, the keychain or the terminal. Every rule
// about them (a private file, one trailing newline, a size bound, the length of a new
// passphrase, never two sources at once) is checked here and only here; keys knows no
// flag names and asks nobody for anything.
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

// MinPassphraseLen is the shortest new passphrase accepted, in characters. ssh-keygen
// takes five; a key file that leaves the machine (a backup, a stolen disk) is only as
// strong as its passphrase against an offline guesser, so bbkey asks for a little more.
const MinPassphraseLen = 8

// maxTries bounds how often a passphrase is asked for at the terminal.
const maxTries = 3

// NoPassphraseWarning is what a command prints (as a warning) when --no-passphrase is used.
const NoPassphraseWarning = "--no-passphrase: the private key is written unencrypted; anyone who can read the file can use the key"

// Source says where passphrases come from, in order: the file named by
// --passphrase-file, the BBKEY_PASSPHRASE environment variable, the terminal (echo off),
// else an error that names the file flag and the variable. Never a flag value.
type Source struct {
	// File is the --passphrase-file value; "" when not given.
	File string
	// LookupEnv reads the environment (for BBKEY_PASSPHRASE); nil reads nothing.
	LookupEnv func(string) (string, bool)
	// Prompter asks at the terminal; nil means there is none.
	Prompter prompt.Prompter
	// NoInput forbids prompting (--no-input, or no terminal).
	NoInput bool
	// NoPassphrase is the explicit --no-passphrase opt-out for new keys.
	NoPassphrase bool
	// KeyGiven is --key: the command uses an existing key, so --no-passphrase makes no sense.
	KeyGiven bool
}

// origin is where a passphrase came from; only a typed one is worth asking for again.
type origin int

const (
	fromFile origin = iota
	fromEnv
	fromPrompt
)

// Check refuses sources that contradict each other: --no-passphrase with
// --passphrase-file, or (KeyGiven) with --key, whose key exists already. It is the one
// place this is checked; every command calls it while parsing its flags.
func (s Source) Check() error {
	switch {
	case s.NoPassphrase && s.File != "":
		return errkind.UsageError(errors.New("--no-passphrase and --passphrase-file cannot be used together"))
	case s.NoPassphrase && s.KeyGiven:
		return errkind.UsageError(errors.New("--no-passphrase applies to a new key and cannot be used with --key"))
	}
	return nil
}

// NewPassphrase returns the passphrase for a new key, or (nil, nil) when NoPassphrase is
// set (the caller prints NoPassphraseWarning). At the terminal it is asked for twice and
// asked again, up to three times, when the two differ or it is too short. The caller
// clears the returned slice when done.
func (s Source) NewPassphrase() ([]byte, error) {
	if err := s.Check(); err != nil || s.NoPassphrase {
		return nil, err
	}
	pass, from, found, err := s.fromFileOrEnv()
	if err != nil || found {
		if err == nil {
			err = checkNew(pass, from)
		}
		if err != nil {
			clear(pass)
			return nil, err
		}
		return pass, nil
	}
	if err := s.canPrompt("a passphrase for the new key"); err != nil {
		return nil, err
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

// CheckNew fails as NewPassphrase would, without asking anything: a dry run reports a
// missing or unusable passphrase source (exit 2, naming the flag and variable) as the run
// itself would, instead of promising a run that then stops.
func (s Source) CheckNew() error {
	if err := s.Check(); err != nil || s.NoPassphrase {
		return err
	}
	pass, from, found, err := s.fromFileOrEnv()
	defer clear(pass)
	if err != nil {
		return err
	}
	if found {
		return checkNew(pass, from)
	}
	return s.canPrompt("a passphrase for the new key")
}

// ExistingPassphrase returns the passphrase for the existing key at path, asked for once.
// The caller clears the returned slice when done.
func (s Source) ExistingPassphrase(path string) ([]byte, error) {
	pass, _, err := s.existing(path)
	return pass, err
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

// Unlock loads the private key at path, asking for its passphrase only when it is
// encrypted. A wrong passphrase typed at the terminal is asked for again (three tries);
// one from a file or the environment fails at once. Call Wipe on the key when done.
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
			// Enter alone at the prompt: a wrong passphrase, not a request to parse
			// the key without one.
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

// fromFileOrEnv returns the passphrase from --passphrase-file or BBKEY_PASSPHRASE, or
// found false when neither is set.
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
