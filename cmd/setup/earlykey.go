// The new key's KDF, run while the credential check is on the network (issue 14, item 6).

package setup

import (
	"bytes"

	"github.com/bbkey/bbkey/internal/fsutil"
	"github.com/bbkey/bbkey/internal/secret"
	"github.com/bbkey/bbkey/keys"
)

// earlyKey is a new key prepared (keys.Prepare: the bcrypt KDF, about a tenth of a
// second) during the credential check, and the passphrase it was made with. The key's path
// and comment wait for the account's name; the KDF needs only the passphrase.
type earlyKey struct {
	pass []byte
	prep *keys.Prepared
}

// startKey starts preparing the new key when this run will probably generate one and its
// passphrase is in a file or the environment (never asked for: the prompts keep their
// order). Whatever goes wrong here is left for prepareKey and writeKey to meet in order.
func (r *run) startKey() {
	opts := r.opts
	switch {
	case !overlapKeyGen || opts.DryRun || opts.NoPassphrase || r.fl.keyFile != "":
		return // nothing to overlap: no key written, an existing key, or no KDF to run
	case opts.Name == "" && len(r.st.Accounts) > 0:
		return // most likely a re-run, which reuses its key
	case opts.Name != "":
		if p, err := keys.AccountKeyPath(r.paths.SSHDir, opts.Name); err != nil || fsutil.MayExist(p) {
			return
		}
	}
	src := secret.Source{File: opts.PassphraseFile, LookupEnv: opts.LookupEnv, NoInput: true}
	ch := make(chan earlyKey, 1)
	r.early = ch
	go func() {
		var e earlyKey
		defer func() { ch <- e }()
		pass, err := src.NewPassphrase()
		if err != nil {
			return
		}
		if e.prep, err = keys.Prepare(keys.GenerateOptions{Passphrase: pass}); err != nil {
			clear(pass)
			return
		}
		e.pass = pass
	}()
}

// takeEarly waits for the key prepared early and returns it when it was made with pass
// (nil otherwise, or when none was started); the caller writes it, or wipes it.
func (r *run) takeEarly(pass []byte) *keys.Prepared {
	if r.early == nil {
		return nil
	}
	e := <-r.early
	r.early = nil
	defer clear(e.pass)
	if e.prep != nil && !bytes.Equal(e.pass, pass) {
		e.prep.Wipe() // the passphrase file changed in between
		return nil
	}
	return e.prep
}
