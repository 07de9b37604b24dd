// Package remove is `bbkey remove` (docs/remove.md): delete a key from Bitbucket, chosen
// by fingerprint, label, account key uuid or access key id, and with --everywhere also
// from the agent, bbkey's state and ssh config, retiring its files.
//
// Safety: a bare name only ever matches keys with a bbkey label; the last account key
// that works is kept unless --force; every lookup happens before the first deletion.
package remove

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bbkey/bbkey/agent"
	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/internal/accesskey"
	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/cmdutil"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/hostkeys"
	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/prompt"
	"github.com/bbkey/bbkey/internal/settings"
	"github.com/bbkey/bbkey/internal/sshconfig"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/internal/testhook"
)

// Options are the dependencies and flags of `bbkey remove`.
type Options struct {
	IO       *iostreams.IOStreams
	Prompter func() prompt.Prompter
	Now      func() time.Time
	Settings func() (settings.Settings, error)
	Paths    func() (settings.Paths, error)
	Agent    func() (agent.Agent, error)
	// Backend resolves the selected Bitbucket's credential (Cloud, or the Data Center
	// server of --server, BITBUCKET_SERVER, config.json) and builds its Backend.
	Backend func(context.Context) (backend.Backend, settings.ResolvedCredential, error)
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
		LookupEnv: f.LookupEnv,
		Backend: func(ctx context.Context) (backend.Backend, settings.ResolvedCredential, error) {
			return f.Backend(ctx)
		},
	}
	cmd := &cobra.Command{
		Use:   "remove KEY",
		Short: "Delete a key from Bitbucket (and with --everywhere from this machine)",
		Long: `Delete a key from Bitbucket. KEY is one of:

  SHA256:…         a fingerprint (as bbkey list and ssh-keygen -l print it)
  {uuid}           an account key's uuid (Cloud)
  123              an access key's id (with --repo or --project); on Data Center
                   without them, your own key's id
  LABEL            a key's whole label, e.g. bbkey:laptop:2026-11-22
  NAME             bbkey:NAME or NAME: the keys bbkey labelled bbkey:NAME:…

Account keys are looked for on your account (on Data Center, --server: your user's);
access keys on each --repo and --project and where bbkey's state records the key. A key
bbkey did not label is only removed when named exactly. Removing the last account key
that works is refused unless --force. Asks first on a terminal; --no-input needs --yes.
--everywhere also unloads it from the agent, forgets it in bbkey's state and ssh config,
and moves its files to ~/.ssh/bbkey/retired/ (your own key files stay).`,
		Example: `  bbkey remove SHA256:Qx3v…
  bbkey remove bbkey:old-laptop --yes
  bbkey remove ci-01 --repo acme/api --everywhere
  bbkey remove 42 --project acme/OPS
  bbkey remove bbkey:old-laptop --server https://bitbucket.example.com --yes`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 1 {
				return nil
			}
			return errkind.UsageError(fmt.Errorf("remove takes exactly one KEY, got %d", len(args)),
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
	fl.StringArrayVar(&opts.Repos, "repo", nil, "look for access keys on repository `WS/SLUG` (Data Center: PROJ/slug; repeatable)")
	fl.StringArrayVar(&opts.Projects, "project", nil, "look for access keys on project `WS/KEY` (Data Center: PROJ; repeatable)")
	fl.BoolVar(&opts.Everywhere, "everywhere", false, "also remove it from the agent and the ssh config, and move its files to ~/.ssh/bbkey/retired/")
	fl.BoolVar(&opts.Force, "force", false, "remove the last working account key anyway (git over SSH stops working)")
	fl.BoolVar(&opts.DryRun, "dry-run", false, "say what would be removed and change nothing")
	return cmd
}

func runRemove(ctx context.Context, opts *Options) error {
	sel, err := parseSelector(opts.Selector)
	if err != nil {
		return errkind.UsageError(err, "name the key by fingerprint (SHA256:…), label, {uuid}, or id with --repo/--project; bbkey list shows them")
	}
	s, err := opts.Settings()
	if err != nil {
		return err
	}
	onServer := s.Server != ""
	if sel.uuid != "" && onServer {
		return errkind.UsageError(fmt.Errorf("%s is a Bitbucket Cloud key uuid: keys on %s have numeric ids", sel.raw, s.Server), "bbkey list shows the ids, or name the key by fingerprint or label")
	}
	if sel.id != 0 && len(opts.Repos)+len(opts.Projects) == 0 && !onServer {
		return errkind.UsageError(fmt.Errorf("%s looks like an access key id: say where with --repo WS/SLUG or --project WS/KEY", sel.raw), noMatchHint(sel, 0, false))
	}
	// The places are read before the credential is looked for: a malformed --repo is
	// the mistake to report, logged in or not.
	places, err := accesskey.Spec{Repos: opts.Repos, Projects: opts.Projects}.Named(backend.PlaceParser(s.Server))
	if err != nil {
		return errkind.UsageError(err)
	}
	if opts.Everywhere && !onServer {
		// --everywhere ends by rewriting the ssh config and pins: a bad --ssh-host or
		// --ssh-host-keys must fail before the key is deleted anywhere.
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
	b, rc, err := opts.Backend(ctx)
	if err != nil {
		return err
	}
	server := b.Server()

	// Look everything up before changing anything.
	var victims []victim
	var acct *backend.Account
	var acctKeys []backend.Key
	// An access key id names an access key when places are given; on Data Center without
	// them it is the user's own key's id.
	lookAccount := sel.id == 0 || (onServer && len(places) == 0)
	if lookAccount && !(rc.Credential != nil && rc.Credential.Kind() == bbapi.KindAccessToken) {
		a, err := b.Whoami(ctx)
		if err != nil {
			return fmt.Errorf("reading the account on %s: %w", b.Describe(), err)
		}
		if !a.Service {
			acct = a
			if acctKeys, err = b.AccountKeys(ctx, a); err != nil {
				return fmt.Errorf("listing the account's SSH keys on %s: %w", b.Describe(), err)
			}
			for _, k := range acctKeys {
				if sel.matches(k, onServer) {
					victims = append(victims, victim{server: server, account: true, key: k})
				}
			}
		}
	}
	places = append(places, recorded(st, server, func(k *state.AccessKey) bool {
		return (sel.fingerprint != "" && bbapi.SameFingerprint(k.Fingerprint, sel.fingerprint)) || sel.matchLabel(k.Label)
	}, nil)...)
	access, err := findAccess(ctx, b, places, sel)
	if err != nil {
		return err
	}
	victims = append(victims, access...)
	var fp string
	if len(victims) == 0 && opts.Everywhere {
		// Gone from Bitbucket (an earlier remove took its last place): what bbkey made for
		// it on this machine still goes.
		if fp, err = localKey(st, b, p.SSHDir, sel); err != nil {
			return err
		}
	}
	if len(victims) == 0 && fp == "" {
		return errkind.WithHint(fmt.Errorf("no key matches %s on %s", sel.raw, b.Describe()), noMatchHint(sel, len(places), onServer))
	}
	fps := map[string]bool{}
	var lines []string
	for _, v := range victims {
		fps[v.key.Fingerprint] = true
		lines = append(lines, v.describe())
	}
	if len(fps) > 1 {
		return errkind.UsageError(fmt.Errorf("%s matches %d different keys: %s", sel.raw, len(fps), strings.Join(lines, "; ")),
			"name one by its fingerprint (SHA256:…)"+map[bool]string{true: "", false: " or uuid"}[onServer])
	}
	if len(victims) > 0 {
		fp = victims[0].key.Fingerprint
	}
	// With --everywhere, the key goes from every place the state records for it on this
	// Bitbucket.
	if opts.Everywhere {
		more, err := findAccess(ctx, b, recorded(st, server, func(k *state.AccessKey) bool { return bbapi.SameFingerprint(k.Fingerprint, fp) }, victims), selector{fingerprint: fp})
		if err != nil {
			return err
		}
		victims = append(victims, more...)
	}

	if err := refuseLastKey(opts, p.SSHDir, acctKeys, victims); err != nil {
		return err
	}

	plan := localPlan(opts, p, st, server, fp)
	if opts.DryRun {
		if err := plan.apply(ctx, opts, p, sdir, server, victims, true); err != nil {
			return err
		}
		return report(opts, victims, plan, true)
	}
	if !opts.Yes {
		what := fmt.Sprintf("key %s from this machine (it is on no place of %s)", fp, b.Describe())
		if len(victims) == 1 {
			what = victims[0].describe()
		} else if len(victims) > 1 {
			what = fmt.Sprintf("key %s from %d places", fp, len(victims))
		}
		if opts.NoInput {
			return errkind.UsageError(fmt.Errorf("removing %s needs confirmation: nothing changed", what), "re-run with --yes to remove it")
		}
		for _, l := range plan.describe() {
			fmt.Fprintf(opts.IO.ErrOut, "  - %s\n", l)
		}
		ok, err := opts.Prompter().Confirm(fmt.Sprintf("Remove %s?", what), false)
		if err != nil {
			return errkind.CancelError(fmt.Errorf("confirming the removal: %w", err))
		}
		if !ok {
			return errkind.CancelError(errors.New("cancelled: nothing changed"))
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
		if err := deleteVictim(ctx, b, acct, v); err != nil {
			opts.IO.Step(iostreams.MarkFail, "Could not remove %s: %v", v.describe(), err)
			_ = report(opts, done, local{}, false)
			if len(done) > 0 {
				return errkind.PartialError(fmt.Errorf("removed %d of %d: %w", len(done), len(victims), err))
			}
			return err
		}
		done = append(done, v)
		opts.IO.Step(iostreams.MarkOK, "Removed %s", v.describe())
	}
	err = plan.apply(ctx, opts, p, sdir, server, done, false)
	return errors.Join(report(opts, done, plan, false), err)
}
