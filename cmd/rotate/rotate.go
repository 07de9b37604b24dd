// Package rotate is `bbkey rotate`: it replaces the account key (default) or this
// machine's access keys (--access-keys) through the engine in internal/rotate, and
// installs, removes and reports the timer that does so unattended (--schedule,
// --unschedule, --status; the timers are internal/schedule). Rotation never asks "are
// you sure": running it is the consent, and it must run from a timer.
package rotate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bbkey/bbkey/internal/errkind"
	engine "github.com/bbkey/bbkey/internal/rotate"
	"github.com/bbkey/bbkey/internal/settings"

	"github.com/bbkey/bbkey/internal/cmdutil"
	"github.com/bbkey/bbkey/internal/keylabel"
	"github.com/bbkey/bbkey/internal/schedule"
	"github.com/bbkey/bbkey/internal/secret"
)

// Options are the Factory and the flags of `bbkey rotate`.
type Options struct {
	*cmdutil.Factory
	// Executable is the path of this bbkey, for the scheduled job (jobExecutable).
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
	opts := &Options{Factory: f, Executable: jobExecutable}
	cmd := &cobra.Command{
		Use:   "rotate",
		Short: "Replace keys with fresh ones, proving each before revoking the old one",
		Long: `Replace the account key (default) or this machine's access keys (--access-keys) with
fresh ones, one line per step: decide (older than --if-older-than: by hand always, from
the timer 90d), generate, upload (to the account, or every repository and project the old
key is on), prove (an SSH handshake with the new key alone, and git ls-remote for access
keys; if it fails the new key is deleted again and rotate exits 5), switch (agent, ssh
config, state; old key files to ~/.ssh/bbkey/retired/), revoke (exit 3 if it cannot be
yet: the next run finishes it), retire (files older than --keep-retired). Keys on a Data
Center server are rotated there with that server's token.

A journal records each step: a run first finishes (after the proof) or rolls back (before
it) an unfinished rotation. Two rotations never run at once.

--schedule daily|weekly|monthly installs a systemd user timer, a launchd agent, a Task
Scheduler task or a crontab line running 'bbkey rotate --if-older-than 90d --no-input',
logging to rotate.log in the config directory; its passphrase comes from
--passphrase-file, or is kept in the keychain now. --unschedule removes it; --status shows
the schedule, the last runs and when each key is due.`,
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
		if err != nil {
			return fl, errkind.UsageError(fmt.Errorf("--if-older-than %q: want a positive age such as 90d or 12w", opts.IfOlderThan),
				"ages are days (90d), weeks (12w) or Go durations (36h); Atlassian recommends replacing keys at least once a year")
		}
		fl.ifOlderThan, fl.ageGiven = d, true
	}
	// --keep-retired is a bare number of days, or an age.
	fl.keepRetired = engine.DefaultKeepRetired
	if n, err := strconv.Atoi(strings.TrimSpace(opts.KeepRetired)); err == nil && n >= 0 {
		fl.keepRetired = time.Duration(n) * 24 * time.Hour
	} else if opts.KeepRetired != "" {
		if fl.keepRetired, err = keylabel.ParseDuration(opts.KeepRetired); err != nil {
			return fl, errkind.UsageError(fmt.Errorf("--keep-retired %q: want a number of days (30) or an age (30d, 4w)", opts.KeepRetired),
				"e.g. --keep-retired 30 (the default) or --keep-retired 4w; --keep-retired 0 deletes retired key files once the old key is revoked")
		}
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

// jobExecutable is os.Executable, except that a bbkey started through a symlink on PATH
// (Homebrew's bin, a nix profile) is named by that link: on Linux os.Executable resolves
// it to the versioned file behind it, which the next upgrade deletes with the timer's job.
func jobExecutable() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	link, err := exec.LookPath(os.Args[0])
	if err != nil {
		return exe, nil
	}
	if link, err = filepath.Abs(link); err != nil || link == exe {
		return exe, nil
	}
	a, errA := os.Stat(link)
	b, errB := os.Stat(exe)
	if errA == nil && errB == nil && os.SameFile(a, b) {
		return link, nil
	}
	return exe, nil
}
