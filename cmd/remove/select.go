// Which keys remove picks: the selector, and the keys on Bitbucket it matches.

package remove

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/internal/accesskey"
	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/inventory"
	"github.com/bbkey/bbkey/internal/keylabel"
	"github.com/bbkey/bbkey/internal/provision"
	"github.com/bbkey/bbkey/internal/settings"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/keys"
)

// selector is how the user named the key.
type selector struct {
	raw         string
	fingerprint string // SHA256:…
	uuid        string // {…}
	id          int64  // access key id
	label       string // a whole label, or a bbkey name
	name        string // the bbkey name a bare name or bbkey:NAME selects
}

var uuidRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^\{?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\}?$`)
})

func parseSelector(s string) (selector, error) {
	sel := selector{raw: s}
	switch {
	case s == "":
		return sel, errors.New("empty KEY")
	case strings.HasPrefix(strings.ToUpper(s), "SHA256:"):
		sel.fingerprint = bbapi.NormalizeFingerprint(s)
		if sel.fingerprint == "" {
			return sel, fmt.Errorf("%q is not a SHA256 fingerprint", s)
		}
	case uuidRE().MatchString(s):
		sel.uuid = "{" + strings.ToLower(strings.Trim(s, "{}")) + "}"
	case strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }) < 0:
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return sel, fmt.Errorf("invalid id %q", s)
		}
		sel.id = id
	default:
		sel.label = s
		if name := strings.TrimPrefix(s, keylabel.Prefix); keylabel.ValidName(name) == nil {
			sel.name = name
		}
	}
	return sel, nil
}

// matchLabel reports whether a key's label is selected: the whole label, or (for bbkey
// labels only) the name in it.
func (s selector) matchLabel(label string) bool {
	if s.label == "" {
		return false
	}
	l, ok := keylabel.Parse(label)
	return label == s.label || ok && s.name != "" && l.Name == s.name
}

// matches reports whether the selector names k; ids count only when byID.
func (s selector) matches(k backend.Key, byID bool) bool {
	return k.Fingerprint == s.fingerprint || (s.uuid != "" && strings.EqualFold(k.ID, s.uuid)) ||
		(byID && s.id != 0 && k.ID == strconv.FormatInt(s.id, 10)) || s.matchLabel(k.Label)
}

// victim is one key on one place on Bitbucket to delete: an account key (no target), or
// an access key of target.
type victim struct {
	// server is the Data Center server's base URL; "" for Bitbucket Cloud.
	server  string
	account bool
	target  state.Target
	key     backend.Key
}

func (v victim) kind() string {
	if v.account {
		return "account"
	}
	return "access"
}

func (v victim) describe() string {
	s := v.key.Fingerprint
	if v.key.Label != "" {
		s += " (" + v.key.Label + ")"
	}
	if !v.account {
		s += fmt.Sprintf(" from %s %s", v.target.Kind, v.target.Ref())
	}
	if v.server != "" {
		s += " on " + v.server
	}
	return v.kind() + " key " + s
}

func noMatchHint(sel selector, places int, onServer bool) string {
	switch {
	case sel.id != 0 && onServer:
		return "ids are per key on Data Center: bbkey list shows your keys' ids, and with --repo PROJ/slug or --project PROJ those of access keys"
	case sel.id != 0:
		return "access key ids are per repository or project: bbkey list --repo WS/SLUG shows them"
	case places == 0 && sel.fingerprint != "" && onServer:
		return "bbkey list shows your keys; for an access key add --repo PROJ/slug or --project PROJ"
	case places == 0 && sel.fingerprint != "":
		return "bbkey list shows your keys; for an access key add --repo WS/SLUG or --project WS/KEY"
	}
	return "bbkey list shows your keys and their labels"
}

// recorded are the targets bbkey's state records on server for the access keys match
// selects, except those among victims.
func recorded(st *state.State, server string, match func(*state.AccessKey) bool, victims []victim) []state.Target {
	var out []state.Target
	for _, k := range st.AccessKeysOf(server) {
		for _, t := range k.Targets {
			if match(k) && !slices.ContainsFunc(victims, func(v victim) bool { return !v.account && v.target.Same(t) }) {
				out = append(out, t)
			}
		}
	}
	return out
}

// findAccess lists the access keys of each target and keeps those sel names.
func findAccess(ctx context.Context, b backend.Backend, targets []state.Target, sel selector) ([]victim, error) {
	var out []victim
	for _, t := range accesskey.Dedupe(targets) {
		ks, err := b.AccessKeys(ctx, provision.PlaceOf(t))
		if err != nil {
			return nil, fmt.Errorf("listing the access keys of %s %s: %w", t.Kind, t.Ref(), err)
		}
		for _, k := range ks {
			if sel.matches(k, true) {
				out = append(out, victim{server: b.Server(), target: t, key: k})
			}
		}
	}
	return out, nil
}

// refuseLastKey stops the removal of the last account key that works: the last one this
// machine holds a private key for, or the account's last unexpired key.
func refuseLastKey(opts *Options, sshDir string, acct []backend.Key, victims []victim) error {
	if opts.Force || len(victims) == 0 || !victims[0].account {
		return nil
	}
	files, _ := inventory.LocalFiles(sshDir)
	local := map[string]bool{}
	for _, f := range files {
		if f.Private {
			local[f.Fingerprint] = true
		}
	}
	var working, localWorking, remaining, localRemaining int
	for _, k := range acct {
		if !k.Expires.IsZero() && !k.Expires.After(opts.Now()) {
			continue
		}
		removing := slices.ContainsFunc(victims, func(v victim) bool { return v.key.Fingerprint == k.Fingerprint })
		working++
		if local[k.Fingerprint] {
			localWorking++
		}
		if !removing {
			remaining++
			if local[k.Fingerprint] {
				localRemaining++
			}
		}
	}
	hint := "--force removes it anyway; to replace a key without losing access run bbkey rotate instead"
	switch {
	case localWorking > 0 && localRemaining == 0:
		return errkind.WithHint(fmt.Errorf("refusing to remove %s: it is the last account key this machine can use, so git over SSH would stop working here", victims[0].describe()), hint)
	case working > 0 && remaining == 0:
		return errkind.WithHint(fmt.Errorf("refusing to remove %s: it is the account's last working SSH key, so git over SSH would stop working", victims[0].describe()), hint)
	}
	return nil
}

// deleteVictim deletes one key by its id, as the Backend returned it: never a request on
// a collection (on Data Center a DELETE without an id deletes every key of the user).
func deleteVictim(ctx context.Context, b backend.Backend, acct *backend.Account, v victim) error {
	pl := provision.Place{Place: provision.PlaceOf(v.target)}
	if v.account {
		pl = provision.Place{Account: acct}
	}
	err := pl.Delete(ctx, b, v.key)
	if bbapi.IsNotFound(err) {
		return nil // already gone: the goal is reached
	}
	return err
}

// localKey is, for --everywhere, the fingerprint of the key bbkey made that sel names
// when no place on server has it any more: found among the state's keys of server or
// bbkey's key files (not those the state records on another Bitbucket). "" when none.
func localKey(st *state.State, b backend.Backend, sshDir string, sel selector) (string, error) {
	server := b.Server()
	named := func(name, label, fp string) bool {
		return bbapi.SameFingerprint(fp, sel.fingerprint) || (sel.name != "" && name == sel.name) || sel.matchLabel(label)
	}
	var fps []string
	found := func(fp string) {
		if fp = bbapi.NormalizeFingerprint(fp); fp != "" && !slices.Contains(fps, fp) {
			fps = append(fps, fp)
		}
	}
	for _, r := range inventory.RecordedKeys(st) {
		if r.Server == server && named(r.Name, r.Label, r.Fingerprint) {
			found(r.Fingerprint)
		}
	}
	other, recordedElsewhere := "", false
	files, _ := inventory.LocalFiles(sshDir)
	for _, f := range files {
		_, name, ok := keys.ParseFileName(filepath.Base(f.Path))
		if !f.Bbkey || !ok || !named(name, "", f.Fingerprint) {
			continue
		}
		if o, ok := elsewhere(st, server, f.Fingerprint); ok {
			other, recordedElsewhere = o, true
		} else {
			found(f.Fingerprint)
		}
	}
	switch {
	case len(fps) > 1:
		return "", errkind.UsageError(fmt.Errorf("%s matches %d different keys on this machine: %s", sel.raw, len(fps), strings.Join(fps, ", ")), "name one by its fingerprint (SHA256:…)")
	case len(fps) == 0 && recordedElsewhere:
		return "", errkind.WithHint(fmt.Errorf("no key matches %s on %s", sel.raw, b.Describe()),
			"bbkey's state records it on "+cmp.Or(other, "Bitbucket Cloud")+": select that with --server "+cmp.Or(other, settings.CloudServer))
	case len(fps) == 0:
		return "", nil
	}
	return fps[0], nil
}

// elsewhere finds a Bitbucket other than server where the state still records the key
// fp: as an account key, or an access key with places left.
func elsewhere(st *state.State, server, fp string) (string, bool) {
	for _, r := range inventory.RecordedKeys(st) {
		if r.Server != server && bbapi.SameFingerprint(r.Fingerprint, fp) && (r.Kind == keys.KindAccount || len(r.Targets) > 0) {
			return r.Server, true
		}
	}
	return "", false
}
