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
	"github.com/bbkey/bbkey/internal/cmdutil"
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
	kind        string // "account" or "access"
	fingerprint string
	label       string
	id          string
	target      state.Target
	account     *bbapi.SSHKey
	deploy      *bbapi.DeployKey
	project     *bbapi.ProjectDeployKey
}

func (v victim) describe() string {
	label := ""
	if v.label != "" {
		label = " (" + v.label + ")"
	}
	if v.kind == "account" {
		return fmt.Sprintf("account key %s%s", v.fingerprint, label)
	}
	return fmt.Sprintf("access key %s%s from %s %s", v.fingerprint, label, v.target.Kind, v.target.Ref())
}

func noMatchHint(sel selector, targets int) string {
	switch {
	case sel.id != 0:
		return "access key ids are per repository or project: bbkey list --repo WS/SLUG shows them"
	case targets == 0 && sel.fingerprint != "":
		return "bbkey list shows your keys; for an access key add --repo WS/SLUG or --project WS/KEY"
	}
	return "bbkey list shows your keys and their labels"
}

// stateTargets are the targets bbkey recorded for the access keys the selector names.
func stateTargets(st *state.State, sel selector) []state.Target {
	var out []state.Target
	for _, k := range st.AccessKeys {
		if (sel.fingerprint != "" && bbapi.SameFingerprint(k.Fingerprint, sel.fingerprint)) || sel.matchLabel(k.Label) {
			out = append(out, k.Targets...)
		}
	}
	return out
}

// missingTargets are the recorded targets of the key fp not already among victims.
func missingTargets(st *state.State, fp string, victims []victim) []state.Target {
	var out []state.Target
	for _, k := range st.AccessKeys {
		if !bbapi.SameFingerprint(k.Fingerprint, fp) {
			continue
		}
		for _, t := range k.Targets {
			if !slices.ContainsFunc(victims, func(v victim) bool { return v.kind == "access" && v.target.Same(t) }) {
				out = append(out, t)
			}
		}
	}
	return out
}

func dedupeTargets(ts []state.Target) []state.Target {
	var out []state.Target
	for _, t := range ts {
		if !slices.ContainsFunc(out, t.Same) {
			out = append(out, t)
		}
	}
	return out
}

func findAccess(ctx context.Context, c *bbapi.Client, targets []state.Target, sel selector) ([]victim, error) {
	var out []victim
	for _, t := range targets {
		if t.Kind == state.TargetProject {
			for k, err := range c.ProjectDeployKeys.List(ctx, t.Workspace, t.Slug) {
				if err != nil {
					return nil, fmt.Errorf("listing the access keys of project %s: %w", t.Ref(), err)
				}
				if fp := k.SHA256(); fp == sel.fingerprint || (sel.id != 0 && int64(k.ID) == sel.id) || sel.matchLabel(k.Label) {
					out = append(out, victim{kind: "access", fingerprint: fp, label: k.Label, id: k.ID.String(), target: t, project: k})
				}
			}
			continue
		}
		for k, err := range c.DeployKeys.List(ctx, t.Workspace, t.Slug) {
			if err != nil {
				return nil, fmt.Errorf("listing the access keys of %s: %w", t.Ref(), err)
			}
			if fp := k.SHA256(); fp == sel.fingerprint || (sel.id != 0 && int64(k.ID) == sel.id) || sel.matchLabel(k.Label) {
				out = append(out, victim{kind: "access", fingerprint: fp, label: k.Label, id: k.ID.String(), target: t, deploy: k})
			}
		}
	}
	return out, nil
}

// refuseLastKey stops the removal of the last account key that works: the last one this
// machine holds a private key for, or the account's last unexpired key.
func refuseLastKey(opts *Options, sshDir string, acct []*bbapi.SSHKey, victims []victim) error {
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
		if !k.ExpiresOn.IsZero() && !k.ExpiresOn.After(now) {
			continue
		}
		fp := k.SHA256()
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
		return cmdutil.WithHint(fmt.Errorf("refusing to remove %s: it is the last account key this machine can use, so git over SSH would stop working here", victims[0].describe()), hint)
	case working > 0 && remaining == 0:
		return cmdutil.WithHint(fmt.Errorf("refusing to remove %s: it is the account's last working SSH key, so git over SSH would stop working", victims[0].describe()), hint)
	}
	return nil
}

func describeAll(vs []victim) string {
	if len(vs) == 1 {
		return vs[0].describe()
	}
	return fmt.Sprintf("key %s from %d places", vs[0].fingerprint, len(vs))
}

func deleteVictim(ctx context.Context, c *bbapi.Client, v victim) error {
	var err error
	switch {
	case v.account != nil:
		_, err = c.SSHKeys.DeleteKey(ctx, v.account)
	case v.deploy != nil:
		_, err = c.DeployKeys.Delete(ctx, v.target.Workspace, v.target.Slug, v.deploy.ID)
	case v.project != nil:
		_, err = c.ProjectDeployKeys.Delete(ctx, v.target.Workspace, v.target.Slug, v.project.ID)
	}
	if bbapi.IsNotFound(err) {
		return nil // already gone: the goal is reached
	}
	return err
}
