package rotate

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/fsutil"
	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/keylabel"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/keys"
)

// subject is one key to rotate, as the state describes it.
type subject struct {
	kind state.RotationKind
	name string
	// user is the account's {selected_user} (account keys).
	user string
	// path is where the key is now; final is bbkey's fixed name for it (they differ only
	// for a key given with --key).
	path, final string
	fingerprint string
	// keyIDs maps state.AccountTarget or a Target.Key() to the key's id there.
	keyIDs  map[string]string
	targets []state.Target
	label   keylabel.Label
	created time.Time
	// lifetime carries an account key's expiry over to its successor (0: none).
	lifetime time.Duration
}

func (s *subject) what() string {
	if s.kind == state.RotateAccount {
		return fmt.Sprintf("account key %q", s.name)
	}
	return fmt.Sprintf("access key %q", s.name)
}

func (s *subject) next() string { return s.final + NextSuffix }

// subjects lists the keys req names, from the state.
func (e *Engine) subjects(st *state.State, req Request) ([]*subject, error) {
	var out []*subject
	switch req.Kind {
	case state.RotateAccount:
		if len(st.Accounts) == 0 {
			return nil, errkind.WithHint(errors.New("no account key to rotate"), "run `bbkey setup` first")
		}
		for _, name := range slices.Sorted(maps.Keys(st.Accounts)) {
			if req.Name != "" && name != req.Name {
				continue
			}
			s, err := e.accountSubject(name, st.Accounts[name])
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
	case state.RotateAccessKeys:
		if len(st.AccessKeys) == 0 {
			return nil, errkind.WithHint(errors.New("no access key to rotate"), "run `bbkey add-access-key` first")
		}
		for _, name := range slices.Sorted(maps.Keys(st.AccessKeys)) {
			if req.Name != "" && name != req.Name {
				continue
			}
			s, err := e.accessSubject(name, st.AccessKeys[name])
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
	default:
		return nil, fmt.Errorf("unknown rotation kind %q", req.Kind)
	}
	if len(out) == 0 {
		have := slices.Sorted(maps.Keys(st.Accounts))
		flag := ""
		if req.Kind == state.RotateAccessKeys {
			have, flag = slices.Sorted(maps.Keys(st.AccessKeys)), " --access-keys"
		}
		return nil, errkind.UsageError(fmt.Errorf("no %s key named %q", strings.TrimSuffix(string(req.Kind), "s"), req.Name),
			fmt.Sprintf("bbkey knows: %s (`bbkey rotate%s --name NAME`)", strings.Join(have, ", "), flag))
	}
	return out, nil
}

func (e *Engine) accountSubject(name string, a *state.Account) (*subject, error) {
	keyName := a.KeyName
	if keyName == "" {
		keyName = name
	}
	final, err := keys.AccountKeyPath(e.SSHDir, keyName)
	if err != nil {
		return nil, err
	}
	user := a.UUID
	if user == "" {
		user = a.AccountID
	}
	if user == "" {
		return nil, fmt.Errorf("account %q has no uuid in the state: run `bbkey setup` again", name)
	}
	s := &subject{kind: state.RotateAccount, name: name, user: user, path: a.KeyPath, final: final,
		fingerprint: a.Fingerprint, keyIDs: map[string]string{}, created: a.Created}
	if a.KeyID != "" {
		s.keyIDs[state.AccountTarget] = a.KeyID
	}
	s.label, _ = keylabel.Parse(a.Label)
	return s, nil
}

func (e *Engine) accessSubject(name string, k *state.AccessKey) (*subject, error) {
	final, err := keys.AccessKeyPath(e.SSHDir, name)
	if err != nil {
		return nil, err
	}
	if len(k.Targets) == 0 {
		return nil, fmt.Errorf("access key %q has no repositories or projects in the state: nothing to rotate it on", name)
	}
	s := &subject{kind: state.RotateAccessKeys, name: name, path: k.Path, final: final, fingerprint: k.Fingerprint,
		keyIDs: map[string]string{}, targets: slices.Clone(k.Targets), created: k.Created}
	for _, t := range k.Targets {
		if t.KeyID != "" {
			s.keyIDs[t.Key()] = t.KeyID
		}
	}
	s.label, _ = keylabel.Parse(k.Label)
	return s, nil
}

// checkFinal refuses to start when the fixed name of a key given with --key is taken:
// the successor could not be put in place.
func (s *subject) checkFinal() error {
	if filepath.Clean(s.path) != filepath.Clean(s.final) && fsutil.MayExist(s.final) {
		return errkind.WithHint(fmt.Errorf("%s already exists and is not the key being rotated (%s)", s.final, s.path),
			"move it away, or remove it with `bbkey remove`, then run `bbkey rotate` again")
	}
	return nil
}

// clearNext moves aside (never deletes) a P.next that no journalled rotation owns, so the
// successor can be written with O_EXCL.
func (s *subject) clearNext(now time.Time) error {
	if fsutil.MayExist(s.next()) || fsutil.MayExist(s.next()+keys.PublicSuffix) {
		if _, err := keys.MoveAside(s.next(), now); err != nil {
			return fmt.Errorf("moving a stray %s aside: %w", s.next(), err)
		}
	}
	return nil
}

// decide works out the key's age (Bitbucket's label or created_on, else the state) and
// whether it is due. It also fills in the old key's Bitbucket id when the state lacks it.
func (e *Engine) decide(ctx context.Context, s *subject, req Request, out *Outcome) (bool, error) {
	created := s.created
	if s.label.Name != "" {
		created = s.label.Created
	}
	if s.kind == state.RotateAccount {
		k, err := e.findAccountKey(ctx, s)
		if err != nil {
			return false, fmt.Errorf("looking up the %s on Bitbucket: %w", s.what(), err)
		}
		if k == nil {
			e.IO.Step(iostreams.MarkWarn, "the %s (%s) is not on Bitbucket any more; its successor replaces it anyway", s.what(), s.fingerprint)
		} else {
			s.keyIDs[state.AccountTarget] = k.UUID
			if l, ok := keylabel.Parse(k.Label); ok {
				s.label = l
			}
			created = keylabel.AgeOf(false, k.Label, k.CreatedOn.Time, created).Created
			if !k.ExpiresOn.IsZero() && !k.CreatedOn.IsZero() && k.ExpiresOn.After(k.CreatedOn.Time) {
				s.lifetime = k.ExpiresOn.Sub(k.CreatedOn.Time)
			}
		}
	}
	now := e.now()
	out.Created = created
	out.OldKeyIDs = maps.Clone(s.keyIDs)
	age := time.Duration(0)
	if !created.IsZero() {
		age = max(now.Sub(created), 0)
	}
	out.AgeDays = int(age / (24 * time.Hour))

	limit := req.IfOlderThan
	if limit > 0 && s.label.TTL > 0 && s.label.TTL < limit {
		limit = s.label.TTL // the label's policy is the stricter one
	}
	switch {
	case limit == 0:
		out.Reason = fmt.Sprintf("%d days old; replacing it (run without --if-older-than)", out.AgeDays)
	case created.IsZero():
		out.Reason = "its age is unknown; replacing it"
	case age >= limit:
		out.Reason = fmt.Sprintf("%d days old, older than %s; replacing it", out.AgeDays, keylabel.FormatDuration(limit))
	default:
		out.Reason = fmt.Sprintf("%d days old, younger than %s; nothing to do (due %s)", out.AgeDays,
			keylabel.FormatDuration(limit), created.Add(limit).UTC().Format(time.DateOnly))
		e.IO.Step(iostreams.MarkOK, "%s (%s) is %s", s.what(), s.fingerprint, out.Reason)
		return false, nil
	}
	verb := ""
	if req.DryRun {
		verb = " (dry run: nothing is changed)"
	}
	e.IO.Step(iostreams.MarkOK, "%s (%s) is %s%s", s.what(), s.fingerprint, out.Reason, verb)
	return true, nil
}

// findAccountKey returns the old account key on Bitbucket, by id and else by fingerprint;
// nil when it is not there.
func (e *Engine) findAccountKey(ctx context.Context, s *subject) (*bbapi.SSHKey, error) {
	if id := s.keyIDs[state.AccountTarget]; id != "" {
		k, _, err := e.API.SSHKeys.Get(ctx, s.user, id)
		if err == nil && bbapi.SameFingerprint(k.SHA256(), s.fingerprint) {
			return k, nil
		}
		if err != nil && !bbapi.IsNotFound(err) {
			return nil, err
		}
	}
	return e.API.SSHKeys.FindByFingerprint(ctx, s.user, s.fingerprint)
}
