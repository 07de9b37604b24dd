// The key a command puts to work, found on this machine and unlocked before anything is
// written (setup and add-access-key).

package provision

import (
	"fmt"

	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/fsutil"
	"github.com/bbkey/bbkey/internal/secret"
	"github.com/bbkey/bbkey/keys"
)

// Local is the key of a run: one whose files exist (Key is its public half, and its
// private half once unlocked), or a new one to make at Path (Key is set once made).
type Local struct {
	Path       string
	Key        *keys.Key
	New        bool
	HasPrivate bool
	// Passphrase is the new key's; Wipe clears it.
	Passphrase []byte
}

// FindKey looks at the key files at path (the private key's): neither is a new key, the
// private key (with or without its .pub) an existing one. A .pub alone is an existing key
// whose private half is elsewhere when publicAlone allows it, an error otherwise.
func FindKey(path string, publicAlone bool) (*Local, error) {
	l := &Local{Path: path, HasPrivate: fsutil.MayExist(path)}
	switch {
	case !l.HasPrivate && !fsutil.MayExist(path+keys.PublicSuffix):
		l.New, l.HasPrivate = true, true
		return l, nil
	case !l.HasPrivate && !publicAlone:
		return nil, errkind.WithHint(fmt.Errorf("%s exists without its private key %s", path+keys.PublicSuffix, path),
			"put the private key back next to it, or move the .pub away to have a new key made")
	}
	k, err := keys.LoadPublic(path)
	if err != nil {
		return nil, errkind.WithHint(fmt.Errorf("reading the key %s: %w", path, err),
			"check that "+path+keys.PublicSuffix+" is the key's OpenSSH public key line: 'ssh-keygen -y -f "+path+"' prints it")
	}
	l.Key = k
	return l, nil
}

// Unlock gets from src what the key needs: a new key's passphrase, or with private an
// existing key's private half, so that a missing passphrase fails before any write.
func (l *Local) Unlock(src secret.Source, private bool) error {
	if l.New {
		pass, err := src.NewPassphrase()
		l.Passphrase = pass
		return err
	}
	if !private {
		return nil
	}
	k, err := src.Unlock(l.Path)
	if err != nil {
		return err
	}
	l.Key = k
	return nil
}

// Check is Unlock for a dry run: it refuses what Unlock would refuse before a passphrase
// is tried, and never prompts, generates or loads the private half.
func (l *Local) Check(src secret.Source, private bool) error {
	switch {
	case l.New:
		return src.CheckNew()
	case private:
		return src.CheckUnlock(l.Path)
	}
	return nil
}

// Source is the pipeline's key: the one found, or a new one with comment.
func (l *Local) Source(comment string, noPassphrase bool) KeySource {
	if !l.New {
		return KeySource{Key: l.Key}
	}
	return KeySource{New: keys.GenerateOptions{Path: l.Path, Comment: comment, Passphrase: l.Passphrase, NoPassphrase: noPassphrase}}
}

// Fingerprint is the key's, or "" for a key not made yet.
func (l *Local) Fingerprint() string {
	if l == nil || l.Key == nil {
		return ""
	}
	return l.Key.Fingerprint
}

// Wipe clears the passphrase and the private half.
func (l *Local) Wipe() {
	if l != nil {
		clear(l.Passphrase)
		l.Key.Wipe()
	}
}
