package keys

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"unicode/utf8"

	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/prompt"
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

// PassphraseSource says where passphrases come from, in order: the file named by
// --passphrase-file, the BBKEY_PASSPHRASE environment variable, the terminal (echo off),
// else an error that names the file flag and the variable. Never a flag value.
type PassphraseSource struct {
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
}

// origin is where a passphrase came from; only a typed one is worth asking for again.
type origin int

const (
	fromFile origin = iota
	fromEnv
	fromPrompt
)

// NewPassphrase returns the passphrase for a new key, or (nil, nil) when NoPassphrase is
// set (the caller prints NoPassphraseWarning). At the terminal it is asked for twice and
// asked again, up to three times, when the two differ or it is too short. The caller
// clears the returned slice when done.
func (s PassphraseSource) NewPassphrase() ([]byte, error) {
	if s.NoPassphrase {
		if s.File != "" {
			return nil, errkind.UsageError(errors.New("--no-passphrase and --passphrase-file cannot be used together"))
		}
		return nil, nil
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
func (s PassphraseSource) CheckNew() error {
	if s.NoPassphrase {
		if s.File != "" {
			return errkind.UsageError(errors.New("--no-passphrase and --passphrase-file cannot be used together"))
		}
		return nil
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
func (s PassphraseSource) ExistingPassphrase(path string) ([]byte, error) {
	pass, _, err := s.existing(path)
	return pass, err
}

func (s PassphraseSource) existing(path string) ([]byte, origin, error) {
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
func (s PassphraseSource) Unlock(path string) (*Key, error) {
	enc, err := IsEncrypted(path)
	if err != nil {
		return nil, err
	}
	if !enc {
		return LoadPrivate(path, nil)
	}
	for try := 1; ; try++ {
		pass, from, err := s.existing(path)
		if err != nil {
			return nil, err
		}
		var k *Key
		if len(pass) == 0 {
			// Enter alone at the prompt: a wrong passphrase, not a request to parse
			// the key without one.
			err = &IncorrectPassphraseError{Path: path}
		} else {
			k, err = LoadPrivate(path, pass)
			clear(pass)
		}
		if errors.Is(err, ErrIncorrectPassphrase) && from == fromPrompt && try < maxTries {
			continue
		}
		return k, err
	}
}

// fromFileOrEnv returns the passphrase from --passphrase-file or BBKEY_PASSPHRASE, or
// found false when neither is set.
func (s PassphraseSource) fromFileOrEnv() (pass []byte, from origin, found bool, err error) {
	if s.File != "" {
		p, err := readPassphraseFile(s.File)
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
func (s PassphraseSource) canPrompt(what string) error {
	if s.Prompter != nil && !s.NoInput {
		return nil
	}
	return noTerminalErr(what)
}

func noTerminalErr(what string) error {
	return errkind.UsageError(fmt.Errorf("bbkey needs %s and cannot prompt for it", what),
		"give it in a file only you can read: --passphrase-file FILE ("+privateFileCommand+")",
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

// maxPassphraseFile bounds a passphrase file; a larger file is the wrong file.
const maxPassphraseFile = 64 << 10

// readPassphraseFile reads a passphrase from path, strips one trailing newline (\n or
// \r\n, as editors and `echo` add), and refuses a file others can read. The rest is the
// passphrase, spaces included; a file with a second line is refused rather than taken
// whole (a comment or a second passphrase would otherwise silently become part of it).
func readPassphraseFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, errkind.UsageError(fmt.Errorf("reading --passphrase-file: %w", err))
	}
	// Pipes (<(pass show key)) and devices have no meaningful mode; regular files do.
	if fi.Mode().IsRegular() {
		if err := checkMode(path, fi, classSecret); err != nil {
			return nil, errkind.UsageError(fmt.Errorf("--passphrase-file: %w", err))
		}
		if fi.Size() > maxPassphraseFile {
			return nil, errkind.UsageError(fmt.Errorf("--passphrase-file %s is larger than %d bytes, not a passphrase", path, maxPassphraseFile))
		}
	}
	b, err := readBounded(path)
	if err != nil {
		return nil, fmt.Errorf("reading --passphrase-file: %w", err)
	}
	switch {
	case bytes.HasSuffix(b, []byte("\r\n")):
		clear(b[len(b)-2:])
		b = b[:len(b)-2]
	case bytes.HasSuffix(b, []byte("\n")):
		clear(b[len(b)-1:])
		b = b[:len(b)-1]
	}
	if bytes.ContainsAny(b, "\r\n") {
		clear(b)
		return nil, errkind.UsageError(fmt.Errorf("--passphrase-file %s has more than one line", path),
			"the passphrase is the whole file but one trailing newline, spaces included: keep only the passphrase in it, on one line")
	}
	return b, nil
}
