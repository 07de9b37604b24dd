// Which keys remove picks: the selector, and the keys on Bitbucket it matches.

package remove

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/bbapi/dc"
	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/inventory"
	"github.com/bbkey/bbkey/internal/keylabel"
	"github.com/bbkey/bbkey/internal/state"
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
	case isDigits(s):
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return sel, fmt.Errorf("invalid id %q", s)
		}
		sel.id = id
	default:
		sel.label = s
		name := strings.TrimPrefix(s, keylabel.Prefix)
		if keylabel.ValidName(name) == nil {
			sel.name = name
		}
	}
	return sel, nil
}

func isDigits(s string) bool {
	return s != "" && strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }) < 0
}

// matchLabel reports whether a key's label is selected: the whole label, or (for bbkey
// labels only) the name in it.
func (s selector) matchLabel(label string) bool {
	if s.label == "" {
		return false
	}
	if label == s.label {
		return true
	}
	l, ok := keylabel.Parse(label)
	return ok && s.name != "" && l.Name == s.name
}

// victim is one key on one place on Bitbucket to delete.
type victim struct {
	kind string // "account" or "access"
	// server is the Data Center server's base URL; "" for Bitbucket Cloud.
	server      string
	fingerprint string
	label       string
	id          string
	place       backend.Place // access keys
	key         backend.Key
}

func (v victim) describe() string {
	label := ""
	if v.label != "" {
		label = " (" + v.label + ")"
	}
	on := ""
	if v.server != "" {
		on = " on " + v.server
	}
	if v.kind == "account" {
		return fmt.Sprintf("account key %s%s%s", v.fingerprint, label, on)
	}
	return fmt.Sprintf("access key %s%s from %s %s%s", v.fingerprint, label, v.place.Kind, v.place, on)
}

// target is the state's name of the victim's place.
func (v victim) target() state.Target {
	return placeTarget(v.place)
}

func placeTarget(p backend.Place) state.Target {
	return state.Target{Kind: state.TargetKind(p.Kind), Workspace: p.Owner, Slug: p.Slug}
}

func targetPlace(t state.Target) backend.Place {
	return backend.Place{Kind: backend.PlaceKind(t.Kind), Owner: t.Workspace, Slug: t.Slug}
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

// statePlaces are the places bbkey recorded, on this Bitbucket, for the access keys the
// selector names.
func statePlaces(st *state.State, server string, sel selector) []backend.Place {
	var out []backend.Place
	for _, k := range st.AccessKeysOf(server) {
		if (sel.fingerprint != "" && bbapi.SameFingerprint(k.Fingerprint, sel.fingerprint)) || sel.matchLabel(k.Label) {
			for _, t := range k.Targets {
				out = append(out, targetPlace(t))
			}
		}
	}
	return out
}

// missingPlaces are the recorded places of the key fp not already among victims.
func missingPlaces(st *state.State, server, fp string, victims []victim) []backend.Place {
	var out []backend.Place
	for _, k := range st.AccessKeysOf(server) {
		if !bbapi.SameFingerprint(k.Fingerprint, fp) {
			continue
		}
		for _, t := range k.Targets {
			if !slices.ContainsFunc(victims, func(v victim) bool { return v.kind == "access" && v.target().Same(t) }) {
				out = append(out, targetPlace(t))
			}
		}
	}
	return out
}

func dedupePlaces(ps []backend.Place) []backend.Place {
	var out []backend.Place
	for _, p := range ps {
		if !slices.ContainsFunc(out, func(q backend.Place) bool { return placeTarget(q).Same(placeTarget(p)) }) {
			out = append(out, p)
		}
	}
	return out
}

func findAccess(ctx context.Context, b backend.Backend, places []backend.Place, sel selector) ([]victim, error) {
	var out []victim
	for _, p := range places {
		ks, err := b.AccessKeys(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("listing the access keys of %s %s: %w", p.Kind, p, err)
		}
		for _, k := range ks {
			if k.Fingerprint == sel.fingerprint || (sel.id != 0 && k.ID == strconv.FormatInt(sel.id, 10)) || sel.matchLabel(k.Label) {
				out = append(out, victim{kind: "access", server: b.Server(), fingerprint: k.Fingerprint, label: k.Label, id: k.ID, place: p, key: k})
			}
		}
	}
	return out, nil
}

// refuseLastKey stops the removal of the last account key that works: the last one this
// machine holds a private key for, or the account's last unexpired key.
func refuseLastKey(opts *Options, sshDir string, acct []backend.Key, victims []victim) error {
	if opts.Force || victims[0].kind != "account" {
		return nil
	}
	now := opts.Now()
	removing := map[string]bool{}
	for _, v := range victims {
		removing[v.fingerprint] = true
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
		if !k.Expires.IsZero() && !k.Expires.After(now) {
			continue
		}
		fp := k.Fingerprint
		working++
		if local[fp] {
			localWorking++
		}
		if !removing[fp] {
			remaining++
			if local[fp] {
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

func describeAll(vs []victim) string {
	if len(vs) == 1 {
		return vs[0].describe()
	}
	return fmt.Sprintf("key %s from %d places", vs[0].fingerprint, len(vs))
}

// deleteVictim deletes one key by its id, as the Backend returned it: never a request on
// a collection (on Data Center a DELETE without an id deletes every key of the user).
func deleteVictim(ctx context.Context, b backend.Backend, acct *backend.Account, v victim) error {
	var err error
	switch v.kind {
	case "account":
		err = b.DeleteAccountKey(ctx, acct, v.key)
	case "access":
		err = b.DeleteAccessKey(ctx, v.place, v.key)
	}
	if bbapi.IsNotFound(err) || dc.IsNotFound(err) {
		return nil // already gone: the goal is reached
	}
	return err
}
