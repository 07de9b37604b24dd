// What remove --everywhere does on this machine: the key files it retires, the agent,
// the state and the ssh config.

package remove

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bbkey/bbkey/agent"
	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/internal/identity"
	"github.com/bbkey/bbkey/internal/inventory"
	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/settings"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/keys"
)

// local is what --everywhere changes on this machine.
type local struct {
	everywhere bool
	fp         string
	agent      agent.Agent
	inAgent    bool
	files      []string // private keys (their .pub goes along)
	// kept are the user's own key files (given with setup --key, not named by bbkey):
	// they stay where they are, as rotate keeps them.
	kept       []string
	retiredDir string
	stamp      string

	// What the run did (or, a dry run, would do).
	agentRemoved bool
	moved        [][2]string
	changed      []string
}

func (l local) describe() []string {
	if !l.everywhere {
		return nil
	}
	var out []string
	if l.inAgent {
		out = append(out, "unload it from the agent")
	}
	out = append(out, "forget it in bbkey's state and rewrite the ssh config")
	for _, f := range l.files {
		out = append(out, "move "+f+" (and .pub) to "+l.retiredDir)
	}
	for _, f := range l.kept {
		out = append(out, "keep "+f+" where it is: your own key file, not one bbkey named")
	}
	return out
}

func localPlan(opts *Options, p settings.Paths, st *state.State, server, fp string) local {
	// The stamp is named as rotate names its retired pairs (time, then a digest of the
	// key), so two keys of one name removed in the same second do not collide and
	// rotate's pruning of old retired pairs covers these too.
	sum := sha256.Sum256([]byte(fp))
	l := local{everywhere: opts.Everywhere, fp: fp, retiredDir: filepath.Join(p.BbkeyDir(), "retired"),
		stamp: opts.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(sum[:4])}
	if !opts.Everywhere {
		return l
	}
	if a, err := opts.Agent(); err == nil {
		l.agent = a
		l.inAgent, _ = a.Has(fp)
	}
	// Every place the state records on server was looked at; a key the state records on
	// another Bitbucket keeps its file.
	if _, ok := elsewhere(st, server, fp); ok {
		return l
	}
	files, _ := inventory.LocalFiles(p.SSHDir)
	for _, f := range files {
		if f.Fingerprint != fp {
			continue
		}
		priv := strings.TrimSuffix(f.Path, keys.PublicSuffix)
		if _, _, ok := keys.ParseFileName(filepath.Base(priv)); ok {
			l.files = append(l.files, priv)
		} else if !slices.Contains(l.kept, priv) {
			l.kept = append(l.kept, priv)
		}
	}
	return l
}

// apply updates the state for the keys removed (done) and, with --everywhere, unloads
// the key, rewrites the ssh config and retires its files. With dry it changes nothing and
// says what a real run would.
func (l *local) apply(ctx context.Context, opts *Options, p settings.Paths, sdir state.Dir, server string, done []victim, dry bool) error {
	var errs []error
	var next *state.State // the state after, when it changed
	if dry {
		st, err := sdir.Load()
		if err != nil {
			return err
		}
		if forget(st, server, *l, done) {
			next = st
		}
	} else {
		err := sdir.Update(ctx, func(st *state.State) error {
			if !forget(st, server, *l, done) {
				return errNoChange
			}
			next = st
			return nil
		})
		if err != nil && !errors.Is(err, errNoChange) {
			next = nil
			errs = append(errs, fmt.Errorf("updating bbkey's state: %w", err))
		}
	}
	if next != nil {
		l.changed = append(l.changed, filepath.Join(p.ConfigDir, state.StateFile))
	}
	if !l.everywhere {
		return errors.Join(errs...)
	}
	switch {
	case !l.inAgent || l.agent == nil:
	case dry:
		l.agentRemoved = true
	default:
		if err := l.agent.Remove(l.fp); err != nil && !errors.Is(err, agent.ErrNotLoaded) {
			errs = append(errs, fmt.Errorf("unloading the key from the agent: %w", err))
		} else {
			l.agentRemoved = true
			opts.IO.Step(iostreams.MarkOK, "Unloaded %s from the agent", l.fp)
		}
	}
	if next != nil {
		s, err := opts.Settings()
		if err == nil {
			var sr identity.Result
			sr, err = identity.Sync(ctx, s, p.SSHDir, next, dry)
			l.changed = append(l.changed, sr.ChangedFiles...)
		}
		switch {
		case err != nil && dry:
			return fmt.Errorf("working out the ssh config: %w", err)
		case err != nil:
			errs = append(errs, fmt.Errorf("rewriting the ssh config: %w", err))
		case !dry:
			opts.IO.Step(iostreams.MarkOK, "Rewrote the ssh config without it")
		}
	}
	for _, f := range l.files {
		var moved [][2]string
		var err error
		if dry {
			for _, src := range []string{f, f + keys.PublicSuffix} {
				if _, err := os.Lstat(src); err == nil {
					moved = append(moved, [2]string{src, filepath.Join(l.retiredDir, filepath.Base(src)+"."+l.stamp)})
				}
			}
		} else {
			moved, err = keys.Retire(f, l.retiredDir, l.stamp, nil)
		}
		l.moved = append(l.moved, moved...)
		for _, m := range moved {
			l.changed = append(l.changed, m[0], m[1])
		}
		if err != nil {
			errs = append(errs, err)
		} else if !dry {
			opts.IO.Step(iostreams.MarkOK, "Moved %s to %s", f, l.retiredDir)
		}
	}
	for _, f := range l.kept {
		if !dry { // a dry run lists them with describe
			opts.IO.Step(iostreams.MarkOK, "Kept %s where it is: your own key file (given to setup with --key), used by other hosts too", f)
		}
	}
	return errors.Join(errs...)
}

var errNoChange = errors.New("no change")

// forget drops from st's entries of server the targets removed (done) and, with
// --everywhere, the key itself; it reports whether st changed.
func forget(st *state.State, server string, l local, done []victim) bool {
	changed := false
	access := st.AccessKeysOf(server)
	for name, a := range access {
		for _, v := range done {
			if !v.account && bbapi.SameFingerprint(a.Fingerprint, v.key.Fingerprint) && a.RemoveTarget(v.target) {
				changed = true
			}
		}
		// With --everywhere every place recorded on server was looked at: the key is there
		// no more.
		if l.everywhere && bbapi.SameFingerprint(a.Fingerprint, l.fp) {
			delete(access, name)
			changed = true
		}
	}
	if l.everywhere {
		accounts := st.AccountsOf(server)
		for name, a := range accounts {
			if bbapi.SameFingerprint(a.Fingerprint, l.fp) {
				delete(accounts, name)
				changed = true
			}
		}
	}
	return changed
}
