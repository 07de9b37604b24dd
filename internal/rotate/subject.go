package rotate

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/fsutil"
	"github.com/bbkey/bbkey/internal/identity"
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
	// agentLifetime is how long ssh-agent keeps the successor (the account entry's, from
	// setup --agent-lifetime; 0: until unloaded).
	agentLifetime time.Duration
	// server is the Data Center server the key is on ("" for Cloud); b is the backend
	// that reaches it (Engine.bind).
	server string
	b      backend.Backend
	// ssh is a Data Center server's SSH side as the state records it (the endpoint and
	// pinned host keys its Host block uses): the proof goes where git will. nil on Cloud,
	// whose SSH side comes from the settings (Backend.SSH).
	ssh *backend.SSH
	// write marks the targets (by Target.Key()) where the old access key may push, so its
	// successor gets the same permission there (Data Center only).
	write map[string]bool
	// out is what the run did to the key; pass, the successor's passphrase.
	out  *Outcome
	pass []byte
}

// account is the subject's account as the backend names it (Cloud's uuid, a Data Center
// user's slug).
func (s *subject) account() *backend.Account { return &backend.Account{ID: s.user} }

func (s *subject) what() string {
	on := ""
	if s.server != "" {
		on = " on " + s.server
	}
	if s.kind == state.RotateAccount {
		return fmt.Sprintf("account key %q%s", s.name, on)
	}
	return fmt.Sprintf("access key %q%s", s.name, on)
}

func (s *subject) next() string { return s.final + ".next" }

// subjectsOf makes a subject of every key of one kind (keysOf gives a Bitbucket's) named
// name ("" for all), on every Bitbucket the state holds, and returns every name it saw.
func subjectsOf[T any](st *state.State, name string, keysOf func(server string) map[string]*T,
	mk func(server, name string, v *T) (*subject, error)) (out []*subject, have []string, err error) {
	for _, server := range st.Bitbuckets() {
		keys := keysOf(server)
		for _, n := range slices.Sorted(maps.Keys(keys)) {
			have = append(have, n)
			if name != "" && n != name {
				continue
			}
			s, err := mk(server, n, keys[n])
			if err == nil {
				err = s.recordedSSH(st)
			}
			if err != nil {
				return nil, nil, err
			}
			out = append(out, s)
		}
	}
	return out, have, nil
}

// subjects lists the keys req names, from the state: Cloud's and every Data Center
// server's (key names are one namespace across them: they name the key files).
func (e *Engine) subjects(st *state.State, req Request) ([]*subject, error) {
	var out []*subject
	var have []string
	var err error
	switch req.Kind {
	case state.RotateAccount:
		out, have, err = subjectsOf(st, req.Name, st.AccountsOf, e.accountSubject)
	case state.RotateAccessKeys:
		out, have, err = subjectsOf(st, req.Name, st.AccessKeysOf, e.accessSubject)
	default:
		err = fmt.Errorf("unknown rotation kind %q", req.Kind)
	}
	if err == nil && len(have) == 0 {
		err = NoKeysError(req.Kind, "")
	}
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		flag := ""
		if req.Kind == state.RotateAccessKeys {
			flag = " --access-keys"
		}
		slices.Sort(have)
		return nil, errkind.UsageError(fmt.Errorf("no %s key named %q", strings.TrimSuffix(string(req.Kind), "s"), req.Name),
			fmt.Sprintf("bbkey knows: %s (`bbkey rotate%s --name NAME`)", strings.Join(have, ", "), flag))
	}
	return out, nil
}

// NoKeysError says the state holds no key of kind to rotate (for what: "" or " on a
// schedule"), and which command makes one.
func NoKeysError(kind state.RotationKind, what string) error {
	if kind == state.RotateAccessKeys {
		return errkind.WithHint(fmt.Errorf("no access key to rotate%s", what), "run `bbkey add-access-key` first")
	}
	return errkind.WithHint(fmt.Errorf("no account key to rotate%s", what), "run `bbkey setup` first")
}

// recordedSSH reads the SSH side the state records for the subject's Data Center server.
func (s *subject) recordedSSH(st *state.State) error {
	if s.server == "" {
		return nil
	}
	v := st.ServerOf(s.server)
	if v == nil || v.SSHEndpoint == "" || len(v.HostKeys) == 0 {
		return errkind.WithHint(fmt.Errorf("the state records no SSH endpoint or host key for %s", s.server),
			"run `bbkey setup --server "+s.server+"` again: it records the server's SSH settings")
	}
	pins, err := identity.ServerPins(v)
	if err != nil {
		return err
	}
	s.ssh = &backend.SSH{Host: v.SSHHost, Port: v.SSHPort, Endpoint: v.SSHEndpoint, Pins: pins}
	return nil
}

// entry finds the server ("" for Cloud) whose state holds the key of kind and name.
func entry(st *state.State, kind state.RotationKind, name string) (server string, ok bool) {
	for _, server := range st.Bitbuckets() {
		if kind == state.RotateAccount && st.AccountsOf(server)[name] != nil ||
			kind == state.RotateAccessKeys && st.AccessKeysOf(server)[name] != nil {
			return server, true
		}
	}
	return "", false
}

func (e *Engine) accountSubject(server, name string, a *state.Account) (*subject, error) {
	final, err := keys.AccountKeyPath(e.SSHDir, cmp.Or(a.KeyName, name))
	if err != nil {
		return nil, err
	}
	user := cmp.Or(a.UUID, a.AccountID)
	if user == "" {
		return nil, fmt.Errorf("account %q has no uuid in the state: run `bbkey setup` again", name)
	}
	s := &subject{kind: state.RotateAccount, name: name, user: user, path: a.KeyPath, final: final,
		fingerprint: a.Fingerprint, keyIDs: map[string]string{}, created: a.Created, server: server,
		agentLifetime: a.AgentLifetime()}
	if a.KeyID != "" {
		s.keyIDs[state.AccountTarget] = a.KeyID
	}
	s.label, _ = keylabel.Parse(a.Label)
	return s, nil
}

func (e *Engine) accessSubject(server, name string, k *state.AccessKey) (*subject, error) {
	final, err := keys.AccessKeyPath(e.SSHDir, name)
	if err != nil {
		return nil, err
	}
	if len(k.Targets) == 0 {
		return nil, fmt.Errorf("access key %q has no repositories or projects in the state: nothing to rotate it on", name)
	}
	s := &subject{kind: state.RotateAccessKeys, name: name, path: k.Path, final: final, fingerprint: k.Fingerprint,
		keyIDs: map[string]string{}, targets: slices.Clone(k.Targets), created: k.Created, write: map[string]bool{}, server: server}
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
func (e *Engine) decide(ctx context.Context, s *subject, req Request) (bool, error) {
	if err := e.bind(ctx, s); err != nil {
		return false, err
	}
	out, created := s.out, s.created
	if s.label.Name != "" {
		created = s.label.Created
	}
	if s.kind == state.RotateAccount {
		if err := e.sameUser(ctx, s); err != nil {
			return false, err
		}
		k, err := s.b.FindAccountKey(ctx, s.account(), s.fingerprint)
		if err != nil {
			where := s.what() // names a Data Center server already
			if s.server == "" {
				where += " on " + s.b.Describe()
			}
			return false, fmt.Errorf("looking up the %s: %w", where, err)
		}
		if k == nil {
			e.IO.Step(iostreams.MarkWarn, "the %s (%s) is not on %s any more; its successor replaces it anyway", s.what(), s.fingerprint, s.b.Describe())
		} else {
			s.keyIDs[state.AccountTarget] = k.ID
			if l, ok := keylabel.Parse(k.Label); ok {
				s.label = l
			}
			created = keylabel.AgeOf(false, k.Label, k.Created, created).Created
			if !k.Expires.IsZero() && !k.Created.IsZero() && k.Expires.After(k.Created) {
				s.lifetime = k.Expires.Sub(k.Created)
			}
		}
	} else if err := e.accessPermissions(ctx, s); err != nil {
		return false, err
	}
	now := e.Now()
	out.Created = created
	out.OldKeyIDs = maps.Clone(s.keyIDs)
	if !created.IsZero() {
		out.AgeDays = AgeDays(created, now)
	}
	limit := Limit(req.IfOlderThan, s.label)
	switch {
	case limit == 0:
		out.Reason = fmt.Sprintf("%d days old; replacing it (run without --if-older-than)", out.AgeDays)
	case created.IsZero():
		out.Reason = "its age is unknown; replacing it"
	case !now.Before(created.Add(limit)):
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

// sameUser refuses, on Data Center, a token of another user than the one the key was
// set up for: the server's key calls act on the token's own user, so the successor would
// go to the wrong account and the old key would never be found to revoke. (Cloud's calls
// name the account, and another user's credential is refused there.)
func (e *Engine) sameUser(ctx context.Context, s *subject) error {
	if s.b.Kind() != backend.DataCenter {
		return nil
	}
	who, err := s.b.Whoami(ctx)
	if err != nil {
		return fmt.Errorf("asking %s whom the token acts as: %w", s.server, err)
	}
	if !strings.EqualFold(who.ID, s.user) {
		return errkind.AuthError(fmt.Errorf("the token for %s acts as %q, but the %s belongs to %q: nothing was changed", s.server, who.ID, s.what(), s.user),
			"give a personal HTTP access token of "+s.user+" (`bbkey auth login --server "+s.server+"`, or BITBUCKET_SERVER_TOKEN)")
	}
	return nil
}

// accessPermissions reads, on a Bitbucket whose access keys may write (Data Center),
// what the old key may do at each target, so its successor gets the same permission; it
// also fills in ids the state lacks. Cloud's access keys only read: nothing to ask.
func (e *Engine) accessPermissions(ctx context.Context, s *subject) error {
	if s.b.Kind() != backend.DataCenter {
		return nil
	}
	for _, p := range s.places(nil) {
		key := placeKey(p)
		where := strings.Replace(key, ":", " ", 1) // "repo WS/SLUG"
		k, err := s.b.FindAccessKey(ctx, p.Place, s.fingerprint)
		if err != nil {
			return fmt.Errorf("looking up the %s on %s: %w", s.what(), where, err)
		}
		if k == nil {
			e.IO.Step(iostreams.MarkWarn, "the %s (%s) is not on %s any more; its successor gets read access there", s.what(), s.fingerprint, where)
			continue
		}
		s.write[key] = k.Write
		if s.keyIDs[key] == "" {
			s.keyIDs[key] = k.ID
		}
	}
	return nil
}
