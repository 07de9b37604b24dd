// Package doctor is `bbkey doctor`: it runs the checks of internal/doctor and prints one
// line per check (✓ passed, ! warning, ✗ failed, - skipped) with each problem's cause and
// fix to stdout, or the --json document of docs/doctor.md; the fixes being applied and
// the verdict go to stderr. Exit 0 when no check failed, 1 when one did, 2 when --fix was
// declined or needed --yes.
package doctor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	engine "github.com/bbkey/bbkey/internal/doctor"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/settings"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/cmdutil"
	"github.com/bbkey/bbkey/internal/credstore"
	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/prompt"
	"github.com/bbkey/bbkey/internal/secret"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/internal/testhook"
	"github.com/bbkey/bbkey/internal/text"
)

// FallbackEnv names the environment variable that replaces the fallback endpoint probed
// when the configured one is Bitbucket's default (empty: probe none).
const FallbackEnv = "BBKEY_SSH_FALLBACK_ENDPOINT"

// Options are the dependencies and flags of `bbkey doctor`.
type Options struct {
	IO        *iostreams.IOStreams
	LookupEnv func(string) (string, bool)
	Prompter  func() prompt.Prompter
	Now       func() time.Time
	// Env gathers what the checks read; a fresh one is built for the run after --fix.
	Env func() (*engine.Env, error)

	JSON, Debug, Yes, NoInput bool
	Fix, DryRun               bool
	PassphraseFile            string
}

// NewCmdDoctor builds `bbkey doctor`. runF replaces runDoctor in tests.
func NewCmdDoctor(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, LookupEnv: f.LookupEnv, Prompter: f.Prompter, Now: f.Now}
	opts.Env = func() (*engine.Env, error) { return newEnv(f, opts) }
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Diagnose what stands between you and a working git fetch over SSH",
		Long: `Check, one line each, everything git over SSH to Bitbucket depends on: the
credential and its scopes, secrets left on disk, the key files, the agent, the ssh config,
the network path and the host keys, the remotes of the repository here, each Data Center
server bbkey knows, and an SSH handshake with the key (docs/doctor.md lists every check).

Each problem comes with its cause and the exact fix. --fix applies the safe ones, asking
first unless --yes, then checks again. Exit 0 when no check failed, 1 otherwise.`,
		Example: `  bbkey doctor
  bbkey doctor --fix
  bbkey doctor --fix --yes --passphrase-file ~/.bbkey-pass
  bbkey doctor --fix --ssh-endpoint altssh.bitbucket.org:443   # port 22 blocked here
  bbkey doctor --json | jq '.checks[] | select(.status != "ok")'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.JSON = f.Globals.JSON
			opts.Debug = f.Globals.Debug
			opts.Yes = f.Globals.Yes
			opts.NoInput = f.NoInput()
			if runF != nil {
				return runF(opts)
			}
			return runDoctor(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&opts.Fix, "fix", false, "apply the safe fixes (asks first unless --yes), then check again")
	fl.BoolVar(&opts.DryRun, "dry-run", false, "with --fix, list the fixes and apply none")
	fl.StringVar(&opts.PassphraseFile, "passphrase-file", "", "read the key passphrase from `FILE` (to prove a key not in the agent, and to load it with --fix)")
	return cmd
}

// newEnv gathers what the checks read from the Factory.
func newEnv(f *cmdutil.Factory, opts *Options) (*engine.Env, error) {
	s, err := f.Settings()
	if err != nil {
		return nil, err
	}
	p, err := f.Paths()
	if err != nil {
		return nil, err
	}
	wd, err := os.Getwd()
	if err != nil {
		return nil, fmt.Errorf("finding the current directory: %w", err)
	}
	// Doctor must answer in seconds: keep retries well inside the API timeout.
	wait := min(f.Globals.MaxWait, 2*time.Second)
	e := &engine.Env{
		Settings: s, Paths: p, Now: f.Now, Getenv: f.Getenv, Git: f.Git, WorkDir: wd,
		Credential: f.ResolveCredential, Agent: f.Agent, PersistSettings: f.PersistSettings,
		Cloud: func(c bbapi.Credential) (backend.Backend, error) {
			client, err := f.NewAPIClient(c, bbapi.WithMaxWait(wait))
			return backend.NewCloud(client, s), err
		},
		CredStore: func(ctx context.Context) (credstore.Store, error) { return f.CredStore(ctx, false) },
		// The proof never asks for a passphrase; --fix may, to load a key into the agent.
		Passphrase:    secret.Source{File: opts.PassphraseFile, LookupEnv: opts.LookupEnv, NoInput: true},
		FixPassphrase: secret.Input(opts.PassphraseFile, opts.LookupEnv, opts.NoInput, opts.Prompter),
		ServerBackend: func(ctx context.Context, server string) (backend.Backend, error) {
			b, _, err := f.BackendFor(ctx, server)
			return b, err
		},
	}
	if s.SSHEndpoint == settings.DefaultSSHEndpoint {
		e.Fallback = settings.AltSSHEndpoint
	}
	if v, ok := f.LookupEnv(FallbackEnv); ok {
		e.Fallback = v
	}
	if opts.Debug {
		e.Trace = f.IOStreams.ErrOut
	}
	return e, nil
}

func runDoctor(ctx context.Context, opts *Options) error {
	env, err := opts.Env()
	if err != nil {
		return err
	}
	if opts.Fix && !opts.DryRun {
		// --fix may write keys, the ssh config and the state: the writers' lock comes
		// before the checks read them and is held until the last fix is written.
		lock, err := state.Dir{Path: env.Paths.ConfigDir, Now: opts.Now}.LockCommand(ctx, "doctor --fix", opts.LookupEnv, opts.IO.ErrOut)
		if err != nil {
			return err
		}
		defer lock.Unlock()
	}
	results := engine.Run(ctx, env, engine.Checks(env.Timeouts))
	fixes := engine.Fixes(results)
	if !opts.Fix || len(fixes) == 0 || opts.DryRun {
		err := verdict(opts, results, fixes)
		switch {
		case opts.Fix && len(fixes) == 0 && err != nil:
			opts.IO.Step(iostreams.MarkWarn, "Nothing here is safe for --fix to repair: follow the fix under each ✗")
		case opts.Fix && opts.DryRun:
			for _, f := range fixes {
				opts.IO.Step(iostreams.MarkWarn, "Would fix (%s): %s", strings.Join(f.Checks, ", "), f.Description)
			}
			opts.IO.Step(iostreams.MarkWarn, "Dry run: nothing changed")
		}
		return err
	}

	if !opts.JSON {
		printReport(opts, results)
	}
	if !opts.Yes {
		if opts.NoInput {
			if opts.JSON {
				printJSONDoc(opts, results, fixes)
			}
			return errkind.UsageError(fmt.Errorf("%d %s to apply: nothing changed without confirmation", len(fixes), text.Plural(len(fixes), "fix", "fixes")),
				"re-run with --yes to apply them")
		}
		fmt.Fprintln(opts.IO.ErrOut, "Fixes to apply:")
		for _, f := range fixes {
			fmt.Fprintf(opts.IO.ErrOut, "  - %s\n", f.Description)
		}
		ok, err := opts.Prompter().Confirm(fmt.Sprintf("Apply %d %s?", len(fixes), text.Plural(len(fixes), "fix", "fixes")), false)
		if err != nil {
			return errkind.CancelError(fmt.Errorf("confirming the fixes: %w", err))
		}
		if !ok {
			return errkind.CancelError(errors.New("cancelled: nothing changed"))
		}
	}
	testhook.Pause(ctx, opts.LookupEnv, "doctor:checked")
	for _, f := range fixes {
		if _, err := f.Apply(ctx); err != nil {
			opts.IO.Step(iostreams.MarkFail, "Could not %s: %v", f.Description, err)
			continue
		}
		opts.IO.Step(iostreams.MarkOK, "Fixed (%s): %s", strings.Join(f.Checks, ", "), f.Description)
	}
	env2, err := opts.Env()
	if err != nil {
		return err
	}
	final := engine.Run(ctx, env2, engine.Checks(env2.Timeouts))
	if !opts.JSON {
		fmt.Fprintln(opts.IO.Out)
		fmt.Fprintln(opts.IO.Out, "After the fixes:")
	}
	return verdict(opts, final, fixes)
}
