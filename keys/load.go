package keys

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/internal/text"
)

// ErrIncorrectPassphrase matches an IncorrectPassphraseError with errors.Is.
var ErrIncorrectPassphrase = errors.New("incorrect passphrase")

// IncorrectPassphraseError says the passphrase does not decrypt the key at Path.
type IncorrectPassphraseError struct {
	Path string
}

func (e *IncorrectPassphraseError) Error() string {
	return "incorrect passphrase for " + e.Path
}

// Is makes errors.Is(err, ErrIncorrectPassphrase) true.
func (e *IncorrectPassphraseError) Is(target error) bool { return target == ErrIncorrectPassphrase }

func (e *IncorrectPassphraseError) Hints() []string {
	return []string{"check the passphrase; try it with: ssh-keygen -y -f " + text.CommandQuote(e.Path)}
}

// maxKeyFile bounds a key file; real ones are a few KiB.
const maxKeyFile = 1 << 20

// ParseAuthorizedKey parses a file holding one public key line ("ssh-ed25519 AAAA… comment").
func ParseAuthorizedKey(data []byte) (*Key, error) {
	pub, comment, _, rest, err := ssh.ParseAuthorizedKey(data)
	if err != nil {
		return nil, fmt.Errorf("not a public key line: %w", err)
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		if _, _, _, _, err := ssh.ParseAuthorizedKey(rest); err == nil {
			return nil, errors.New("more than one public key: give a file with exactly one")
		}
	}
	return newKey("", pub, comment), nil
}

// LoadPublic reads the public half of a key without its passphrase, from the .pub or from
// the clear copy in the private key file (path may name either). When both exist they must
// match, so bbkey never uploads a .pub that belongs to another key. The private key's
// permissions are checked as ssh checks them.
func LoadPublic(path string) (*Key, error) {
	privPath, pubPath := path, path+PublicSuffix
	if p, ok := strings.CutSuffix(path, PublicSuffix); ok {
		privPath, pubPath = p, path
	}

	var fromPub *Key
	switch data, err := readKeyFile(pubPath, classPublic); {
	case err == nil:
		if fromPub, err = ParseAuthorizedKey(data); err != nil {
			return nil, fmt.Errorf("reading %s: %w", pubPath, err)
		}
	case errors.Is(err, fs.ErrNotExist) && privPath != path:
		return nil, err // a .pub was named and is missing
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}

	data, err := ReadBounded(privPath, maxKeyFile)
	if errors.Is(err, fs.ErrNotExist) && fromPub != nil {
		// A lone .pub: the private half may live on another machine or a token.
		return newKey(privPath, fromPub.PublicKey, fromPub.Comment), nil
	}
	if err != nil {
		return nil, err
	}
	defer clear(data)
	embedded, encrypted, err := publicFromPrivate(data)
	if err != nil {
		// A public key line in a file without the .pub suffix is fine too.
		if k, perr := ParseAuthorizedKey(data); perr == nil && fromPub == nil {
			k.Path = privPath
			return k, nil
		}
		return nil, fmt.Errorf("reading %s: %w", privPath, err)
	}
	// Checked only now: a public key line in a file without .pub may be world-readable.
	if err := checkPath(privPath, classPrivate); err != nil {
		return nil, err
	}
	k := newKey(privPath, embedded, "")
	if fromPub != nil {
		if !bytes.Equal(fromPub.PublicKey.Marshal(), embedded.Marshal()) {
			return nil, fmt.Errorf("%s does not match %s: it holds %s, the private key is %s",
				pubPath, privPath, fromPub.Fingerprint, k.Fingerprint)
		}
		k.Comment = fromPub.Comment
	}
	k.Encrypted = encrypted
	return k, nil
}

// publicFromPrivate returns the public half of a private key file without a passphrase,
// and whether the file is encrypted.
func publicFromPrivate(data []byte) (ssh.PublicKey, bool, error) {
	raw, err := ssh.ParseRawPrivateKey(data)
	var missing *ssh.PassphraseMissingError
	switch {
	case errors.As(err, &missing):
		if missing.PublicKey == nil {
			return nil, true, errors.New("encrypted key in an old PEM format carries no public key: give its .pub file too")
		}
		return missing.PublicKey, true, nil
	case err != nil:
		return nil, false, err
	}
	defer wipePrivate(raw)
	signer, err := ssh.NewSignerFromKey(raw)
	if err != nil {
		return nil, false, err
	}
	return signer.PublicKey(), false, nil
}

// IsEncrypted reports whether the private key at path needs a passphrase; its
// permissions are checked as ssh checks them.
func IsEncrypted(path string) (bool, error) {
	if err := checkPath(path, classPrivate); err != nil {
		return false, err
	}
	return NeedsPassphrase(path)
}

// NeedsPassphrase is IsEncrypted without the permission check, for a diagnosis that
// reports loose permissions as a finding of its own.
func NeedsPassphrase(path string) (bool, error) {
	data, err := ReadBounded(path, maxKeyFile)
	if err != nil {
		return false, err
	}
	defer clear(data)
	_, enc, err := publicFromPrivate(data)
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", path, err)
	}
	return enc, nil
}

// LoadPrivate reads and decrypts the private key at path (or the key of a .pub path). A
// wrong passphrase gives an IncorrectPassphraseError, none an error wrapping
// *ssh.PassphraseMissingError. Call Wipe on the key when done.
func LoadPrivate(path string, passphrase []byte) (*Key, error) {
	path = strings.TrimSuffix(path, PublicSuffix)
	pubKey, err := LoadPublic(path)
	if err != nil {
		return nil, err
	}
	data, err := readKeyFile(path, classPrivate)
	if err != nil {
		return nil, err
	}
	defer clear(data)

	var raw any
	if pubKey.Encrypted {
		if len(passphrase) == 0 {
			return nil, fmt.Errorf("reading %s: %w", path, &ssh.PassphraseMissingError{PublicKey: pubKey.PublicKey})
		}
		raw, err = ssh.ParseRawPrivateKeyWithPassphrase(data, passphrase)
		if errors.Is(err, x509.IncorrectPasswordError) {
			return nil, &IncorrectPassphraseError{Path: path}
		}
	} else {
		raw, err = ssh.ParseRawPrivateKey(data)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if p, ok := raw.(*ed25519.PrivateKey); ok {
		raw = *p // the form agents and crypto.Signer users expect
	}
	signer, err := ssh.NewSignerFromKey(raw)
	if err != nil {
		wipePrivate(raw)
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if !bytes.Equal(signer.PublicKey().Marshal(), pubKey.PublicKey.Marshal()) {
		wipePrivate(raw)
		return nil, fmt.Errorf("reading %s: the private key does not match its public key %s", path, pubKey.Fingerprint)
	}
	pubKey.Private, pubKey.Signer = raw, signer
	return pubKey, nil
}

// readKeyFile checks the file's permissions and reads it, bounded.
func readKeyFile(path string, c permClass) ([]byte, error) {
	if err := checkPath(path, c); err != nil {
		return nil, err
	}
	return ReadBounded(path, maxKeyFile)
}

// ReadBounded reads a secret file of at most limit bytes, clearing every buffer it drops.
func ReadBounded(path string, limit int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, 0, 4096)
	for {
		if len(buf) == cap(buf) {
			if len(buf) >= limit {
				clear(buf)
				return nil, fmt.Errorf("reading %s: larger than %d bytes", path, limit)
			}
			bigger := make([]byte, len(buf), 2*cap(buf))
			copy(bigger, buf)
			clear(buf)
			buf = bigger
		}
		n, err := f.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil {
			if errors.Is(err, io.EOF) {
				return buf, nil
			}
			clear(buf)
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
	}
}

// Local lists bbkey's own keys in sshDir (bbkey_*_ed25519), sorted by path; a key that
// cannot be read comes with its error.
func Local(sshDir string) ([]LocalKey, error) {
	ents, err := os.ReadDir(sshDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []LocalKey
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		if _, _, ok := ParseFileName(e.Name()); !ok {
			continue
		}
		p := filepath.Join(sshDir, e.Name())
		k, err := LoadPublic(p)
		out = append(out, LocalKey{Path: p, Key: k, Err: err})
	}
	slices.SortFunc(out, func(a, b LocalKey) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

// LocalKey is one result of Local: the key, or the error reading it.
type LocalKey struct {
	Path string
	Key  *Key
	Err  error
}
