// Package keys makes, writes and reads the SSH keys bbkey manages: ed25519 keys generated
// in-process, written in OpenSSH's own private key format encrypted with the user's
// passphrase (aes256-ctr, bcrypt KDF, 16 rounds, as ssh-keygen does), with a .pub line
// beside them and fingerprints printed the way OpenSSH prints them.
//
// The file contract: a private key is created 0600 with O_EXCL (written to a temporary
// file, fsynced, and linked into place, so it appears whole or not at all), its public
// half 0644, the ssh directory 0700. An existing key is never overwritten; Force moves the
// old pair aside with a timestamp and never deletes it. Keys and directories that OpenSSH
// would refuse (group/world-writable, a private key others can read, another user's) are
// refused here too, with the chmod that fixes them, so bbkey never uploads a key ssh will
// not use.
//
// Secrets: passphrases come from the terminal with echo off, a file, or BBKEY_PASSPHRASE,
// never from argv. Private key bytes and passphrases held in byte slices are zeroed when
// done (Key.Wipe, clear). Go cannot promise more: the garbage collector may have copied a
// slice before it was cleared, strings (an environment variable) are immutable, and
// x/crypto keeps short-lived internal copies while it marshals and parses keys.
package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"math/big"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// Kind says which of bbkey's keys a file is, from its name.
type Kind int

const (
	// KindOther is a key bbkey did not name (for example one given with --key).
	KindOther Kind = iota
	// KindAccount is an account key: bbkey_<name>_ed25519.
	KindAccount
	// KindAccess is a repository or project access key: bbkey_access_<name>_ed25519.
	KindAccess
)

func (k Kind) String() string {
	switch k {
	case KindAccount:
		return "account"
	case KindAccess:
		return "access"
	}
	return "other"
}

const (
	filePrefix   = "bbkey_"
	accessPrefix = "bbkey_access_"
	fileSuffix   = "_ed25519"
	// PublicSuffix is appended to a private key's path for its public half.
	PublicSuffix = ".pub"
	// MaxNameLen bounds a key name so file names and Bitbucket labels stay readable.
	MaxNameLen = 64
)

// Key is an SSH key pair on disk or in memory. The public half is always set; the
// private half (Private, Signer) only after Generate or LoadPrivate.
type Key struct {
	// Path is the private key file; the public half is Path + ".pub". It may not exist
	// when the key was read from a lone .pub file.
	Path string
	// PublicKey is the public half.
	PublicKey ssh.PublicKey
	// Comment is the key's comment (from the .pub line), e.g. "bbkey:laptop@host 2026-11-22".
	Comment string
	// Fingerprint is "SHA256:…", as `ssh-keygen -l` prints it.
	Fingerprint string
	// Kind and Name come from the file name when it follows bbkey's naming.
	Kind Kind
	Name string
	// Encrypted reports whether the private key file is protected by a passphrase.
	Encrypted bool
	// MovedAside lists where Generate with Force moved an earlier pair (private first).
	MovedAside []string

	// Private is the raw private key: ed25519.PrivateKey for keys bbkey made (what an
	// agent's add takes); *rsa.PrivateKey or *ecdsa.PrivateKey for a key given with --key.
	// Nil until the private half is loaded. Call Wipe when done.
	Private crypto.PrivateKey
	// Signer signs with Private (it shares Private's memory, so Wipe clears both).
	Signer ssh.Signer
}

// PublicPath is the path of the key's .pub file.
func (k *Key) PublicPath() string { return k.Path + PublicSuffix }

// AuthorizedKey is the public key as one authorized_keys line, comment included, without
// a trailing newline: what a .pub file holds and what Bitbucket is sent.
func (k *Key) AuthorizedKey() string {
	line := strings.TrimSuffix(string(ssh.MarshalAuthorizedKey(k.PublicKey)), "\n")
	if k.Comment != "" {
		line += " " + k.Comment
	}
	return line
}

// HasPrivate reports whether the private half is in memory.
func (k *Key) HasPrivate() bool { return k.Private != nil }

// Wipe zeroes the private key bytes and drops the private half. For ed25519 the whole
// key is cleared (the Signer shares those bytes). For RSA and ECDSA the exported big.Int
// words are cleared, but the copies crypto/rsa and crypto/ecdsa keep in their unexported
// precomputed form cannot be reached from outside the standard library.
func (k *Key) Wipe() {
	if k == nil {
		return
	}
	wipePrivate(k.Private)
	k.Private, k.Signer = nil, nil
}

func wipePrivate(p crypto.PrivateKey) {
	switch p := p.(type) {
	case ed25519.PrivateKey:
		clear(p)
	case *ed25519.PrivateKey:
		if p != nil {
			clear(*p)
		}
	case *rsa.PrivateKey:
		if p != nil {
			clearInt(p.D)
			for _, q := range p.Primes {
				clearInt(q)
			}
			clearInt(p.Precomputed.Dp)
			clearInt(p.Precomputed.Dq)
			clearInt(p.Precomputed.Qinv)
		}
	case *ecdsa.PrivateKey:
		if p != nil {
			//lint:ignore SA1019 zeroing the secret where it lives needs the field itself
			clearInt(p.D)
		}
	}
}

// clearInt zeroes the words of i in place, then sets it to 0 (SetInt64 alone would only
// shorten the slice and leave the words in memory).
func clearInt(i *big.Int) {
	if i != nil {
		clear(i.Bits())
		i.SetInt64(0)
	}
}

// newKey fills the public fields from pub.
func newKey(path string, pub ssh.PublicKey, comment string) *Key {
	k := &Key{
		Path:        path,
		PublicKey:   pub,
		Comment:     comment,
		Fingerprint: ssh.FingerprintSHA256(pub),
	}
	if path != "" {
		k.Kind, k.Name, _ = ParseFileName(filepath.Base(path))
	}
	return k
}

// Fingerprint returns the SHA256 fingerprint of pub as OpenSSH prints it ("SHA256:…",
// unpadded base64).
func Fingerprint(pub ssh.PublicKey) string { return ssh.FingerprintSHA256(pub) }

// ValidateName checks a key name: 1 to 64 characters from [a-z0-9._-], not starting with
// '.' or '-' (a hidden file, or something ssh could read as an option). The name goes
// into a file name, an ssh config Host alias and a Bitbucket label, so nothing else is
// safe in all three.
func ValidateName(name string) error {
	if name == "" {
		return errors.New("key name is empty")
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("key name %q is longer than %d characters", name, MaxNameLen)
	}
	if name[0] == '.' || name[0] == '-' {
		return fmt.Errorf("key name %q must start with a letter or digit", name)
	}
	for _, r := range name {
		if !nameChar(r) {
			return fmt.Errorf("key name %q may only contain a-z, 0-9, '.' and '-', not %q", name, r)
		}
	}
	return nil
}

func nameChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '-'
}

// SanitizeName turns a host name or account nickname into a valid key name: lowercased,
// every run of other characters replaced by '-', trimmed of leading and trailing '.' and
// '-', and cut to MaxNameLen. It fails when nothing usable is left.
func SanitizeName(s string) (string, error) {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if nameChar(r) {
			b.WriteRune(r)
			dash = false
		} else if !dash {
			b.WriteByte('-')
			dash = true
		}
	}
	out := strings.Trim(b.String(), ".-")
	if len(out) > MaxNameLen {
		out = strings.TrimRight(out[:MaxNameLen], ".-")
	}
	if out == "" {
		return "", fmt.Errorf("cannot make a key name from %q: give one with --name", s)
	}
	return out, nil
}

// AccountKeyPath is the private key path of the account key called name:
// SSHDIR/bbkey_<name>_ed25519.
func AccountKeyPath(sshDir, name string) (string, error) {
	if err := ValidateName(name); err != nil {
		return "", err
	}
	return filepath.Join(sshDir, filePrefix+name+fileSuffix), nil
}

// AccessKeyPath is the private key path of the access key called name:
// SSHDIR/bbkey_access_<name>_ed25519.
func AccessKeyPath(sshDir, name string) (string, error) {
	if err := ValidateName(name); err != nil {
		return "", err
	}
	return filepath.Join(sshDir, accessPrefix+name+fileSuffix), nil
}

// ParseFileName tells whether base (a file name, not a path) is one of bbkey's private
// key files, and which. Names are unambiguous because '_' is not allowed in a key name.
func ParseFileName(base string) (Kind, string, bool) {
	rest, ok := strings.CutSuffix(base, fileSuffix)
	if !ok {
		return KindOther, "", false
	}
	kind := KindAccount
	if r, ok := strings.CutPrefix(rest, accessPrefix); ok {
		rest, kind = r, KindAccess
	} else if r, ok := strings.CutPrefix(rest, filePrefix); ok {
		rest = r
	} else {
		return KindOther, "", false
	}
	if ValidateName(rest) != nil {
		return KindOther, "", false
	}
	return kind, rest, true
}

// Comment is the comment bbkey gives a new key: what it is and where it was made, e.g.
// "bbkey:laptop@build-01 2026-11-22". The host name is lowercased.
func Comment(name, hostname string, now time.Time) string {
	host := strings.ToLower(strings.TrimSpace(hostname))
	if host == "" {
		host = "unknown"
	}
	return fmt.Sprintf("bbkey:%s@%s %s", name, host, now.Format(time.DateOnly))
}
