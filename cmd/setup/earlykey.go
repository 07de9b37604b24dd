// The new key's KDF, run while the credential check is on the network (issue 14, item 6).

package setup

import (
	"bytes"

	"github.com/bbkey/bbkey/internal/fsutil"
	"github.com/bbkey/bbkey/internal/secret"
	"github.com/bbkey/bbkey/keys"
)

// earlyKey is a new key prepared (keys.Prepare: the bcrypt KDF, about a tenth of a second)
// during the credential check. The key's path and comment wait for the account's name; the
// KDF needs only the passphrase.
type earlyKey struct {
	done chan struct{}
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
	e := &earlyKey{done: make(chan struct{})}
	r.early = e
	go func() {
		defer close(e.done)
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

// take waits for the prepared key and returns it when it was made with pass (nil
// otherwise, or when none was started); the caller writes it.
func (e *earlyKey) take(pass []byte) *keys.Prepared {
	if e == nil {
		return nil
	}
	<-e.done
	p := e.prep
	if p != nil && !bytes.Equal(e.pass, pass) {
		p.Wipe() // the passphrase file changed in between
		p = nil
	}
	e.prep = nil
	clear(e.pass)
	return p
}

// discard waits for a key prepared and not used, and wipes it.
func (e *earlyKey) discard() { e.take(nil).Wipe() }
