package setup

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/sshproof"
)

// Result is the --json document of `bbkey setup` (docs/setup.md). Every list is present,
// empty rather than null.
type Result struct {
	// DryRun is set when nothing was changed: the steps say what would be.
	DryRun bool `json:"dry_run"`
	// Server is the Data Center server's base URL; absent for Bitbucket Cloud.
	Server  string  `json:"server,omitempty"`
	Account Account `json:"account"`
	// Name is the key name: the account nickname or --name.
	Name string `json:"name"`
	// Host is the ssh Host alias the key answers for; RemoteForm shows remotes with it.
	Host       string `json:"host"`
	RemoteForm string `json:"remote_form"`
	Key        Key    `json:"key"`
	// BitbucketKey is the key on the account (planned, in a dry run).
	BitbucketKey *BitbucketKey `json:"bitbucket_key"`
	Agent        Agent         `json:"agent"`
	// Proof is what the SSH proof saw; null in a dry run.
	Proof          *sshproof.Result `json:"proof"`
	FilesChanged   []string         `json:"files_changed"`
	RemotesChanged []RemoteChange   `json:"remotes_changed"`
	Steps          []Step           `json:"steps"`
}

// Account is the Bitbucket account set up.
type Account struct {
	UUID        string `json:"uuid"`
	AccountID   string `json:"account_id"`
	Nickname    string `json:"nickname"`
	DisplayName string `json:"display_name"`
	Email       string `json:"email,omitempty"`
	// CredentialSource is token-file, environment, keychain, file or prompt.
	CredentialSource string `json:"credential_source"`
}

// Key is the local key.
type Key struct {
	Path       string `json:"path"`
	PublicPath string `json:"public_path"`
	// Fingerprint is "SHA256:…"; empty in a dry run that would generate the key.
	Fingerprint string `json:"fingerprint"`
	Generated   bool   `json:"generated"`
	Encrypted   bool   `json:"encrypted"`
}

// BitbucketKey is the key on the account.
type BitbucketKey struct {
	UUID      string     `json:"uuid"`
	Label     string     `json:"label"`
	ExpiresOn *time.Time `json:"expires_on"`
	// Uploaded is set when this run added it.
	Uploaded bool `json:"uploaded"`
}

// Agent says what happened with ssh-agent.
type Agent struct {
	Available       bool   `json:"available"`
	Loaded          bool   `json:"loaded"`
	Added           bool   `json:"added"`
	LifetimeSeconds int64  `json:"lifetime_seconds,omitempty"`
	Warning         string `json:"warning,omitempty"`
}

// RemoteChange is one remote value switched (or to switch, in a dry run).
type RemoteChange struct {
	Repository string `json:"repository"`
	ConfigFile string `json:"config_file"`
	Remote     string `json:"remote"`
	Field      string `json:"field"`
	// Old has any secret masked.
	Old       string `json:"old"`
	New       string `json:"new"`
	HadSecret bool   `json:"had_secret"`
}

// Step is one step line as printed on stderr.
type Step struct {
	Step   string `json:"step"`
	Status string `json:"status"` // done, skipped (already done), warning, planned
	Detail string `json:"detail"`
}

func newResult(dryRun bool) *Result {
	return &Result{DryRun: dryRun, FilesChanged: []string{}, RemotesChanged: []RemoteChange{}, Steps: []Step{}}
}

// print writes the result to stdout: JSON, or aligned lines.
func (r *run) print() error {
	res := r.res
	out := r.opts.IOStreams.Out
	if r.opts.Globals.JSON {
		return iostreams.WriteJSON(out, res)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	row := func(k, format string, args ...any) { fmt.Fprintf(tw, "%s\t%s\n", k, fmt.Sprintf(format, args...)) }
	if res.DryRun {
		row("dry run", "nothing was changed")
	}
	row("account", "%s (%s)", res.Account.DisplayName, res.Account.Nickname)
	row("key", "%s", res.Key.Path)
	if res.Key.Fingerprint != "" {
		row("fingerprint", "%s", res.Key.Fingerprint)
	}
	if b := res.BitbucketKey; b != nil && b.UUID != "" {
		row("bitbucket key", "%s %s", b.UUID, b.Label)
	}
	row("ssh host", "%s", res.Host)
	row("remotes", "%s", res.RemoteForm)
	verb := "changed"
	if res.DryRun {
		verb = "would change"
	}
	for _, f := range res.FilesChanged {
		row(verb, "%s", f)
	}
	for _, c := range res.RemotesChanged {
		row("remote", "%s %s: %s -> %s", c.Repository, c.Remote, c.Old, c.New)
	}
	return tw.Flush()
}
