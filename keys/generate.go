package keys

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/internal/fsutil"
	"github.com/bbkey/bbkey/internal/text"
)

// GenerateOptions say where a new key goes and how it is protected.
type GenerateOptions struct {
	// Path is the private key file; the public half goes to Path + ".pub".
	Path    string
	Comment string
	// Passphrase encrypts the private key; the caller still owns it and clears it.
	Passphrase []byte
	// NoPassphrase writes the private key unencrypted: the explicit, warned opt-out.
	NoPassphrase bool
	// Rand is the entropy source; nil means crypto/rand.
	Rand io.Reader
}

// ExistsError is returned when Generate would overwrite a key.
type ExistsError struct {
	Path string
}

func (e *ExistsError) Error() string { return fmt.Sprintf("key %s already exists", e.Path) }

// Is makes errors.Is(err, fs.ErrExist) true.
func (e *ExistsError) Is(target error) bool { return target == fs.ErrExist }

func (e *ExistsError) Hints() []string {
	return []string{
		"bbkey never overwrites a key: choose another name, or use this one as it is",
		"or move the pair aside yourself (mv " + text.CommandQuote(e.Path) + " " + text.CommandQuote(e.Path+".bak") + ", and its .pub likewise) and run again",
	}
}

// Generate makes a new ed25519 key and writes it, as Prepare then Write.
func Generate(opts GenerateOptions) (*Key, error) {
	p, err := Prepare(opts)
	if err != nil {
		return nil, err
	}
	return p.Write(opts)
}

// Prepared is a new key in memory with its file key already derived from the passphrase:
// the costly half of Generate (the bcrypt KDF), which can run before the key's path and
// comment are known. Write it, or Wipe it.
type Prepared struct {
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
	fk   *fileKey // nil: written unencrypted
}

// Prepare generates the key and runs the KDF; of opts it reads Passphrase, NoPassphrase
// and Rand.
func Prepare(opts GenerateOptions) (*Prepared, error) {
	switch {
	case len(opts.Passphrase) == 0 && !opts.NoPassphrase:
		return nil, errors.New("generating a key: no passphrase given, and writing it unencrypted was not asked for")
	case len(opts.Passphrase) > 0 && opts.NoPassphrase:
		return nil, errors.New("generating a key: a passphrase was given for an unencrypted key")
	}
	rnd := opts.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	pub, priv, err := ed25519.GenerateKey(rnd)
	if err != nil {
		return nil, fmt.Errorf("generating a key: %w", err)
	}
	p := &Prepared{pub: pub, priv: priv}
	if !opts.NoPassphrase {
		if p.fk, err = deriveFileKey(opts.Passphrase); err != nil {
			p.Wipe()
			return nil, fmt.Errorf("generating a key: %w", err)
		}
	}
	return p, nil
}

// Wipe zeroes the private key and the file key.
func (p *Prepared) Wipe() {
	if p == nil {
		return
	}
	clear(p.priv)
	p.fk.wipe()
	p.priv, p.fk = nil, nil
}

// Write writes the key to opts.Path with opts.Comment: the private key 0600, never over an
// existing file, then the .pub 0644; the ssh directory is created 0700 when missing and
// refused when unsafe. The returned Key holds the private half (call Wipe when done); p is
// spent either way.
func (p *Prepared) Write(opts GenerateOptions) (*Key, error) {
	if p == nil || p.priv == nil {
		return nil, errors.New("generating a key: the prepared key was already written or wiped")
	}
	priv := p.priv
	p.priv = nil
	defer p.Wipe()
	fail := func(err error) (*Key, error) {
		clear(priv)
		return nil, err
	}
	if opts.Path == "" {
		return fail(errors.New("generating a key: no path given"))
	}
	pubPath := opts.Path + PublicSuffix
	if err := prepareDir(filepath.Dir(opts.Path)); err != nil {
		return fail(err)
	}
	if existing, err := existingPair(opts.Path); err != nil || len(existing) > 0 {
		if err == nil {
			err = &ExistsError{Path: existing[0]}
		}
		return fail(err)
	}
	block, err := seal(priv, opts.Comment, p.fk)
	if err != nil {
		return fail(fmt.Errorf("encoding %s: %w", opts.Path, err))
	}
	privPEM := pem.EncodeToMemory(block)
	clear(block.Bytes)
	defer clear(privPEM)
	sshPub, err := ssh.NewPublicKey(p.pub)
	if err != nil {
		return fail(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return fail(err)
	}
	key := newKey(opts.Path, sshPub, opts.Comment)
	key.Encrypted = p.fk != nil
	key.Private, key.Signer = priv, signer
	for i, f := range []struct {
		path string
		data []byte
		perm fs.FileMode
	}{{opts.Path, privPEM, 0o600}, {pubPath, []byte(key.AuthorizedKey() + "\n"), 0o644}} {
		if err := fsutil.CreateExclusive(f.path, f.data, f.perm); err != nil {
			if i == 1 {
				os.Remove(opts.Path) // ours from a moment ago: removing it loses nothing
			}
			if errors.Is(err, fs.ErrExist) {
				return fail(&ExistsError{Path: f.path})
			}
			return fail(fmt.Errorf("writing %s: %w", f.path, err))
		}
	}
	return key, nil
}

// prepareDir creates the ssh directory 0700 when missing and refuses it when unsafe.
func prepareDir(dir string) error {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := fsutil.MkdirPrivate(dir); err != nil {
			return fmt.Errorf("creating %s: %w", dir, err)
		}
	}
	return CheckDir(dir)
}

// existingPair lists which of the key pair at path (private, .pub) exist.
func existingPair(path string) ([]string, error) {
	var existing []string
	for _, p := range []string{path, path + PublicSuffix} {
		if ok, err := fsutil.Exists(p); err != nil {
			return nil, err
		} else if ok {
			existing = append(existing, p)
		}
	}
	return existing, nil
}

// MoveAside moves the key pair at path (whichever files exist) to PATH.bak-<stamp> and
// PATH.pub.bak-<stamp> (adding -2, -3… when taken), never replacing or deleting a file,
// and returns the new names, private first. When the .pub cannot be moved, the private key
// is put back.
func MoveAside(path string, now time.Time) ([]string, error) {
	existing, err := existingPair(path)
	if err != nil {
		return nil, err
	}
	var moved []string
	for i, p := range existing {
		bak, err := moveAside(p, now.Format("20060102T150405"))
		if err != nil {
			if i == 1 {
				_ = moveNoReplace(moved[0], existing[0])
			}
			return nil, fmt.Errorf("moving %s aside: %w", p, err)
		}
		moved = append(moved, bak)
	}
	return moved, nil
}

func moveAside(path, stamp string) (string, error) {
	base := path + ".bak-" + stamp
	for i := 1; i <= 100; i++ {
		bak := base
		if i > 1 {
			bak = fmt.Sprintf("%s-%d", base, i)
		}
		if err := moveNoReplace(path, bak); !errors.Is(err, fs.ErrExist) {
			return bak, err
		}
	}
	return "", fmt.Errorf("too many backups named %s-*", base)
}

// moveNoReplace renames from to to, failing with fs.ErrExist rather than replacing it: a
// hard link guarantees that atomically; without links, a checked rename is the best left.
func moveNoReplace(from, to string) error {
	if err := os.Link(from, to); err == nil {
		return os.Remove(from)
	} else if errors.Is(err, fs.ErrExist) {
		return err
	}
	if _, err := os.Lstat(to); err == nil {
		return fmt.Errorf("%s: %w", to, fs.ErrExist)
	}
	return os.Rename(from, to)
}

// Retire moves the key pair at priv into dir (created private) as <file>.<stamp>, never
// over an existing file. check, when set, sees each file first: false skips it, an error
// stops. It returns the moves made so far, [from, to].
func Retire(priv, dir, stamp string, check func(path string) (bool, error)) ([][2]string, error) {
	if err := fsutil.MkdirPrivate(dir); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	existing, err := existingPair(priv)
	if err != nil {
		return nil, err
	}
	var moved [][2]string
	for _, src := range existing {
		if check != nil {
			if ok, err := check(src); err != nil {
				return moved, err
			} else if !ok {
				continue
			}
		}
		dst := filepath.Join(dir, filepath.Base(src)+"."+stamp)
		if err := moveNoReplace(src, dst); err != nil {
			return moved, fmt.Errorf("moving %s to %s: %w", src, dir, err)
		}
		moved = append(moved, [2]string{src, dst})
	}
	return moved, nil
}
