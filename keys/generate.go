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
	"slices"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/internal/fsutil"
	"github.com/bbkey/bbkey/internal/text"
)

// GenerateOptions say where a new key goes and how it is protected.
type GenerateOptions struct {
	// Path is the private key file; the public half goes to Path + ".pub".
	Path string
	// Comment goes into both files, e.g. from Comment(name, host, now).
	Comment string
	// Passphrase encrypts the private key. It is required unless NoPassphrase is set. The
	// caller still owns it and clears it after Generate returns.
	Passphrase []byte
	// NoPassphrase writes the private key unencrypted: the explicit, warned opt-out.
	NoPassphrase bool
	// Force moves an existing pair aside (PATH.bak-<YYYYMMDDTHHMMSS>) instead of refusing.
	Force bool
	// Now stamps the names of moved-aside files; zero means the current time.
	Now time.Time
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

// Hints implements the hint contract of cmdutil.
func (e *ExistsError) Hints() []string {
	return []string{
		"bbkey never overwrites a key: choose another name, or use this one as it is",
		"or move the pair aside yourself (mv " + text.CommandQuote(e.Path) + " " + text.CommandQuote(e.Path+".bak") + ", and its .pub likewise) and run again",
	}
}

// Generate makes a new ed25519 key in memory and writes it: the private key in OpenSSH's
// format (encrypted with aes256-ctr and a bcrypt KDF of 16 rounds unless NoPassphrase),
// 0600 and never overwriting; then the .pub line, 0644. The ssh directory is created 0700
// when missing and refused when unsafe. The returned Key holds the private half in memory
// (Private, Signer), so the caller can prove it and add it to an agent without asking for
// the passphrase again; call Wipe when done. It is Prepare, then Write.
func Generate(opts GenerateOptions) (*Key, error) {
	p, err := Prepare(opts)
	if err != nil {
		return nil, err
	}
	return p.Write(opts)
}

// Prepared is a new ed25519 key in memory with the key that encrypts its file already
// derived from the passphrase: the costly half of Generate (the bcrypt KDF), which needs
// neither the key's path nor its comment, so it can run while those are still being
// found out. Write it, or Wipe it.
type Prepared struct {
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
	fk   *fileKey // nil: written unencrypted
}

// Prepare generates the key and runs the KDF on opts.Passphrase. Of opts it reads only
// Passphrase, NoPassphrase and Rand; the caller still owns the passphrase.
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

// Wipe zeroes the private key and the file key. Write wipes p itself.
func (p *Prepared) Wipe() {
	if p == nil {
		return
	}
	clear(p.priv)
	p.fk.wipe()
	p.priv, p.fk = nil, nil
}

// Write writes the prepared key to opts.Path with opts.Comment, as Generate describes (of
// opts it reads Path, Comment, Force and Now). The returned Key holds the private half;
// p is spent, whether Write succeeds or not.
func (p *Prepared) Write(opts GenerateOptions) (*Key, error) {
	if p == nil || p.priv == nil {
		return nil, errors.New("generating a key: the prepared key was already written or wiped")
	}
	priv := p.priv
	p.priv = nil
	defer p.Wipe() // the file key; priv is wiped below unless handed to the caller
	// From here on every return path that does not hand priv to the caller wipes it.
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
	var existing []string
	for _, path := range []string{opts.Path, pubPath} {
		if _, err := os.Lstat(path); err == nil {
			existing = append(existing, path)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fail(err)
		}
	}
	if len(existing) > 0 && !opts.Force {
		return fail(&ExistsError{Path: existing[0]})
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

	// Move the old pair aside only now that nothing can fail before the new one lands, and
	// put it back if the new one cannot be written.
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	moves, err := moveAsidePair(existing, now)
	if err != nil {
		return fail(err)
	}
	restore := moves.undo
	for _, m := range moves {
		key.MovedAside = append(key.MovedAside, m.to)
	}

	if err := fsutil.CreateExclusive(opts.Path, privPEM, 0o600); err != nil {
		restore()
		if errors.Is(err, fs.ErrExist) {
			return fail(&ExistsError{Path: opts.Path})
		}
		return fail(fmt.Errorf("writing %s: %w", opts.Path, err))
	}
	if err := fsutil.CreateExclusive(pubPath, []byte(key.AuthorizedKey()+"\n"), 0o644); err != nil {
		// The private file is ours from a moment ago: removing it loses nothing.
		os.Remove(opts.Path)
		restore()
		if errors.Is(err, fs.ErrExist) {
			return fail(&ExistsError{Path: pubPath})
		}
		return fail(fmt.Errorf("writing %s: %w", pubPath, err))
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

// MoveAside moves the key pair at path (the private key and its .pub, whichever exist)
// to PATH.bak-<YYYYMMDDTHHMMSS> and PATH.pub.bak-<…>, never replacing a file and never
// deleting one, and returns the new names (private first). When one of the two cannot be
// moved, the other is put back.
func MoveAside(path string, now time.Time) ([]string, error) {
	var existing []string
	for _, p := range []string{path, path + PublicSuffix} {
		if _, err := os.Lstat(p); err == nil {
			existing = append(existing, p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	moves, err := moveAsidePair(existing, now)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(moves))
	for i, m := range moves {
		out[i] = m.to
	}
	return out, nil
}

type move struct{ from, to string }

type moves []move

// undo puts moved files back, newest move first.
func (ms moves) undo() {
	for _, m := range slices.Backward(ms) {
		_ = moveNoReplace(m.to, m.from)
	}
}

func moveAsidePair(paths []string, now time.Time) (moves, error) {
	var done moves
	for _, p := range paths {
		bak, err := moveAside(p, now)
		if err != nil {
			done.undo()
			return nil, fmt.Errorf("moving %s aside: %w", p, err)
		}
		done = append(done, move{p, bak})
	}
	return done, nil
}

// BackupSuffix is the layout of the timestamp in moved-aside file names.
const BackupSuffix = "20060102T150405"

// moveAside renames path to path.bak-<stamp> (adding -2, -3… when that name is taken) and
// returns the new name. It never replaces an existing file.
func moveAside(path string, now time.Time) (string, error) {
	base := path + ".bak-" + now.Format(BackupSuffix)
	for i := 1; i <= 100; i++ {
		bak := base
		if i > 1 {
			bak = fmt.Sprintf("%s-%d", base, i)
		}
		err := moveNoReplace(path, bak)
		if err == nil {
			return bak, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", err
		}
	}
	return "", fmt.Errorf("too many backups named %s-*", base)
}

// moveNoReplace renames from to to, failing with fs.ErrExist instead of replacing to. A
// hard link gives that guarantee atomically; where links are unsupported a checked rename
// is the best the platform offers.
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

// Retire moves the key pair at priv (the private key, then its .pub) into dir as
// <file>.<stamp>, file by file and never over an existing file; dir is created private.
// check, when set, sees each file first: false skips it (rotate: a file already holding
// the successor, the move long done), an error stops. A missing file is skipped. It
// returns the moves made, [from, to], so far.
func Retire(priv, dir, stamp string, check func(path string) (bool, error)) ([][2]string, error) {
	if err := fsutil.MkdirPrivate(dir); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	var moved [][2]string
	for _, src := range []string{priv, priv + PublicSuffix} {
		if _, err := os.Lstat(src); errors.Is(err, fs.ErrNotExist) {
			continue
		}
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
