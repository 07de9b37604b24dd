// Package rotate is `bbkey rotate`: it replaces the account key (default) or this
// machine's access keys (--access-keys) with fresh ones, each uploaded and proven over
// SSH before its predecessor is revoked, and installs, removes and reports the timer
// that does so unattended (--schedule, --unschedule, --status). The engine, with the
// order of the steps and why, lives in internal/rotate; the timers in internal/schedule.
//
// Terminal contract: one ✓ / ! / ✗ line per step on stderr; on stdout a table of what
// happened to each key (or with --json one document, its shape in docs/rotate.md).
// Rotation never asks "are you sure": running it is the consent, and it must run from a
// timer. The only question is the new keys' passphrase, which --passphrase-file,
// BBKEY_PASSPHRASE, the keychain entry --schedule stores, or --no-passphrase answer;
// without a terminal a missing answer fails before anything is written.
package rotate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bbkey/bbkey/internal/errkind"
	engine "github.com/bbkey/bbkey/internal/rotate"
	"github.com/bbkey/bbkey/internal/settings"

	"github.com/bbkey/bbkey/agent"
	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/cmdutil"
	"github.com/bbkey/bbkey/internal/credstore"
	"github.com/bbkey/bbkey/internal/gitrun"
	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/keylabel"
	"github.com/bbkey/bbkey/internal/prompt"
	"github.com/bbkey/bbkey/internal/schedule"
	"github.com/bbkey/bbkey/internal/secret"
)

// Options are the dependencies and flags of `bbkey rotate`.
type Options struct {
	IO        *iostreams.IOStreams
	LookupEnv func(string) (string, bool)
	Prompter  func() prompt.Prompter
	Now       func() time.Time
	Settings  func() (settings.Settings, error)
	Paths     func() (settings.Paths, error)
	Hostname  func() (string, error)
	Agent     func() (agent.Agent, error)
	CredStore func(ctx context.Context, allowInsecure bool) (credstore.Store, error)
	// APIClient resolves the credential and builds the client (Factory.APIClient).
	APIClient func(context.Context) (*bbapi.Client, settings.ResolvedCredential, error)
	// DataCenter reaches a Data Center server a key is on, with that server's token.
	DataCenter func(ctx context.Context, server string) (backend.Backend, error)
	// Git runs git with extra environment, for the access-key ls-remote proof.
	Git func(env []string) gitrun.Runner
	// Executable is the path of this bbkey, for the scheduled job (os.Executable).
	Executable func() (string, error)
	// Scheduler returns the installer of the OS timer (nil: detect it and run the real
	// systemctl, launchctl, schtasks or crontab).
	Scheduler func(ctx context.Context, p settings.Paths) (*schedule.Installer, error)

	JSON    bool
	Debug   bool
	NoInput bool

	AccessKeys     bool
	IfOlderThan    string
	Schedule       string
	Unschedule     bool
	Status         bool
	KeepRetired    string
	PassphraseFile string
	NoPassphrase   bool
	Name           string
	DryRun         bool
}

// NewCmdRotate builds `bbkey rotate`. runF replaces runRotate in tests.
func NewCmdRotate(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{
		IO:        f.IOStreams,
		LookupEnv: f.LookupEnv,
		Prompter:  f.Prompter,
		Now:       f.Now,
		Settings:  f.Settings,
		Paths:     f.Paths,
		Hostname:  f.Hostname,
		Agent:     f.Agent,
		CredStore: f.CredStore,
		APIClient: f.APIClient,
		DataCenter: func(ctx context.Context, server string) (backend.Backend, error) {
			b, _, err := f.BackendFor(ctx, server)
			return b, err
		},
		Git:        func(env []string) gitrun.Runner { return gitrun.Exec{Env: env} },
		Executable: os.Executable,
	}
	cmd := &cobra.Command{
		Use:   "rotate",
		Short: "Replace keys with fresh ones, proving each before revoking the old one",
		Long: `Replace the account key (default) or this machine's access keys (--access-keys) with fresh
ones. One line per step:

  decide        rotate when the key is older than --if-older-than (by hand: always;
                from the timer: 90d); its age comes from its label, Bitbucket, the state
  generate      the successor, beside the old key, with the same passphrase source
  upload        to the account, or to every repository and project the old key is on
  prove         an SSH handshake with the new key alone (access keys: and git ls-remote
                on one of their repositories); if that fails the new key is deleted
                again and rotate exits 5: the old key still works
  switch        ssh-agent, the ssh config and the state move to the new key; the old
                key files go to ~/.ssh/bbkey/retired/
  revoke        the old key is deleted on Bitbucket; if it cannot be yet, rotate exits 3
                and the next run finishes the revoke instead of rotating again
  retire        retired key files older than --keep-retired are deleted

Keys on a Bitbucket Data Center server (setup --server, add-access-key --server) are
rotated on that server with its own token (BITBUCKET_SERVER_TOKEN, --token-file, or the
keychain entry of 'bbkey auth login --server URL'); an access key keeps its read or write
permission on each repository and project, and old keys are deleted by id only.

A journal in the config directory records each step; a run that finds an unfinished
rotation finishes it (after the proof) or rolls it back (before it) first. Two rotations
never run at once: the second stops with a message.

--schedule daily|weekly|monthly installs a systemd user timer (Linux), a launchd agent
(macOS), a Task Scheduler task (Windows) or a crontab line (no systemd) that runs
'bbkey rotate --if-older-than 90d --no-input' and logs to rotate.log in the config
directory; the job's passphrase comes from --passphrase-file, or is kept in the keychain
now. --unschedule removes it; --status shows the schedule, the last scheduled run and
when each key is due.`,
		Example: `  bbkey rotate
  bbkey rotate --access-keys --if-older-than 90d --passphrase-file ~/.bbkey-pass
  bbkey rotate --schedule weekly --passphrase-file ~/.bbkey-pass
  bbkey rotate --access-keys --schedule monthly
  bbkey rotate --status --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.JSON = f.Globals.JSON
			opts.Debug = f.Globals.Debug
			opts.NoInput = f.NoInput()
			if runF != nil {
				return runF(opts)
			}
			return runRotate(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&opts.AccessKeys, "access-keys", false, "rotate this machine's access keys instead of the account key")
	fl.StringVar(&opts.IfOlderThan, "if-older-than", "", "only rotate keys older than `AGE` (e.g. 90d; default: always by hand, 90d from the timer)")
	fl.StringVar(&opts.Schedule, "schedule", "", "install a timer that rotates `daily|weekly|monthly`")
	fl.BoolVar(&opts.Unschedule, "unschedule", false, "remove the timer")
	fl.BoolVar(&opts.Status, "status", false, "show the schedule, the last run and when keys are due")
	fl.StringVar(&opts.KeepRetired, "keep-retired", "", "delete retired key files after `DAYS` (default 30; 0: at once)")
	fl.StringVar(&opts.PassphraseFile, "passphrase-file", "", "read the new keys' passphrase from `FILE` (env BBKEY_PASSPHRASE)")
	fl.BoolVar(&opts.NoPassphrase, "no-passphrase", false, "write the new private keys unencrypted (not recommended)")
	fl.StringVar(&opts.Name, "name", "", "rotate only the key called `NAME`")
	fl.BoolVar(&opts.DryRun, "dry-run", false, "say what would be done and change nothing")
	cmd.MarkFlagsMutuallyExclusive("schedule", "unschedule", "status")
	cmd.MarkFlagsMutuallyExclusive("passphrase-file", "no-passphrase")
	return cmd
}

// flags are the parsed flag values.
type flags struct {
	ifOlderThan time.Duration
	ageGiven    bool
	keepRetired time.Duration
	frequency   schedule.Frequency
}

func parseFlags(opts *Options) (flags, error) {
	var fl flags
	if err := (secret.Source{File: opts.PassphraseFile, NoPassphrase: opts.NoPassphrase}).Check(); err != nil {
		return fl, err
	}
	if opts.Name != "" {
		if err := keylabel.ValidName(opts.Name); err != nil {
			return fl, errkind.UsageError(fmt.Errorf("--name: %w", err))
		}
	}
	if opts.IfOlderThan != "" {
		d, err := keylabel.ParseDuration(opts.IfOlderThan)
		if err != nil || d <= 0 {
			return fl, errkind.UsageError(fmt.Errorf("--if-older-than %q: want a positive age such as 90d or 12w", opts.IfOlderThan),
				"ages are days (90d), weeks (12w) or Go durations (36h); Atlassian recommends replacing keys at least once a year")
		}
		fl.ifOlderThan, fl.ageGiven = d, true
	}
	fl.keepRetired = engine.DefaultKeepRetired
	if opts.KeepRetired != "" {
		d, err := parseDays(opts.KeepRetired)
		if err != nil {
			return fl, errkind.UsageError(fmt.Errorf("--keep-retired %q: want a number of days (30) or an age (30d, 4w)", opts.KeepRetired))
		}
		fl.keepRetired = d
	}
	if opts.Schedule != "" {
		fr, err := schedule.ParseFrequency(opts.Schedule)
		if err != nil {
			return fl, errkind.UsageError(fmt.Errorf("--schedule: %w", err))
		}
		fl.frequency = fr
		if opts.Name != "" {
			return fl, errkind.UsageError(errors.New("--name cannot be used with --schedule: the timer rotates every key of its kind"))
		}
	}
	return fl, nil
}

// parseDays reads --keep-retired: a bare number of days, or an age keylabel reads.
func parseDays(s string) (time.Duration, error) {
	if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
		if n < 0 {
			return 0, errors.New("negative")
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := keylabel.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, errors.New("invalid")
	}
	return d, nil
}

func runRotate(ctx context.Context, opts *Options) error {
	fl, err := parseFlags(opts)
	if err != nil {
		return err
	}
	switch {
	case opts.Status:
		return runStatus(ctx, opts, fl)
	case opts.Schedule != "":
		return runSchedule(ctx, opts, fl)
	case opts.Unschedule:
		return runUnschedule(ctx, opts)
	}
	return runRotation(ctx, opts, fl)
}
