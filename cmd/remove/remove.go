// Package remove is `bbkey remove`: delete a key from Bitbucket, chosen by fingerprint
// (SHA256:…), label, account key uuid ({…}) or access key id (with --repo / --project),
// and with --everywhere also from the agent, bbkey's state and ssh config, moving its files
// to ~/.ssh/bbkey/retired/.
//
// Safety: a bare name (bbkey:<name>, or <name>) only ever matches keys with a bbkey
// label; other keys are touched only when named exactly (fingerprint, uuid, id or their
// whole label). Removing the last account key that works (on this machine, or at all)
// is refused, even with --yes, because git over SSH would stop working; --force
// overrides. On a terminal it asks first; with --no-input it needs --yes and otherwise
// exits 2 before anything changes. Every Bitbucket lookup happens before the first
// deletion.
//
// Terminal contract: one ✓ / ✗ line per step on stderr; with --json one document on
// stdout:
//
//	{
//	  "dry_run": false,
//	  "removed": [{                          // keys deleted on Bitbucket (or to delete)
//	    "kind": "account",                   // or "access"
//	    "fingerprint": "SHA256:…",
//	    "label": "bbkey:ada:2026-11-22",
//	    "id": "{uuid}",                      // account key uuid, or access key id
//	    "target": "",                        // access keys: "acme/api" or "acme/OPS"
//	    "target_kind": ""                    // access keys: "repo" or "project"
//	  }],
//	  "agent_removed": ["SHA256:…"],         // --everywhere
//	  "files_moved": [{"from": "…", "to": "…"}],
//	  "changed_files": ["…"]                 // state, ssh config, moved files (a dry run: would be)
//	}
package remove

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/bbkey/bbkey/agent"
	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/internal/cmdutil"
	"github.com/bbkey/bbkey/internal/fsutil"
	"github.com/bbkey/bbkey/internal/hostkeys"
	"github.com/bbkey/bbkey/internal/identity"
	"github.com/bbkey/bbkey/internal/inventory"
	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/keylabel"
	"github.com/bbkey/bbkey/internal/prompt"
	"github.com/bbkey/bbkey/internal/sshconfig"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/internal/testhook"
	"github.com/bbkey/bbkey/keys"
)

// RetiredDir is where --everywhere moves key files, inside bbkey's ssh directory.
const RetiredDir = "retired"

// Options are the dependencies and flags of `bbkey remove`.
type Options struct {
	IO        *iostreams.IOStreams
	Prompter  func() prompt.Prompter
	Now       func() time.Time
	Settings  func() (cmdutil.Settings, error)
	Paths     func() (cmdutil.Paths, error)
	Agent     func() (agent.Agent, error)
	Resolve   func(context.Context) (cmdutil.ResolvedCredential, error)
	NewClient func(bbapi.Credential) (*bbapi.Client, error)
	// LookupEnv reads BBKEY_LOCK_WAIT (nil: none set).
	LookupEnv func(string) (string, bool)

	JSON    bool
	Yes     bool
	NoInput bool

	Selector   string
	Repos      []string
	Projects   []string
	Everywhere bool
	Force      bool
	DryRun     bool
}

// NewCmdRemove builds `bbkey remove`. runF replaces runRemove in tests.
func NewCmdRemove(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{
		IO:        f.IOStreams,
		Prompter:  f.Prompter,
		Now:       f.Now,
		Settings:  f.Settings,
		Paths:     f.Paths,
		Agent:     f.Agent,
		Resolve:   f.ResolveCredential,
		LookupEnv: f.LookupEnv,
		NewClient: func(c bbapi.Credential) (*bbapi.Client, error) {
			return f.NewAPIClient(c)
		},
	}
	cmd := &cobra.Command{
		Use:   "remove KEY",
		Short: "Delete a key from Bitbucket (and with --everywhere from this machine)",
		Long: `Delete a key from Bitbucket. KEY is one of:

  SHA256:…         a fingerprint (as bbkey list and ssh-keygen -l print it)
  {uuid}           an account key's uuid
  123              an access key's id (with --repo or --project)
  LABEL            a key's whole label, e.g. bbkey:laptop:2026-11-22
  NAME             bbkey:NAME or NAME: the keys bbkey labelled bbkey:NAME:…

Account keys are looked for on your account; access keys on each --repo and --project,
and on the targets bbkey's state records for the key. A key bbkey did not label is only
removed when named exactly (fingerprint, uuid, id or whole label).

--everywhere also unloads the key from the agent, forgets it in bbkey's state, rewrites
the ssh config without it, and moves its files to ~/.ssh/bbkey/retired/ (a key file
bbkey did not name, such as one given to setup --key, stays where it is).

Removing the last account key that works here (or the account's last key) is refused,
as git over SSH would stop working, unless --force. Asks first on a terminal; with
--no-input it needs --yes.`,
		Example: `  bbkey remove SHA256:Qx3v…
  bbkey remove bbkey:old-laptop --yes
  bbkey remove ci-01 --repo acme/api --everywhere
  bbkey remove 42 --project acme/OPS`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 1 {
				return nil
			}
			return cmdutil.UsageError(fmt.Errorf("remove takes exactly one KEY, got %d", len(args)),
				"name the key by fingerprint (SHA256:…), uuid, access key id, label or bbkey name; bbkey list shows them")
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Selector = args[0]
			opts.JSON = f.Globals.JSON
			opts.Yes = f.Globals.Yes
			opts.NoInput = f.NoInput()
			if runF != nil {
				return runF(opts)
			}
			return runRemove(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&opts.Repos, "repo", nil, "look for access keys on repository `WS/SLUG` (repeatable)")
	fl.StringArrayVar(&opts.Projects, "project", nil, "look for access keys on project `WS/KEY` (repeatable)")
	fl.BoolVar(&opts.Everywhere, "everywhere", false, "also remove it from the agent and the ssh config, and move its files to ~/.ssh/bbkey/retired/")
	fl.BoolVar(&opts.Force, "force", false, "remove the last working account key anyway (git over SSH stops working)")
	fl.BoolVar(&opts.DryRun, "dry-run", false, "say what would be removed and change nothing")
	return cmd
}

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

func runRemove(ctx context.Context, opts *Options) error {
	sel, err := parseSelector(opts.Selector)
	if err != nil {
		return cmdutil.UsageError(err, "name the key by fingerprint (SHA256:…), label, {uuid}, or id with --repo/--project; bbkey list shows them")
	}
	var targets []state.Target
	for _, r := range opts.Repos {
		t, err := state.ParseTarget(state.TargetRepo, r)
		if err != nil {
			return cmdutil.UsageError(fmt.Errorf("--repo: %w", err))
		}
		targets = append(targets, t)
	}
	for _, p := range opts.Projects {
		t, err := state.ParseTarget(state.TargetProject, p)
		if err != nil {
			return cmdutil.UsageError(fmt.Errorf("--project: %w", err))
		}
		targets = append(targets, t)
	}
	if sel.id != 0 && len(targets) == 0 {
		return cmdutil.UsageError(fmt.Errorf("%s looks like an access key id: say where with --repo WS/SLUG or --project WS/KEY", sel.raw))
	}
	if opts.Everywhere {
		// --everywhere ends by rewriting the ssh config and pins: a bad --ssh-host or
		// --ssh-host-keys must fail before the key is deleted anywhere.
		s, err := opts.Settings()
		if err != nil {
			return err
		}
		if _, err := hostkeys.Pinned(s); err != nil {
			return err
		}
	}
	p, err := opts.Paths()
	if err != nil {
		return err
	}
	sdir := state.Dir{Path: p.ConfigDir, Now: opts.Now}
	if !opts.DryRun {
		// The writers' lock comes before the state is read and is held until the last
		// write, so a rotation cannot replace the key between the look-up and the delete.
		lock, err := sdir.LockCommand(ctx, "remove", opts.LookupEnv, opts.IO.ErrOut)
		if err != nil {
			return err
		}
		defer lock.Unlock()
	}
	st, err := sdir.Load()
	if err != nil {
		return err
	}
	rc, err := opts.Resolve(ctx)
	if err != nil {
		return err
	}
	client, err := opts.NewClient(rc.Credential)
	if err != nil {
		return err
	}

	// Look everything up before changing anything.
	var victims []victim
	var acctKeys []*bbapi.SSHKey
	if sel.id == 0 && rc.Credential.Kind() != bbapi.KindAccessToken {
		u, _, err := client.Users.Current(ctx)
		if err != nil {
			return fmt.Errorf("reading the Bitbucket account: %w", err)
		}
		for k, err := range client.SSHKeys.List(ctx, u.UUID) {
			if err != nil {
				return fmt.Errorf("listing the account's SSH keys: %w", err)
			}
			acctKeys = append(acctKeys, k)
			fp := k.SHA256()
			if fp == sel.fingerprint || (sel.uuid != "" && strings.EqualFold(k.UUID, sel.uuid)) || sel.matchLabel(k.Label) {
				victims = append(victims, victim{kind: "account", fingerprint: fp, label: k.Label, id: k.UUID, account: k})
			}
		}
	}
	targets = append(targets, stateTargets(st, sel)...)
	access, err := findAccess(ctx, client, dedupeTargets(targets), sel)
	if err != nil {
		return err
	}
	victims = append(victims, access...)
	if len(victims) == 0 {
		return cmdutil.WithHint(fmt.Errorf("no key matches %s", sel.raw), noMatchHint(sel, len(targets)))
	}
	fps := map[string]bool{}
	for _, v := range victims {
		fps[v.fingerprint] = true
	}
	if len(fps) > 1 {
		var lines []string
		for _, v := range victims {
			lines = append(lines, v.describe())
		}
		return cmdutil.UsageError(fmt.Errorf("%s matches %d different keys: %s", sel.raw, len(fps), strings.Join(lines, "; ")),
			"name one by its fingerprint (SHA256:…) or uuid")
	}
	fp := victims[0].fingerprint
	// With --everywhere, an access key goes from every target the state records for it.
	if opts.Everywhere && victims[0].kind == "access" {
		more, err := findAccess(ctx, client, missingTargets(st, fp, victims), selector{fingerprint: fp})
		if err != nil {
			return err
		}
		victims = append(victims, more...)
	}

	if err := refuseLastKey(opts, p.SSHDir, acctKeys, victims); err != nil {
		return err
	}

	plan := localPlan(opts, p, st, fp, victims)
	if opts.DryRun {
		res, err := previewLocal(ctx, opts, p, sdir, plan, victims)
		if err != nil {
			return err
		}
		return report(opts, victims, plan, &res, true)
	}
	if !opts.Yes {
		what := describeAll(victims)
		if opts.NoInput {
			return cmdutil.UsageError(fmt.Errorf("removing %s needs confirmation: nothing changed", what), "re-run with --yes to remove it")
		}
		for _, l := range plan.describe() {
			fmt.Fprintf(opts.IO.ErrOut, "  - %s\n", l)
		}
		ok, err := opts.Prompter().Confirm(fmt.Sprintf("Remove %s?", what), false)
		if err != nil {
			return cmdutil.CancelError(fmt.Errorf("confirming the removal: %w", err))
		}
		if !ok {
			return cmdutil.CancelError(errors.New("cancelled: nothing changed"))
		}
	}

	if opts.Everywhere {
		// --everywhere ends by rewriting bbkey's ssh config: a hand edit that would stop
		// it there stops it before any key is deleted.
		if err := sshconfig.Check(p.SSHDir); err != nil {
			return err
		}
	}
	testhook.Pause(ctx, opts.LookupEnv, "remove:planned")
	var done []victim
	for _, v := range victims {
		if err := deleteVictim(ctx, client, v); err != nil {
			opts.IO.Step(iostreams.MarkFail, "Could not remove %s: %v", v.describe(), err)
			_ = report(opts, done, local{}, nil, false)
			if len(done) > 0 {
				return cmdutil.PartialError(fmt.Errorf("removed %d of %d: %w", len(done), len(victims), err))
			}
			return err
		}
		done = append(done, v)
		opts.IO.Step(iostreams.MarkOK, "Removed %s", v.describe())
	}
	res, err := applyLocal(ctx, opts, p, sdir, plan, done)
	return errors.Join(report(opts, done, plan, &res, false), err)
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
}

func (l local) describe() []string {
	var out []string
	if !l.everywhere {
		return out
	}
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

func localPlan(opts *Options, p cmdutil.Paths, st *state.State, fp string, victims []victim) local {
	// The stamp is named as rotate names its retired pairs (time, then a digest of the
	// key), so two keys of one name removed in the same second do not collide and
	// rotate's pruning of old retired pairs covers these too.
	sum := sha256.Sum256([]byte(fp))
	l := local{everywhere: opts.Everywhere, fp: fp, retiredDir: filepath.Join(p.BbkeyDir(), RetiredDir),
		stamp: opts.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(sum[:4])}
	if !opts.Everywhere {
		return l
	}
	if a, err := opts.Agent(); err == nil {
		l.agent = a
		l.inAgent, _ = a.Has(fp)
	}
	// An access key still added elsewhere keeps its file.
	keep := false
	for _, k := range st.AccessKeys {
		if bbapi.SameFingerprint(k.Fingerprint, fp) {
			for _, t := range k.Targets {
				if victims != nil && !slices.ContainsFunc(victims, func(v victim) bool { return v.kind == "access" && v.target.Same(t) }) {
					keep = true
				}
			}
		}
	}
	if keep {
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

type localResult struct {
	agentRemoved bool
	moved        [][2]string
	changed      []string
}

// applyLocal updates the state for what was removed and, with --everywhere, unloads the
// key, rewrites the ssh config and retires its files.
func applyLocal(ctx context.Context, opts *Options, p cmdutil.Paths, sdir state.Dir, l local, done []victim) (localResult, error) {
	var res localResult
	var errs []error
	stateChanged := false
	err := sdir.Update(ctx, func(st *state.State) error {
		if stateChanged = forget(st, l, done); !stateChanged {
			return errNoChange
		}
		return nil
	})
	if err != nil && !errors.Is(err, errNoChange) {
		errs = append(errs, fmt.Errorf("updating bbkey's state: %w", err))
	} else if stateChanged {
		res.changed = append(res.changed, filepath.Join(p.ConfigDir, state.StateFile))
	}
	if !l.everywhere {
		return res, errors.Join(errs...)
	}
	if l.inAgent && l.agent != nil {
		if err := l.agent.Remove(l.fp); err != nil && !errors.Is(err, agent.ErrNotLoaded) {
			errs = append(errs, fmt.Errorf("unloading the key from the agent: %w", err))
		} else {
			res.agentRemoved = true
			opts.IO.Step(iostreams.MarkOK, "Unloaded %s from the agent", l.fp)
		}
	}
	if stateChanged {
		s, err := opts.Settings()
		if err == nil {
			st, lerr := sdir.Load()
			if lerr != nil {
				err = lerr
			} else {
				var sr identity.Result
				sr, err = identity.Sync(ctx, s, p.SSHDir, st, false)
				res.changed = append(res.changed, sr.ChangedFiles...)
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("rewriting the ssh config: %w", err))
		} else {
			opts.IO.Step(iostreams.MarkOK, "Rewrote the ssh config without it")
		}
	}
	for _, f := range l.files {
		moved, err := retire(f, l.retiredDir, l.stamp)
		res.moved = append(res.moved, moved...)
		for _, m := range moved {
			res.changed = append(res.changed, m[0], m[1])
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		opts.IO.Step(iostreams.MarkOK, "Moved %s to %s", f, l.retiredDir)
	}
	for _, f := range l.kept {
		opts.IO.Step(iostreams.MarkOK, "Kept %s where it is: your own key file (given to setup with --key), used by other hosts too", f)
	}
	return res, errors.Join(errs...)
}

var errNoChange = errors.New("no change")

// forget drops from st the targets removed (done) and, with --everywhere, the key itself;
// it reports whether st changed.
func forget(st *state.State, l local, done []victim) bool {
	changed := false
	for name, a := range st.AccessKeys {
		for _, v := range done {
			if v.kind == "access" && bbapi.SameFingerprint(a.Fingerprint, v.fingerprint) && a.RemoveTarget(v.target) {
				changed = true
			}
		}
		if l.everywhere && bbapi.SameFingerprint(a.Fingerprint, l.fp) && len(a.Targets) == 0 {
			delete(st.AccessKeys, name)
			changed = true
		}
	}
	if l.everywhere {
		for name, a := range st.Accounts {
			if bbapi.SameFingerprint(a.Fingerprint, l.fp) {
				delete(st.Accounts, name)
				changed = true
			}
		}
	}
	return changed
}

// previewLocal is applyLocal without its effects, for --dry-run: what the state, the
// agent, the ssh config and the key files would go through if every victim were removed.
func previewLocal(ctx context.Context, opts *Options, p cmdutil.Paths, sdir state.Dir, l local, victims []victim) (localResult, error) {
	var res localResult
	st, err := sdir.Load()
	if err != nil {
		return res, err
	}
	// A deep copy: forget edits access keys' target lists in place.
	b, err := json.Marshal(st)
	if err != nil {
		return res, err
	}
	var next state.State
	if err := json.Unmarshal(b, &next); err != nil {
		return res, err
	}
	if forget(&next, l, victims) {
		res.changed = append(res.changed, filepath.Join(p.ConfigDir, state.StateFile))
		if l.everywhere {
			s, err := opts.Settings()
			if err != nil {
				return res, err
			}
			sr, err := identity.Sync(ctx, s, p.SSHDir, &next, true)
			if err != nil {
				return res, fmt.Errorf("working out the ssh config: %w", err)
			}
			res.changed = append(res.changed, sr.ChangedFiles...)
		}
	}
	if !l.everywhere {
		return res, nil
	}
	res.agentRemoved = l.inAgent && l.agent != nil
	for _, f := range l.files {
		for _, src := range []string{f, f + keys.PublicSuffix} {
			if _, err := os.Lstat(src); err != nil {
				continue
			}
			dst := filepath.Join(l.retiredDir, filepath.Base(src)+"."+l.stamp)
			res.moved = append(res.moved, [2]string{src, dst})
			res.changed = append(res.changed, src, dst)
		}
	}
	return res, nil
}

// retire moves a key pair into dir as <name>.<stamp> (and <name>.pub.<stamp>), never
// over an existing file.
func retire(priv, dir, stamp string) ([][2]string, error) {
	if err := fsutil.MkdirPrivate(dir); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	var moved [][2]string
	for _, src := range []string{priv, priv + keys.PublicSuffix} {
		if _, err := os.Lstat(src); err != nil {
			continue
		}
		dst := filepath.Join(dir, filepath.Base(src)+"."+stamp)
		if err := moveNoClobber(src, dst); err != nil {
			return moved, fmt.Errorf("moving %s to %s: %w", src, dir, err)
		}
		moved = append(moved, [2]string{src, dst})
	}
	return moved, nil
}

// moveNoClobber renames src to dst unless dst exists: a hard link makes the check and the
// move one step where the file system allows it.
func moveNoClobber(src, dst string) error {
	if err := os.Link(src, dst); err == nil {
		return os.Remove(src)
	} else if errors.Is(err, os.ErrExist) {
		return err
	}
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("%s exists", dst)
	}
	return os.Rename(src, dst)
}

type jsonVictim struct {
	Kind        string `json:"kind"`
	Fingerprint string `json:"fingerprint"`
	Label       string `json:"label"`
	ID          string `json:"id"`
	Target      string `json:"target"`
	TargetKind  string `json:"target_kind"`
}

type jsonMove struct {
	From string `json:"from"`
	To   string `json:"to"`
}

type jsonDoc struct {
	DryRun       bool         `json:"dry_run"`
	Removed      []jsonVictim `json:"removed"`
	AgentRemoved []string     `json:"agent_removed"`
	FilesMoved   []jsonMove   `json:"files_moved"`
	ChangedFiles []string     `json:"changed_files"`
}

func report(opts *Options, vs []victim, l local, res *localResult, dryRun bool) error {
	if dryRun && !opts.JSON {
		for _, v := range vs {
			opts.IO.Step(iostreams.MarkWarn, "Would remove %s", v.describe())
		}
		for _, d := range l.describe() {
			opts.IO.Step(iostreams.MarkWarn, "Would %s", d)
		}
		opts.IO.Step(iostreams.MarkWarn, "Dry run: nothing changed")
	}
	if !opts.JSON {
		return nil
	}
	doc := jsonDoc{DryRun: dryRun, Removed: []jsonVictim{}, AgentRemoved: []string{}, FilesMoved: []jsonMove{}, ChangedFiles: []string{}}
	for _, v := range vs {
		jv := jsonVictim{Kind: v.kind, Fingerprint: v.fingerprint, Label: v.label, ID: v.id}
		if v.kind == "access" {
			jv.Target, jv.TargetKind = v.target.Ref(), string(v.target.Kind)
		}
		doc.Removed = append(doc.Removed, jv)
	}
	if res != nil {
		if res.agentRemoved {
			doc.AgentRemoved = append(doc.AgentRemoved, l.fp)
		}
		for _, m := range res.moved {
			doc.FilesMoved = append(doc.FilesMoved, jsonMove{From: m[0], To: m[1]})
		}
		doc.ChangedFiles = append(doc.ChangedFiles, res.changed...)
	}
	enc := json.NewEncoder(opts.IO.Out)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}
