// Package cmdutil holds what every command shares: the Factory of lazily built
// dependencies, the global options and settings resolution. The words the commands use
// for settings, paths and errors are the leaf packages' own (settings, errkind, apierr),
// not renamed here. Commands receive everything with a side effect through the Factory, so a run
// function never touches os.Stdout, time.Now or $HOME itself.
package cmdutil

import (
	"context"
	"net/http"
	"time"

	"github.com/bbkey/bbkey/agent"
	"github.com/bbkey/bbkey/internal/credstore"
	"github.com/bbkey/bbkey/internal/gitrun"
	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/prompt"
	"github.com/bbkey/bbkey/internal/settings"
)

// GlobalOptions are the values of the root command's persistent flags.
type GlobalOptions struct {
	JSON    bool
	Debug   bool
	Yes     bool
	NoInput bool
	MaxWait time.Duration

	// Setting flags; empty means "not given on the command line".
	APIURL      string
	SSHHost     string
	SSHEndpoint string
	SSHHostKeys string
	// TokenFile names a file holding the Bitbucket token (--token-file).
	TokenFile string
	// Server is the Bitbucket Data Center base URL (--server); "cloud" selects Cloud.
	Server string
}

// Factory builds the dependencies commands need. Fields are set once by cmd (or by a
// test); function fields are called lazily so a command only pays for what it uses.
type Factory struct {
	AppVersion string
	IOStreams  *iostreams.IOStreams
	Globals    *GlobalOptions

	// LookupEnv reads the environment (os.LookupEnv in production).
	LookupEnv func(string) (string, bool)
	// Now is the clock.
	Now func() time.Time
	// HTTPClient is the transport for the Bitbucket API (no auth attached).
	HTTPClient func() *http.Client
	// Paths locates the user's home, ssh and config directories.
	Paths func() (settings.Paths, error)
	// Prompter asks the user at the terminal.
	Prompter func() prompt.Prompter
	// Git runs the git binary.
	Git gitrun.Runner
	// Hostname is the machine's short host name (access key names, key comments).
	Hostname func() (string, error)
	// Agent connects to the user's ssh-agent; an error matching agent.ErrNoAgent when
	// none runs.
	Agent func() (agent.Agent, error)
	// CredStore opens the secret store: the OS keychain, or (allowInsecure) the opt-in
	// 0600 file when no keychain answers.
	CredStore func(ctx context.Context, allowInsecure bool) (credstore.Store, error)
}

// Getenv returns the environment variable or "".
func (f *Factory) Getenv(key string) string {
	v, _ := f.LookupEnv(key)
	return v
}

// NoInput reports whether bbkey must never prompt: --no-input, or stdin/stderr not a
// terminal.
func (f *Factory) NoInput() bool {
	return f.Globals.NoInput || !f.IOStreams.CanPrompt()
}
