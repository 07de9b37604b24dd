// Package cmdutil holds what every command shares: the Factory of lazily built
// dependencies, the global options, and resolving the settings and credentials of a run.
// Commands receive everything with a side effect through the Factory, so a run function
// never touches os.Stdout, time.Now or $HOME itself.
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
	"github.com/bbkey/bbkey/internal/secret"
	"github.com/bbkey/bbkey/internal/settings"
)

// GlobalOptions are the values of the root command's persistent flags.
type GlobalOptions struct {
	JSON    bool
	Debug   bool
	Yes     bool
	NoInput bool
	MaxWait time.Duration

	// Setting flags; empty means "not given on the command line". Server is --server:
	// a Data Center base URL, or "cloud".
	APIURL      string
	SSHHost     string
	SSHEndpoint string
	SSHHostKeys string
	TokenFile   string
	Server      string
}

// Factory builds the dependencies commands need. Fields are set once by cmd (or by a
// test); function fields are called lazily so a command only pays for what it uses.
type Factory struct {
	AppVersion string
	IOStreams  *iostreams.IOStreams
	Globals    *GlobalOptions

	LookupEnv func(string) (string, bool)
	Now       func() time.Time
	// HTTPClient is the transport for the Bitbucket API (no auth attached).
	HTTPClient func() *http.Client
	// Paths locates the user's home, ssh and config directories.
	Paths    func() (settings.Paths, error)
	Prompter func() prompt.Prompter
	Git      gitrun.Runner
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

// PassphraseSource is where a command's key passphrases come from: file
// (--passphrase-file), BBKEY_PASSPHRASE, then the terminal unless NoInput.
func (f *Factory) PassphraseSource(file string, noPassphrase bool) secret.Source {
	src := secret.Input(file, f.LookupEnv, f.NoInput(), f.Prompter)
	src.NoPassphrase = noPassphrase
	return src
}
