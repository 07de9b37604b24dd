package shared

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/internal/iostreams"
)

// Status is the --json document of `bbkey auth status` and `bbkey auth login`.
type Status struct {
	// DryRun is set by `auth login --dry-run`: the token was checked, not stored.
	DryRun bool `json:"dry_run,omitempty"`
	// LoggedIn is true when a credential was found and Bitbucket accepted it.
	LoggedIn bool `json:"logged_in"`
	// Server is the Data Center server's base URL; absent for Bitbucket Cloud.
	Server string `json:"server,omitempty"`
	// Source is where the credential came from: keychain, file, environment or token-file.
	Source string `json:"source,omitempty"`
	// Kind is api-token, access-token or oauth.
	Kind string `json:"kind,omitempty"`
	// Email is the Atlassian account of an API token.
	Email string      `json:"email,omitempty"`
	User  *StatusUser `json:"user"`
	// Scopes are the scopes Bitbucket says the credential holds; null when it did not
	// say (then nothing is known to be missing either).
	Scopes []string `json:"scopes"`
	// MissingScopes are the scopes bbkey uses that the credential is known to lack.
	MissingScopes []string `json:"missing_scopes"`
	// ExpiresOn is when the credential expires, when Bitbucket says; it does not for API
	// tokens (see the token page).
	ExpiresOn *time.Time `json:"expires_on"`
	// Error is why the credential is not usable, when it is not.
	Error string `json:"error,omitempty"`
	// DataCenter is what a Data Center token can do; absent for Cloud.
	DataCenter *DCStatus `json:"data_center,omitempty"`
	// Servers are, in `auth status` with no Bitbucket selected, the Data Center servers
	// with a stored token, each checked (documents like this one, with "server").
	Servers []Status `json:"servers,omitempty"`
}

// StatusUser is the Bitbucket account of a credential.
type StatusUser struct {
	UUID        string `json:"uuid"`
	Nickname    string `json:"nickname"`
	DisplayName string `json:"display_name"`
	AccountID   string `json:"account_id"`
}

// SetVerified fills the user and the scopes from what Bitbucket answered. Missing scopes
// are only known for API tokens: OAuth consumers and access tokens hold classic scopes.
func (s *Status) SetVerified(v Verified, kind bbapi.Kind) {
	if v.User != nil {
		s.User = &StatusUser{UUID: v.User.UUID, Nickname: v.User.Nickname, DisplayName: v.User.DisplayName, AccountID: v.User.AccountID}
	}
	s.Scopes = v.Scopes
	s.MissingScopes = nil
	if kind == bbapi.KindAPIToken {
		s.MissingScopes = Missing(v.Scopes, ScopeNames())
	}
	if s.MissingScopes == nil {
		s.MissingScopes = []string{}
	}
}

// PrintStatus writes s to stdout: the JSON document, or aligned lines.
func PrintStatus(io *iostreams.IOStreams, asJSON bool, s Status) error {
	if asJSON {
		enc := json.NewEncoder(io.Out)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(s)
	}
	tw := tabwriter.NewWriter(io.Out, 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	if s.LoggedIn {
		row("logged in", "yes")
	} else {
		row("logged in", "no")
	}
	if s.Server != "" {
		row("server", s.Server+" (Bitbucket Data Center)")
	}
	if s.User != nil {
		row("account", strings.TrimSpace(fmt.Sprintf("%s %s", s.User.DisplayName, paren(s.User.Nickname))))
		if s.User.UUID != "" {
			row("uuid", s.User.UUID)
		}
		if s.User.AccountID != "" {
			row("account id", s.User.AccountID)
		}
	}
	if s.Kind != "" {
		row("credential", s.Kind)
	}
	if s.Email != "" {
		row("email", s.Email)
	}
	if s.Source != "" {
		row("source", s.Source)
	}
	if d := s.DataCenter; d != nil {
		if d.Version != "" {
			row("server version", d.Version)
		}
		switch d.UserType {
		case "SERVICE":
			row("token", "project or repository token (acts as a service user)")
		case "":
		default:
			row("token", "personal token")
		}
		for i, a := range d.Can() {
			k := ""
			if i == 0 {
				k = "can"
			}
			row(k, a.Text)
		}
		if d.SSHEndpoint != "" {
			row("ssh", d.SSHEndpoint)
		}
	}
	if s.LoggedIn && s.Server == "" {
		switch {
		case s.Scopes == nil:
			row("scopes", "not reported by Bitbucket")
		case len(s.Scopes) == 0:
			row("scopes", "none")
		default:
			row("scopes", strings.Join(s.Scopes, ", "))
		}
		if len(s.MissingScopes) > 0 {
			row("missing scopes", strings.Join(s.MissingScopes, ", "))
		}
		if s.ExpiresOn != nil {
			row("expires", s.ExpiresOn.UTC().Format(time.RFC3339))
		} else {
			row("expires", "not reported by Bitbucket (see "+TokenPage+")")
		}
	}
	if s.Error != "" {
		row("error", s.Error)
	}
	return tw.Flush()
}

func paren(s string) string {
	if s == "" {
		return ""
	}
	return "(" + s + ")"
}
