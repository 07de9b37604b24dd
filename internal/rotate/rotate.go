package rotate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"time"

	"github.com/bbkey/bbkey/agent"
	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/fsutil"
	"github.com/bbkey/bbkey/internal/identity"
	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/keylabel"
	"github.com/bbkey/bbkey/internal/provision"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/internal/text"
	"github.com/bbkey/bbkey/keys"
)

// rotate replaces one key from scratch: steps generate to retire. The new key's steps
// (generate, upload to every place, prove) are the one provisioning pipeline
// (internal/provision); the journal stays around it: each step done is recorded before
// the next starts, and a failure before the proof is rolled back from the journal
// (abandon), which also covers a run killed half-way.
func (e *Engine) rotate(ctx context.Context, s *subject, out *Outcome) error {
	if err := s.clearNext(e.Now()); err != nil {
		return err
	}
	j, err := e.State.Begin(state.Journal{Kind: s.kind, Name: s.name, Scheduled: e.Scheduled,
		OldFingerprint: s.fingerprint, OldPath: s.path, OldKeyIDs: maps.Clone(s.keyIDs)})
	if err != nil {
		return err
	}
	e.crashPoint(StepBegin)

	out.Label = newLabel(j, s)
	p := &provision.Pipeline{
		B: s.b,
		Key: provision.KeySource{New: keys.GenerateOptions{
			Path:         s.next(),
			Comment:      keys.Comment(s.name, e.Hostname, j.Started),
			Passphrase:   s.pass,
			NoPassphrase: len(s.pass) == 0,
		}},
		Places: s.places(nil),
		Label:  out.Label, Concurrency: concurrency, Now: e.Now,
		// Every place is tried; the journal, not the pipeline, takes a failed rotation's
		// key back (abandon), so a run killed half-way is undone the same way.
		Partial: true, KeepUnproven: true,
		Proof: func(ctx context.Context, k *keys.Key, _ []provision.Placed) error {
			if err := e.prove(ctx, s, k, out); err != nil {
				if ctx.Err() != nil { // interrupted (SIGTERM, Ctrl-C), not refused: exit 2
					return fmt.Errorf("interrupted before the new key was proven, so it was deleted again and the old key stays in use: %w", ctx.Err())
				}
				return errkind.VerifyError(fmt.Errorf("the new key was not proven to work over SSH, so it was deleted again and the old key stays in use: %w", err))
			}
			return nil
		},
	}
	if s.lifetime > 0 && s.kind == state.RotateAccount {
		p.Expires = j.Started.Add(s.lifetime).UTC().Truncate(time.Second)
	}
	var (
		k          *keys.Key
		journalErr error // a journal write failed: nothing to roll back from here
	)
	advance := func(step string) error {
		if err := e.advance(j, out, step); err != nil {
			journalErr = err
			return err
		}
		return nil
	}
	p.OnStep = func(step provision.Step, o *provision.Outcome) error {
		switch step {
		case provision.StepKey:
			k = o.Key
			j.NewPath, j.NewFingerprint = s.next(), k.Fingerprint
			out.NewFingerprint = k.Fingerprint
			out.changed(s.next(), s.next()+keys.PublicSuffix)
			e.IO.Step(iostreams.MarkOK, "generated the new key %s (%s)", k.Fingerprint, s.next())
			return advance(StepGenerate)
		case provision.StepUpload:
			if err := e.uploaded(j, s, o, out); err != nil {
				return err
			}
			return advance(StepUpload)
		case provision.StepProof:
			return advance(StepProve)
		}
		return nil
	}
	_, err = p.Run(ctx)
	if k != nil {
		defer k.Wipe()
	}
	switch {
	case journalErr != nil:
		return journalErr
	case err != nil:
		return e.abandon(ctx, j, s, out, err)
	}
	return e.forward(ctx, j, s, k, out)
}

// newLabel is the successor's label: today's date (the rotation's start), the old key's
// ttl policy kept. It is derived from the journal so a resumed run writes the same one.
func newLabel(j *state.Journal, s *subject) string {
	d := j.Started.UTC()
	return keylabel.Label{Name: s.name, Created: time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC), TTL: s.label.TTL}.String()
}

// uploaded records in the journal the id the new key got on each place that has it (the
// rollback deletes those), and fails when a place does not have it.
func (e *Engine) uploaded(j *state.Journal, s *subject, o *provision.Outcome, out *Outcome) error {
	errs := map[string]error{}
	for _, r := range o.Placed {
		key := placeKey(r.Place)
		switch {
		case r.Status.Done():
			j.SetNewKeyID(key, r.Key.ID)
		case r.Err != nil:
			errs[key] = r.Err
		case o.Stop != nil:
			errs[key] = o.Stop
		default:
			errs[key] = errors.New("not attempted")
		}
	}
	out.NewKeyIDs = maps.Clone(j.NewKeyIDs)
	if err := placesError("adding the new key", len(o.Placed), errs); err != nil {
		return err
	}
	switch {
	case s.kind == state.RotateAccount && s.server != "":
		e.IO.Step(iostreams.MarkOK, "uploaded it to the account on %s as %q", s.server, out.Label)
	case s.kind == state.RotateAccount:
		e.IO.Step(iostreams.MarkOK, "uploaded it to the Bitbucket account as %q", out.Label)
	default:
		e.IO.Step(iostreams.MarkOK, "added it to %s as %q", text.Count(len(o.Placed), "repository or project", "repositories and projects"), out.Label)
	}
	return nil
}

// abandon rolls back a rotation that failed before its key was proven, records it, and
// returns cause (joined with the rollback's own failure, which leaves the journal for
// the next run).
func (e *Engine) abandon(ctx context.Context, j *state.Journal, s *subject, out *Outcome, cause error) error {
	out.Result, out.Error = string(state.ResultFailed), cause.Error()
	// Taking the successor back is sent even when --max-wait is spent (that may be why
	// the run failed) or the run was interrupted (SIGTERM, Ctrl-C), with a bound of its own.
	rctx, cancel := context.WithTimeout(bbapi.Cleanup(context.WithoutCancel(ctx)), 30*time.Second)
	defer cancel()
	if err := e.rollback(rctx, j, s, out); err != nil {
		return errors.Join(cause, errkind.WithHint(fmt.Errorf("undoing the rotation: %w", err),
			"run `bbkey rotate` again: it finishes undoing this rotation first"))
	}
	e.record(ctx, j, state.ResultFailed, cause, out)
	if err := j.Finish(); err != nil {
		return errors.Join(cause, err)
	}
	return cause
}

// rollback deletes the successor on Bitbucket and on disk. Nothing else has changed
// before the proof, so afterwards the old key is exactly as it was.
func (e *Engine) rollback(ctx context.Context, j *state.Journal, s *subject, out *Outcome) error {
	if j.NewFingerprint != "" {
		// Until the upload is journalled, an upload a crash hid is found by fingerprint.
		uploaded := j.Did(StepUpload)
		if err := e.deleteKeys(ctx, s, s.places(j), "deleting the new key", j.NewFingerprint, j.NewKeyIDs, j.OldKeyIDs, !uploaded); err != nil {
			return err
		}
		if len(j.NewKeyIDs) > 0 || !uploaded {
			e.IO.Step(iostreams.MarkOK, "deleted the new key %s on Bitbucket again", j.NewFingerprint)
		}
	}
	next := s.next()
	if j.NewPath != "" {
		next = j.NewPath
	}
	for _, p := range []string{next, next + keys.PublicSuffix} {
		if err := os.Remove(p); err == nil {
			out.changed(p)
		} else if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("removing the new key file: %w", err)
		}
	}
	out.step("rollback")
	return nil
}

// forward finishes a rotation whose successor is proven: every remaining step, in order.
// k is the successor in memory, or nil on a resumed run.
func (e *Engine) forward(ctx context.Context, j *state.Journal, s *subject, k *keys.Key, out *Outcome) error {
	out.NewFingerprint, out.NewKeyIDs, out.Label = j.NewFingerprint, maps.Clone(j.NewKeyIDs), newLabel(j, s)
	steps := []struct {
		name string
		fn   func() error
	}{
		{StepAgentAdd, func() error { e.agentAdd(ctx, j, s, k); return nil }},
		{StepConfigNext, func() error { return e.switchConfig(ctx, j, s, j.NewPath, out) }},
		{StepMoveOld, func() error { return e.moveOld(j, s, out) }},
		{StepLinkNew, func() error { return e.linkNew(j, s, out) }},
		{StepConfigFinal, func() error { return e.configFinal(ctx, j, s, out) }},
		{StepAgentRemove, func() error { e.agentRemove(j); return nil }},
		{StepRevoke, func() error { return e.revoke(ctx, j, s, out) }},
		{StepRetire, func() error { return e.retire(out) }},
	}
	for _, st := range steps {
		if j.Did(st.name) {
			continue
		}
		if err := st.fn(); err != nil {
			if st.name == StepRevoke {
				out.Result, out.Error = string(state.ResultPartial), err.Error()
				e.record(ctx, j, state.ResultPartial, err, out)
				return errkind.PartialError(fmt.Errorf("the new key %s is proven and in use, but the old key %s is still on Bitbucket: %w",
					j.NewFingerprint, j.OldFingerprint, err),
					"run `bbkey rotate` again: it finishes revoking the old key rather than starting another rotation")
			}
			out.Result, out.Error = string(state.ResultFailed), err.Error()
			return errkind.WithHint(fmt.Errorf("%s: %w", st.name, err),
				"the new key is proven; run `bbkey rotate` again to finish the rotation")
		}
		if err := e.advance(j, out, st.name); err != nil {
			return err
		}
	}
	out.Result = string(state.ResultOK)
	out.KeyPath = s.final
	e.record(ctx, j, state.ResultOK, nil, out)
	return j.Finish()
}

// agentAdd loads the successor into the user's agent. It never fails the rotation: without
// an agent (a timer, a server) the config's AddKeysToAgent loads it at first use.
func (e *Engine) agentAdd(ctx context.Context, j *state.Journal, s *subject, k *keys.Key) {
	ag := e.userAgent()
	if ag == nil {
		e.agentWarn(e.agentErr, "no ssh agent (%v): the new key is not loaded; ssh loads it at first use", e.agentErr)
		return
	}
	if k == nil || !k.HasPrivate() {
		path := j.NewPath
		if !fsutil.MayExist(path) {
			path = s.final
		}
		var err error
		if k, err = e.unlock(ctx, s.name, path); err != nil {
			e.IO.Step(iostreams.MarkWarn, "the new key is not loaded into the ssh agent: %v", err)
			return
		}
		defer k.Wipe()
	}
	if err := ag.Add(k.Private, k.Comment, s.agentLifetime, false); err != nil {
		e.agentWarn(err, "the new key is not loaded into the ssh agent (ssh loads it at first use): %v", err)
		return
	}
	if s.agentLifetime > 0 {
		e.IO.Step(iostreams.MarkOK, "loaded the new key into the ssh agent for %s", text.ShortDuration(s.agentLifetime))
		return
	}
	e.IO.Step(iostreams.MarkOK, "loaded the new key into the ssh agent")
}

// unlock decrypts the successor on a resumed run, with the passphrase it was made with.
func (e *Engine) unlock(ctx context.Context, name, path string) (*keys.Key, error) {
	enc, err := keys.IsEncrypted(path)
	if err != nil {
		return nil, err
	}
	if !enc {
		return keys.LoadPrivate(path, nil)
	}
	pass, err := e.Passphrase(ctx, name)
	if err != nil {
		return nil, err
	}
	defer clear(pass)
	return keys.LoadPrivate(path, pass)
}

func (e *Engine) agentRemove(j *state.Journal) {
	ag := e.userAgent()
	if ag == nil {
		return
	}
	err := ag.Remove(j.OldFingerprint)
	switch {
	case err == nil:
		e.IO.Step(iostreams.MarkOK, "removed the old key %s from the ssh agent", j.OldFingerprint)
	case errors.Is(err, agent.ErrNotLoaded):
	default:
		e.agentWarn(err, "the old key stays in the ssh agent (Bitbucket no longer accepts it): %v", err)
	}
}

// agentWarn prints an agent warning and the hints of its error. The agent is a
// convenience: a rotation never fails for it (a timer, a server, a locked agent).
func (e *Engine) agentWarn(err error, format string, args ...any) {
	e.IO.Step(iostreams.MarkWarn, format, args...)
	if e.Scheduled {
		return // the hints say how to start or unlock an agent in a shell the timer lacks
	}
	for _, h := range apierr.Hints(err) {
		fmt.Fprintf(e.IO.ErrOut, "    %s\n", h)
	}
}

// switchConfig records the successor (at path) in the state and rewrites the ssh config
// from it.
func (e *Engine) switchConfig(ctx context.Context, j *state.Journal, s *subject, path string, out *Outcome) error {
	label := newLabel(j, s)
	var st *state.State
	err := e.State.Update(ctx, func(cur *state.State) error {
		switch j.Kind {
		case state.RotateAccount:
			a := cur.AccountsOf(s.server)[j.Name]
			if a == nil {
				return fmt.Errorf("account %q is no longer in the state", j.Name)
			}
			a.KeyPath, a.Fingerprint, a.Label, a.Created = path, j.NewFingerprint, label, j.Started
			if id := j.NewKeyIDs[state.AccountTarget]; id != "" {
				a.KeyID = id
			}
		case state.RotateAccessKeys:
			k := cur.AccessKeysOf(s.server)[j.Name]
			if k == nil {
				return fmt.Errorf("access key %q is no longer in the state", j.Name)
			}
			k.Path, k.Fingerprint, k.Label, k.Created = path, j.NewFingerprint, label, j.Started
			for i, t := range k.Targets {
				if id, ok := j.NewKeyIDs[t.Key()]; ok {
					k.Targets[i].KeyID = id
				}
				if w, ok := s.write[t.Key()]; ok {
					// What the server said the old key may do there (Data Center), which the
					// successor was given.
					k.Targets[i].Permission = string(provision.Permission(backend.PlaceKind(t.Kind), w))
				}
			}
		}
		st = cur
		return nil
	})
	if err != nil {
		return fmt.Errorf("recording the new key: %w", err)
	}
	out.changed(filepath.Join(e.State.Path, state.StateFile))
	res, err := identity.Sync(ctx, e.Settings, e.SSHDir, st, false)
	if err != nil {
		return err
	}
	out.changed(res.ChangedFiles...)
	e.IO.Step(iostreams.MarkOK, "ssh config now uses the new key (%s)", path)
	return nil
}

func (e *Engine) configFinal(ctx context.Context, j *state.Journal, s *subject, out *Outcome) error {
	if err := e.switchConfig(ctx, j, s, s.final, out); err != nil {
		return err
	}
	for _, p := range []string{j.NewPath, j.NewPath + keys.PublicSuffix} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("removing %s: %w", p, err)
		}
		out.changed(p)
	}
	return nil
}

// retiredStamp names the old pair in the retired directory: the rotation's start and a
// digest of the old key. Both come from the journal, so a resumed run picks the same
// name; the digest keeps two rotations started in the same second (a crash and an
// immediate re-run) from colliding, which would stop the second forever.
func retiredStamp(j *state.Journal) string {
	sum := sha256.Sum256([]byte(j.OldFingerprint))
	return j.Started.UTC().Format(RetiredTimeLayout) + "-" + hex.EncodeToString(sum[:4])
}

// moveOld moves the old pair out of the fixed name, which nothing names any more (the
// config points at P.next). A key bbkey did not name stays where the user keeps it.
func (e *Engine) moveOld(j *state.Journal, s *subject, out *Outcome) error {
	if filepath.Clean(j.OldPath) != filepath.Clean(s.final) {
		e.IO.Step(iostreams.MarkOK, "left the old key file %s in place (bbkey did not create it)", j.OldPath)
		return nil
	}
	dir := filepath.Join(e.SSHDir, "bbkey", RetiredDir)
	dst := filepath.Join(dir, filepath.Base(s.final)+"."+retiredStamp(j))
	moved, err := keys.Retire(s.final, dir, retiredStamp(j), oldKeyFile(j.OldFingerprint, j.NewFingerprint))
	if err != nil {
		return fmt.Errorf("moving the old key aside: %w", err)
	}
	j.RetiredPath = dst
	out.RetiredPath = dst
	for _, m := range moved {
		out.changed(m[0], m[1])
	}
	e.IO.Step(iostreams.MarkOK, "moved the old key to %s", dst)
	return nil
}

func (e *Engine) linkNew(j *state.Journal, s *subject, out *Outcome) error {
	if err := linkKeyFiles(j.NewPath, s.final, j.NewFingerprint); err != nil {
		return err
	}
	out.changed(s.final, s.final+keys.PublicSuffix)
	e.IO.Step(iostreams.MarkOK, "put the new key in place at %s", s.final)
	return nil
}

// revoke deletes the old key wherever it is on Bitbucket. A key already gone counts as
// revoked, so the step can be repeated; ids the journal lacks are found by fingerprint.
func (e *Engine) revoke(ctx context.Context, j *state.Journal, s *subject, out *Outcome) error {
	places := s.places(j)
	if err := e.deleteKeys(ctx, s, places, "revoking the old key", j.OldFingerprint, j.OldKeyIDs, j.NewKeyIDs, true); err != nil {
		return err
	}
	if s.kind == state.RotateAccount {
		e.IO.Step(iostreams.MarkOK, "revoked the old key %s on Bitbucket", j.OldFingerprint)
	} else {
		e.IO.Step(iostreams.MarkOK, "revoked the old key %s on %s", j.OldFingerprint, text.Count(len(places), "repository or project", "repositories and projects"))
	}
	return nil
}

func (e *Engine) retire(out *Outcome) error {
	removed, err := pruneRetired(filepath.Join(e.SSHDir, "bbkey", RetiredDir), e.Now(), e.KeepRetired)
	out.changed(removed...)
	if err != nil {
		return err
	}
	keep := keylabel.FormatDuration(e.KeepRetired)
	if len(removed) == 0 {
		e.IO.Step(iostreams.MarkOK, "kept retired key files younger than %s", keep)
	} else {
		e.IO.Step(iostreams.MarkOK, "deleted %d retired key files older than %s", len(removed), keep)
	}
	return nil
}

// record adds the rotation to the history (once per outcome: a resumed run that repeats
// the last write does not add a second entry).
func (e *Engine) record(ctx context.Context, j *state.Journal, res state.Result, cause error, out *Outcome) {
	r := state.Rotation{Time: e.Now(), Kind: j.Kind, Name: j.Name, OldFingerprint: j.OldFingerprint,
		NewFingerprint: j.NewFingerprint, Result: res, Scheduled: j.Scheduled || e.Scheduled}
	if cause != nil {
		r.Error = cause.Error()
	}
	err := e.State.Update(ctx, func(st *state.State) error {
		if last, ok := st.LastRotation(j.Kind, j.Name); ok && res == state.ResultOK && last.Result == res &&
			last.NewFingerprint == r.NewFingerprint && last.OldFingerprint == r.OldFingerprint {
			return errUnchanged
		}
		st.AddRotation(r)
		return nil
	})
	if err != nil && !errors.Is(err, errUnchanged) {
		e.IO.Step(iostreams.MarkWarn, "the rotation history was not updated: %v", err)
		return
	}
	out.changed(filepath.Join(e.State.Path, state.StateFile))
}

var errUnchanged = errors.New("unchanged")

// resume finishes (after the proof) or rolls back (before it) the rotation an earlier run
// left in the journal. Its key is found in the state, which may already name the
// successor: the journal, not the state, says what is old and new.
func (e *Engine) resume(ctx context.Context, st *state.State, j *state.Journal, out *Outcome) error {
	if _, ok := entry(st, j.Kind, j.Name); !ok {
		return errkind.WithHint(fmt.Errorf("the unfinished rotation of %s %q names a key that is no longer in the state", j.Kind, j.Name),
			fmt.Sprintf("check the keys with `bbkey list`, then move %s aside", filepath.Join(e.State.Path, state.JournalFile)))
	}
	ss, err := e.subjects(st, Request{Kind: j.Kind, Name: j.Name})
	if err != nil {
		return err
	}
	s := ss[0]
	if err := e.bind(ctx, s); err != nil {
		return err
	}
	step := JournalStep(j)
	if j.Did(StepProve) {
		e.IO.Step(iostreams.MarkWarn, "finishing the rotation of the %s that an earlier run left after %q", s.what(), step)
		return e.forward(ctx, j, s, nil, out)
	}
	e.IO.Step(iostreams.MarkWarn, "rolling back the rotation of the %s that an earlier run left after %q, before its new key was proven", s.what(), step)
	if err := e.rollback(ctx, j, s, out); err != nil {
		out.Result, out.Error = string(state.ResultFailed), err.Error()
		return errkind.WithHint(fmt.Errorf("rolling back an unfinished rotation: %w", err),
			"run `bbkey rotate` again: it finishes undoing the rotation first")
	}
	out.Result = string(state.ResultRolledBack)
	e.record(ctx, j, state.ResultRolledBack, nil, out)
	return j.Finish()
}
