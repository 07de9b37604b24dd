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
	"fmt"
	"math/big"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/internal/keylabel"
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

// ValidateAccountName checks the name of a new account key: a valid key name that does
// not start with "access-", as the Host alias <ssh-host>-access-<x> is access key x's.
func ValidateAccountName(name string) error {
	if err := keylabel.ValidName(name); err != nil {
		return err
	}
	if x, ok := strings.CutPrefix(name, "access-"); ok {
		return fmt.Errorf("key name %q would share the ssh Host alias of the access key called %q: an account key's name may not start with \"access-\"", name, x)
	}
	return nil
}

// AccountKeyPath is SSHDIR/bbkey_<name>_ed25519.
func AccountKeyPath(sshDir, name string) (string, error) { return keyPath(sshDir, filePrefix, name) }

// AccessKeyPath is SSHDIR/bbkey_access_<name>_ed25519.
func AccessKeyPath(sshDir, name string) (string, error) {
	return keyPath(sshDir, accessPrefix, name)
}

func keyPath(sshDir, prefix, name string) (string, error) {
	if err := keylabel.ValidName(name); err != nil {
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
	if keylabel.ValidName(rest) != nil {
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
