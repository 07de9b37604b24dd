// Package cmd wires bbkey's commands into cobra, builds the Factory, and renders errors
// once, as `bbkey: error: …` and `bbkey: hint: …`, with the exit code the error's type
// picks. Behaviour lives in keys, agent, bbapi and internal/…; each command lives in its
// own package under cmd/.
package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/mitchellh/go-homedir"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	accesskeycmd "github.com/bbkey/bbkey/cmd/accesskey"
	auditcmd "github.com/bbkey/bbkey/cmd/audit"
	authcmd "github.com/bbkey/bbkey/cmd/auth"
	doctorcmd "github.com/bbkey/bbkey/cmd/doctor"
	listcmd "github.com/bbkey/bbkey/cmd/list"
	remotecmd "github.com/bbkey/bbkey/cmd/remote"
	removecmd "github.com/bbkey/bbkey/cmd/remove"
	rotatecmd "github.com/bbkey/bbkey/cmd/rotate"
	setupcmd "github.com/bbkey/bbkey/cmd/setup"
	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/build"
	"github.com/bbkey/bbkey/internal/cmdutil"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/settings"
)

const exitCodesHelp = `Exit codes:
  0  ok
  1  error, including an internal error (a bug: "bbkey: error: internal error: …")
  2  usage error or cancelled
  3  partial: some targets failed, --max-wait ran out, or a rotated-out key not revoked yet
  4  not authenticated or missing scope
  5  SSH verification failed (the key was not proven to work)
  6  audit: keys were flagged (the audit itself ran to the end)`

// Main runs bbkey with the process's arguments and returns the exit code.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	f := NewFactory(build.String(), iostreams.System())
	return Run(ctx, f, os.Args[1:])
}

// Run executes the command line args with the given Factory and returns the exit code.
// Tests call it with a test Factory.
func Run(ctx context.Context, f *cmdutil.Factory, args []string) (code int) {
	out := &countingWriter{w: f.IOStreams.Out}
	f.IOStreams.Out = out
	// The last resort: a bug must not end in a Go stack dump, which a scheduled job's log
	// would keep and a user would not know what to do with. Deferred cleanups (locks,
	// temp files) have run by now; a rotation's journal lets the next run finish it.
	defer func() {
		if r := recover(); r != nil {
			code = internalError(f, out.n > 0, r, debug.Stack())
		}
	}()
	root := NewCmdRoot(f)
	root.SetArgs(args)
	root.SetOut(out)
	root.SetErr(f.IOStreams.ErrOut)
	root.SetIn(f.IOStreams.In)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil && out.err != nil {
		// Output lost (a full disk, a closed stdout): the caller must not take the empty
		// or cut-off file for the answer.
		err = fmt.Errorf("writing the output: %w", out.err)
	}
	if err == nil {
		return errkind.ExitOK
	}
	err = classify(cmd, err)
	code = apierr.ExitCode(err)
	renderError(f, out.n > 0, err, code)
	return code
}

// NewCmdRoot builds the command tree.
func NewCmdRoot(f *cmdutil.Factory) *cobra.Command {
	g := f.Globals
	// `bbkey --help` lists the commands in the order a user meets them (DESIGN.md), not
	// alphabetically.
	cobra.EnableCommandSorting = false
	root := &cobra.Command{
		Use:   "bbkey <command>",
		Short: "Move Bitbucket git from pasted secrets to SSH keys, and keep it that way",
		Long: `bbkey takes a person or a build server from git over HTTPS with a secret pasted
somewhere to git over SSH with a passphrase-protected ed25519 key: it generates the key,
loads it into ssh-agent, uploads it to Bitbucket, writes ~/.ssh config and pinned host keys,
switches remotes to ` + settings.DefaultSSHHost + `, scrubs leaked secrets, and rotates keys.

` + exitCodesHelp,
		Version:       f.AppVersion,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if g.JSON {
				f.IOStreams.NoColor = true
			}
			if g.MaxWait <= 0 {
				return errkind.UsageError(errors.New("--max-wait must be positive"), "give a duration such as --max-wait 30s or --max-wait 10m")
			}
			return expandPathFlags(cmd)
		},
	}
	root.SetVersionTemplate("bbkey {{.Version}}\n")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return errkind.UsageError(err, helpHint(cmd))
	})
	pf := root.PersistentFlags()
	pf.BoolVar(&g.JSON, "json", false, "print machine-readable JSON on stdout")
	pf.BoolVar(&g.Debug, "debug", false, "trace HTTP and SSH on stderr (secrets redacted)")
	pf.BoolVarP(&g.Yes, "yes", "y", false, "answer yes to confirmations")
	pf.BoolVar(&g.NoInput, "no-input", false, "never prompt; fail naming the flag that would answer (implied without a terminal)")
	pf.DurationVar(&g.MaxWait, "max-wait", 5*time.Minute, "longest time to wait on Bitbucket in all: rate limits, retries, attempts that fail or hang")
	pf.StringVar(&g.APIURL, "api-url", "", "Bitbucket REST base URL (env BITBUCKET_API_URL)")
	pf.StringVar(&g.SSHHost, "ssh-host", "", "host name written into remotes and the ssh config Host line (env BBKEY_SSH_HOST)")
	pf.StringVar(&g.SSHEndpoint, "ssh-endpoint", "", "HOST:PORT where SSH really connects (env BBKEY_SSH_ENDPOINT)")
	pf.StringVar(&g.SSHHostKeys, "ssh-host-keys", "", "file of host keys trusted for the endpoint (env BBKEY_SSH_HOST_KEYS)")
	pf.StringVar(&g.Server, "server", "", "Bitbucket Data Center base `URL` (env BITBUCKET_SERVER; recorded by setup and add-access-key; 'cloud' selects Bitbucket Cloud)")
	pf.StringVar(&g.TokenFile, "token-file", "", "read the Bitbucket token from `FILE` (an API token with BITBUCKET_EMAIL, else an access token; with --server, an HTTP access token)")

	// In the order `bbkey --help` shows them.
	root.AddCommand(
		setupcmd.NewCmdSetup(f, nil),
		accesskeycmd.NewCmdAddAccessKey(f, nil),
		rotatecmd.NewCmdRotate(f, nil),
		remotecmd.NewCmdRemote(f, nil),
		listcmd.NewCmdList(f, nil),
		removecmd.NewCmdRemove(f, nil),
		doctorcmd.NewCmdDoctor(f, nil),
		auditcmd.NewCmdAudit(f, nil),
		authcmd.NewCmdAuth(f),
	)
	return root
}

// helpHint points at the help of the command whose flags or arguments were refused.
func helpHint(cmd *cobra.Command) string {
	return "see '" + cmd.CommandPath() + " --help'"
}

// classify turns cobra's untyped usage errors for cmd into usage errors.
func classify(cmd *cobra.Command, err error) error {
	var ee *errkind.ExitError
	if errors.As(err, &ee) {
		return err
	}
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "accepts ", "requires at least", "requires at most", "invalid argument", "required flag", "if any flags in the group", "none of the others can be"} {
		if strings.HasPrefix(msg, p) || strings.Contains(msg, " "+p) {
			return errkind.UsageError(err, helpHint(cmd))
		}
	}
	return err
}

// internalError renders a recovered panic as an error (the stack only with --debug) and
// returns its exit code, 1.
func internalError(f *cmdutil.Factory, wroteOut bool, r any, stack []byte) int {
	err := errkind.WithHint(fmt.Errorf("internal error: %v", r),
		"this is a bug in bbkey: please report it with the output of the same command run with --debug (secrets are redacted)",
		"an interrupted `bbkey rotate` is finished (or undone) by the next run")
	if f.Globals != nil && f.Globals.Debug {
		fmt.Fprintf(f.IOStreams.ErrOut, "bbkey: debug: panic: %v\n%s", r, stack)
	}
	renderError(f, wroteOut, err, errkind.ExitFailure)
	return errkind.ExitFailure
}

type jsonError struct {
	Error struct {
		Message string   `json:"message"`
		Code    int      `json:"exit_code"`
		Hints   []string `json:"hints,omitempty"`
	} `json:"error"`
}

func renderError(f *cmdutil.Factory, wroteOut bool, err error, code int) {
	hints := apierr.Hints(err)
	msg := err.Error()
	fmt.Fprintf(f.IOStreams.ErrOut, "bbkey: error: %s\n", msg)
	for _, h := range hints {
		f.IOStreams.Hint(h)
	}
	// --json promises one document on stdout; a command that failed before printing its
	// own gets the error as that document.
	if f.Globals.JSON && !wroteOut {
		var doc jsonError
		doc.Error.Message, doc.Error.Code, doc.Error.Hints = msg, code, hints
		_ = iostreams.WriteJSON(f.IOStreams.Out, doc)
	}
}

type countingWriter struct {
	w   io.Writer
	n   int64
	err error // the first write error
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if c.err == nil {
		c.err = err
	}
	return n, err
}

// pathFlags are the flags whose values are paths the user types.
var pathFlags = map[string]bool{
	"passphrase-file": true, "token-file": true, "key": true, "ssh-host-keys": true,
	"repos-from": true, "recursive": true,
}

// expandPathFlags expands a leading ~ in path flags: shells leave `--key=~/k.pub` alone,
// and PowerShell and cmd.exe never expand ~. (go-homedir is used for this alone: it
// prefers %HOME% over %USERPROFILE% on Windows, which is what a user typing ~ means but
// not where OpenSSH looks, so the ssh directory comes from settings.Paths instead.)
func expandPathFlags(cmd *cobra.Command) error {
	var err error
	cmd.Flags().Visit(func(fl *pflag.Flag) {
		if err != nil || !pathFlags[fl.Name] || fl.Value.Type() != "string" {
			return
		}
		v := fl.Value.String()
		if !strings.HasPrefix(v, "~") {
			return
		}
		exp, e := homedir.Expand(v)
		if e != nil {
			err = errkind.UsageError(fmt.Errorf("--%s %s: %w", fl.Name, v, e), "write the path in full, or with ~/ for your own home directory")
			return
		}
		err = fl.Value.Set(exp)
	})
	return err
}
