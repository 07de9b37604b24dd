// Package setup is `bbkey setup`: a new machine from nothing to git over SSH in one
// unattended run, each step (listed in the command's help and docs/setup.md) printing one
// ✓ / ! / ✗ line on stderr and skipped when already done.
//
// Nothing is lost on failure: every question is asked (or fails, without a terminal,
// naming the flag) before anything is written; a key whose upload or proof fails keeps its
// files for a re-run but leaves the agent, and is deleted from Bitbucket again (by its id)
// when this run uploaded it; a pinned known_hosts this run created is removed again. The
// ssh config is written only once the key is proven.
//
// Call budget: a fresh key costs exactly GET /user and POST; a re-run with nothing to do
// GET /user and one page of the user's keys, and changes no file.
package setup

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bbkey/bbkey/internal/cmdutil"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/keylabel"
	"github.com/bbkey/bbkey/internal/secret"
	"github.com/bbkey/bbkey/keys"
)

// Options are the Factory and the flags of `bbkey setup`.
type Options struct {
	*cmdutil.Factory
	// WorkDir is the directory whose repository's remotes are switched.
	WorkDir string

	Name           string
	KeyFile        string
	NoRemotes      bool
	ExpiresIn      string
	AgentLifetime  string
	PassphraseFile string
	NoPassphrase   bool
	NoGitSSH       bool
	DryRun         bool

	// GOOS selects the operating system's steps ("": runtime.GOOS), so the Windows-only
	// git ssh step is tested everywhere.
	GOOS string
}

// NewCmdSetup builds `bbkey setup`. runF replaces runSetup in tests.
func NewCmdSetup(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "setup",
		Short: "Set this machine up for git over SSH with Bitbucket",
		Long: `Set this machine up for git over SSH with Bitbucket, in order, each step skipped when
already done:

  1. credentials   --token-file, BITBUCKET_EMAIL + BITBUCKET_API_TOKEN, the stored
                   credential ('bbkey auth login'), or the same questions on a terminal
  2. key           ~/.ssh/bbkey_<name>_ed25519, generated with a passphrase unless its
                   files exist (--key FILE uses an existing key instead)
  3. agent         the key loaded into ssh-agent (--agent-lifetime); no agent is a warning
  4. upload        the key added to your Bitbucket account, labelled bbkey:<name>:<date>
  5. host keys     Bitbucket's published host keys pinned in ~/.ssh/bbkey/known_hosts
  6. proof         an SSH handshake with the endpoint proves the key works (exit 5 if not)
  7. ssh config    a Host block in ~/.ssh/bbkey/config, included from ~/.ssh/config
  8. git ssh       Windows only: git set to run Windows OpenSSH (core.sshCommand, global),
                   as Git for Windows' own ssh cannot reach the agent (--no-git-ssh)
  9. remotes       this repository's Bitbucket remotes switched to SSH (--no-remotes)

<name> is the account's nickname, or --name; a second account gets its own key and the
ssh alias <ssh-host>-<name>. Running setup is the consent: it never asks "are you sure".
Without a terminal every answer must come from a flag or the environment. A second run
changes nothing.

With --server URL (or BITBUCKET_SERVER) the same steps run against a Bitbucket Data
Center server, with a personal HTTP access token (BITBUCKET_SERVER_TOKEN, --token-file or
'bbkey auth login --server URL'): its SSH host, port and host-key fingerprint come from the
server's own settings, and the key its SSH server presents is pinned only if it matches
them; remotes become ssh://git@<ssh host>:<port>/proj/repo.git, and the server's entries in
.netrc, _netrc and .git-credentials are removed. The key is named <user>-<server host>
unless --name. --server cloud selects Bitbucket Cloud over a server config.json records.`,
		Example: `  bbkey setup
  bbkey setup --passphrase-file ~/.bbkey-pass --agent-lifetime 8h
  bbkey setup --name work --expires-in 365d
  bbkey setup --key ~/.ssh/id_ed25519 --no-remotes
  bbkey setup --server https://bitbucket.example.com --expires-in 90d
  bbkey setup --dry-run --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			wd, err := os.Getwd()
			if err != nil {
				return fmt.Errorf("finding the current directory: %w", err)
			}
			opts.WorkDir = wd
			if runF != nil {
				return runF(opts)
			}
			return runSetup(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Name, "name", "", "key `NAME` (default: the account nickname); another account gets the ssh alias <ssh-host>-<name>")
	fl.StringVar(&opts.KeyFile, "key", "", "use the existing private key `FILE` instead of generating one")
	fl.BoolVar(&opts.NoRemotes, "no-remotes", false, "leave this repository's remotes alone")
	fl.StringVar(&opts.ExpiresIn, "expires-in", "", "have Bitbucket expire the key after `DURATION` (e.g. 365d, 26w)")
	fl.StringVar(&opts.AgentLifetime, "agent-lifetime", "", "let ssh-agent forget the key after `DURATION` (e.g. 8h, 1d)")
	fl.StringVar(&opts.PassphraseFile, "passphrase-file", "", "read the key passphrase from `FILE` (env "+"BBKEY_PASSPHRASE)")
	fl.BoolVar(&opts.NoPassphrase, "no-passphrase", false, "write the new private key unencrypted (not recommended)")
	fl.BoolVar(&opts.NoGitSSH, "no-git-ssh", false, "Windows: leave git's ssh alone (default: make git use Windows OpenSSH, which reaches the agent)")
	fl.BoolVar(&opts.DryRun, "dry-run", false, "print the plan and change nothing")
	cmd.MarkFlagsMutuallyExclusive("passphrase-file", "no-passphrase")
	cmd.MarkFlagsMutuallyExclusive("key", "no-passphrase")
	return cmd
}

// flags are the parsed flag values.
type flags struct {
	expiresIn time.Duration
	lifetime  time.Duration
	keyFile   string
}

func parseFlags(opts *Options) (flags, error) {
	var fl flags
	if opts.Name != "" {
		if err := keys.ValidateAccountName(opts.Name); err != nil {
			return fl, errkind.UsageError(fmt.Errorf("--name: %w", err), "pick a name like --name work, or leave --name out for the account nickname")
		}
	}
	if opts.ExpiresIn != "" {
		d, err := keylabel.ParseDuration(opts.ExpiresIn)
		if err != nil || d <= 0 {
			return fl, errkind.UsageError(fmt.Errorf("--expires-in %q is not a positive duration", opts.ExpiresIn),
				"write it like 365d or 26w")
		}
		fl.expiresIn = d
	}
	if opts.AgentLifetime != "" {
		d, err := keylabel.ParseDuration(opts.AgentLifetime)
		if err != nil || d <= 0 {
			return fl, errkind.UsageError(fmt.Errorf("--agent-lifetime %q is not a positive duration", opts.AgentLifetime),
				"write it like 8h or 1d")
		}
		fl.lifetime = d
	}
	if err := (secret.Source{File: opts.PassphraseFile, NoPassphrase: opts.NoPassphrase, KeyGiven: opts.KeyFile != ""}).Check(); err != nil {
		return fl, err
	}
	if opts.KeyFile != "" {
		p := opts.KeyFile
		if !filepath.IsAbs(p) {
			p = filepath.Join(opts.WorkDir, p)
		}
		// A .pub names its private key, which is what ssh config's IdentityFile needs.
		fl.keyFile = strings.TrimSuffix(filepath.Clean(p), keys.PublicSuffix)
	}
	return fl, nil
}
