// Package keys makes, writes and reads the SSH keys bbkey manages: ed25519 keys in
// OpenSSH's private key format (aes256-ctr, bcrypt KDF, 16 rounds, as ssh-keygen writes
// them) with a .pub line beside them. A private key is created 0600 and never overwritten;
// keys and directories OpenSSH would refuse are refused here too, with the fix. Private
// key bytes are zeroed when done (Key.Wipe), as far as Go allows: the GC may have copied a
// slice, and x/crypto keeps short-lived copies of its own.
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
	KindOther   Kind = iota // a key bbkey did not name (--key)
	KindAccount             // bbkey_<name>_ed25519
	KindAccess              // bbkey_access_<name>_ed25519
)

const (
	filePrefix   = "bbkey_"
	accessPrefix = "bbkey_access_"
	fileSuffix   = "_ed25519"
	// PublicSuffix is appended to a private key's path for its public half.
	PublicSuffix = ".pub"
	// MaxNameLen bounds a key name so file names and Bitbucket labels stay readable.
	MaxNameLen = 64
)

// Key is an SSH key pair on disk or in memory. The private half (Private, Signer) is set
// only after Generate or LoadPrivate.
type Key struct {
	// Path is the private key file (absent when read from a lone .pub).
	Path        string
	PublicKey   ssh.PublicKey
	Comment     string // e.g. "bbkey:laptop@host 2026-11-22"
	Fingerprint string // "SHA256:…", as `ssh-keygen -l` prints it
	// Kind and Name come from the file name when it follows bbkey's naming.
	Kind      Kind
	Name      string
	Encrypted bool
	// Private is ed25519.PrivateKey for keys bbkey made, *rsa.PrivateKey or
	// *ecdsa.PrivateKey for a key given with --key; Signer shares its memory.
	Private crypto.PrivateKey
	Signer  ssh.Signer
}

// PublicPath is the path of the key's .pub file.
func (k *Key) PublicPath() string { return k.Path + PublicSuffix }

// AuthorizedKey is the .pub line (comment included, no newline), as Bitbucket is sent it.
func (k *Key) AuthorizedKey() string {
	line := strings.TrimSuffix(string(ssh.MarshalAuthorizedKey(k.PublicKey)), "\n")
	if k.Comment != "" {
		line += " " + k.Comment
	}
	return line
}

// HasPrivate reports whether the private half is in memory.
func (k *Key) HasPrivate() bool { return k.Private != nil }

// Wipe zeroes the private key and drops the private half. For RSA and ECDSA only the
// exported big.Int words can be reached, not the standard library's precomputed copies.
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

// clearInt zeroes the words of i in place (SetInt64 alone would leave them in memory).
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

// ValidateName checks a key name: 1 to 64 characters from [a-z0-9.-], not starting with
// '.' or '-'. It goes into a file name, a Host alias and a Bitbucket label, and nothing
// else is safe in all three.
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

// SanitizeName turns a host name or nickname into a valid key name: lowercased, runs of
// other characters replaced by '-', trimmed, cut to MaxNameLen.
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

// AccountKeyPath is SSHDIR/bbkey_<name>_ed25519.
func AccountKeyPath(sshDir, name string) (string, error) { return keyPath(sshDir, filePrefix, name) }

// AccessKeyPath is SSHDIR/bbkey_access_<name>_ed25519.
func AccessKeyPath(sshDir, name string) (string, error) {
	return keyPath(sshDir, accessPrefix, name)
}

func keyPath(sshDir, prefix, name string) (string, error) {
	if err := ValidateName(name); err != nil {
		return "", err
	}
	return filepath.Join(sshDir, prefix+name+fileSuffix), nil
}

// ParseFileName tells whether base is one of bbkey's private key files, and which ('_'
// is not allowed in a key name, so the parse is unambiguous).
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

// Comment is a new key's comment, e.g. "bbkey:laptop@build-01 2026-11-22".
func Comment(name, hostname string, now time.Time) string {
	host := strings.ToLower(strings.TrimSpace(hostname))
	if host == "" {
		host = "unknown"
	}
	return fmt.Sprintf("bbkey:%s@%s %s", name, host, now.Format(time.DateOnly))
}
