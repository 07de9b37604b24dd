// Package backend is the seam between bbkey's commands and a Bitbucket: one interface,
// Backend, implemented for Bitbucket Cloud (NewCloud over bbapi) and a Data Center server
// (NewDataCenter over bbapi/dc), so a command is written once. Errors keep their bbapi
// and dc types for the command layer to explain (internal/apierr).
package backend

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/internal/hostkeys"
	"github.com/bbkey/bbkey/internal/remote"
	"github.com/bbkey/bbkey/internal/state"
)

// Kind says which Bitbucket a Backend talks to.
type Kind string

// The kinds of Bitbucket.
const (
	Cloud      Kind = "cloud"
	DataCenter Kind = "datacenter"
)

// Backend is one Bitbucket, reached with one credential. Implementations are safe for
// concurrent use (bulk commands add keys to many places at once).
type Backend interface {
	// Kind is Cloud or DataCenter.
	Kind() Kind
	// Server is the Data Center server's base URL (settings.NormalizeServerURL form; it
	// keys the server's state and config.json entries), "" for Cloud.
	Server() string
	// Describe names the Bitbucket for messages: "Bitbucket Data Center at https://host".
	Describe() string

	// Whoami asks who the credential is (a Data Center project or repository token is a
	// service user, Account.Service).
	Whoami(ctx context.Context) (*Account, error)
	// AccountKeys lists the account's SSH keys.
	AccountKeys(ctx context.Context, a *Account) ([]Key, error)
	// FindAccountKey is the account's key with this fingerprint, or nil and no error.
	FindAccountKey(ctx context.Context, a *Account, fingerprint string) (*Key, error)
	// AddAccountKey adds a key to the account. With k.OrGet a key already on this account
	// (an earlier attempt of the same add) is returned as success; a key held elsewhere
	// is an error either way (IsDuplicateKey).
	AddAccountKey(ctx context.Context, a *Account, k NewKey) (*Key, error)
	// DeleteAccountKey deletes one key of the account: k as a Backend returned it, or
	// Key{ID: id} from the state. An empty id is refused before anything is sent: on Data
	// Center a DELETE without an id deletes every key of the user.
	DeleteAccountKey(ctx context.Context, a *Account, k Key) error

	// ParsePlace reads a repository or project as the user names it on this Bitbucket.
	// A malformed name is an error with a hint showing the form.
	ParsePlace(kind PlaceKind, ref string) (Place, error)
	// AccessKeys lists the access keys of a repository or project.
	AccessKeys(ctx context.Context, p Place) ([]Key, error)
	// FindAccessKey is the place's access key with this fingerprint, or nil and no error.
	FindAccessKey(ctx context.Context, p Place, fingerprint string) (*Key, error)
	// AddAccessKey grants a key access to a repository or project, read-write with k.Write
	// (Data Center only: ErrWriteUnsupported on Cloud). With k.OrGet a key the place
	// already has is returned as success. On Data Center a post changes the permission of
	// a key already there: to keep a write key, look first.
	AddAccessKey(ctx context.Context, p Place, k NewKey) (*Key, error)
	// DeleteAccessKey revokes one access key of a place (as DeleteAccountKey takes it).
	DeleteAccessKey(ctx context.Context, p Place, k Key) error
	// Repos lists the repositories of a project, or those the credential administers.
	Repos(ctx context.Context, q RepoQuery) iter.Seq2[Place, error]
	// Stats are the transport's counters (the calls a bulk command reports).
	Stats() bbapi.Stats

	// SSH is where git over SSH goes and which host keys to pin for it. A Data Center
	// server's host key is pinned only if it matches the server's own HTTPS answer
	// (GET /rest/ssh/latest/settings), never on first use (*HostKeyError).
	SSH(ctx context.Context) (*SSH, error)

	// Remotes rewrites this Bitbucket's remote URLs to the SSH form with ssh.Host, or
	// with the alias <ssh.Host>-<name> of a further account when name is not "".
	Remotes(ssh *SSH, name string) remote.Rewriter
	// CredentialHosts are the hosts whose stored git credentials belong to this Bitbucket.
	CredentialHosts() remote.ScrubTarget
}

// Account is whom a credential acts as.
type Account struct {
	// ID identifies the account on its Bitbucket: Cloud's uuid (with braces), a Data
	// Center user's slug. It is what the state records (state.Account.UUID).
	ID string
	// AccountID is Cloud's account_id, or a Data Center user's numeric id as text.
	AccountID string
	// Nickname is Cloud's nickname, or a Data Center user's login name.
	Nickname    string
	DisplayName string
	Email       string
	// Username is Cloud's username where it is still sent.
	Username string
	// Service is set for a Data Center project or repository HTTP access token, which
	// acts as a service user that cannot hold SSH keys of its own.
	Service bool
	// Scopes are what the server says the credential holds (Cloud's x-oauth-scopes); nil
	// when it did not say.
	Scopes []string
}

// Display is "Display Name (nickname)", or whichever of the two is known.
func (a *Account) Display() string {
	switch {
	case a == nil:
		return ""
	case a.DisplayName != "" && a.Nickname != "" && a.DisplayName != a.Nickname:
		return a.DisplayName + " (" + a.Nickname + ")"
	case a.DisplayName != "":
		return a.DisplayName
	case a.Nickname != "":
		return a.Nickname
	}
	return a.ID
}

// Key is a key on a Bitbucket: an account key or an access key of one place.
type Key struct {
	// ID is the key's id there: Cloud's uuid for an account key, an integer (as text) for
	// a Cloud access key and for every Data Center key.
	ID    string
	Label string
	// Comment is a Cloud access key's comment (the one its public key line had).
	Comment string
	// Fingerprint is "SHA256:…".
	Fingerprint string
	// Text is the public key as an authorized_keys line, when the server sent it.
	Text     string
	Created  time.Time
	LastUsed time.Time
	// Expires is when the key stops working; zero when it does not expire.
	Expires time.Time
	// Write is set for an access key that may push (Data Center's REPO_WRITE,
	// PROJECT_WRITE). Cloud's access keys never may; account keys leave it false.
	Write bool
	// Permission is the Data Center permission name of an access key (REPO_READ, …); ""
	// on Cloud and for account keys.
	Permission string
	// Existed is set by an add with OrGet that found the key already there (Bitbucket
	// answered that it was, and the key was then found), so nothing was added.
	Existed bool

	// self is the key's own link where the Bitbucket gave one (Cloud), which deletes
	// it exactly as the server addressed it.
	self string
}

// NewKey is a key to add.
type NewKey struct {
	// Text is the public key as an authorized_keys line.
	Text  string
	Label string
	// Expires, when set, asks the Bitbucket to expire the key then: Cloud's expires_on,
	// Data Center's expiryDays (whole days from now, rounded up). A Data Center server
	// that enforces a maximum applies it to a key added without one.
	Expires time.Time
	// Write asks for an access key that may push (Data Center only).
	Write bool
	// OrGet accepts a key already there (an earlier attempt of this add) as success.
	OrGet bool
}

// PlaceKind is what an access key is added to.
type PlaceKind string

// The kinds of place; the same words as state.TargetKind.
const (
	Repo    PlaceKind = "repo"
	Project PlaceKind = "project"
)

// Place is a repository or a project.
type Place struct {
	Kind PlaceKind
	// Owner is the workspace on Cloud; on Data Center the project key of a repository
	// ("~user" for a personal one), and "" for a project.
	Owner string
	// Slug is the repository slug, or the project key.
	Slug string
}

// String is the place as the user writes it: WS/SLUG, WS/KEY, PROJ/slug or PROJ.
func (p Place) String() string {
	if p.Owner == "" {
		return p.Slug
	}
	return p.Owner + "/" + p.Slug
}

// RepoQuery says which repositories Repos lists.
type RepoQuery struct {
	// Project, when set, lists the repositories of that project (a Place of kind
	// Project): what a project access key reaches. Otherwise Repos lists the
	// repositories the credential administers (adding an access key needs admin).
	Project *Place
	// Workspace is the Cloud workspace listed (Cloud needs one; Data Center has none).
	Workspace string
	// Query is Cloud's filter language, e.g. `project.key = "OPS"` (Cloud only).
	Query string
}

// SSH is where git over SSH goes for one Bitbucket, and what is trusted there.
type SSH struct {
	// Host is the name remotes and the Host block use (the HostKeyAlias too): Cloud's
	// --ssh-host, a Data Center server's SSH host.
	Host string
	// Port is the port remotes name: 0 on Cloud (scp-like remotes), the SSH port on Data
	// Center (ssh://git@host:port/… remotes; --ssh-endpoint's port when one is given,
	// since git passes a URL's port to ssh over the Host block's).
	Port int
	// Endpoint is HOST:PORT where ssh really connects (HostName and Port).
	Endpoint string
	// Pins are the host keys trusted for Host.
	Pins hostkeys.Pins
}

// Record writes where a Data Center server's SSH git is, and its pinned host keys, into
// its state entry (created when missing), so identity.Sync derives the server's Host
// blocks and known_hosts lines from the state alone.
func (s *SSH) Record(st *state.State, server string) *state.Server {
	v := st.EnsureServer(server)
	v.SSHHost, v.SSHPort, v.SSHEndpoint = s.Host, s.Port, s.Endpoint
	v.HostKeys, v.HostKeySource = s.hostKeyLines(), s.Pins.Source
	return v
}

// Recorded reports whether the state entry v records s as Record would.
func (s *SSH) Recorded(v *state.Server) bool {
	return v != nil && v.SSHHost == s.Host && v.SSHPort == s.Port && v.SSHEndpoint == s.Endpoint &&
		slices.Equal(v.HostKeys, s.hostKeyLines()) && v.HostKeySource == s.Pins.Source
}

func (s *SSH) hostKeyLines() []string {
	out := make([]string, len(s.Pins.Keys))
	for i, k := range s.Pins.Keys {
		out[i] = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
	}
	return out
}

func unknownPlace(p Place) error { return fmt.Errorf("unknown kind of place %q", p.Kind) }

// collect drains an iterator into Keys, stopping at the first error.
func collect[T any](seq iter.Seq2[T, error], conv func(T) Key) ([]Key, error) {
	var out []Key
	for v, err := range seq {
		if err != nil {
			return nil, err
		}
		out = append(out, conv(v))
	}
	return out, nil
}

// found converts the answer of a lookup: nil stays nil.
func found[T any](conv func(*T) Key) func(*T, error) (*Key, error) {
	return func(k *T, err error) (*Key, error) {
		if err != nil || k == nil {
			return nil, err
		}
		out := conv(k)
		return &out, nil
	}
}

// added converts the answer of an add.
func added[T any](conv func(*T) Key) func(*T, *bbapi.Response, error) (*Key, error) {
	return func(k *T, _ *bbapi.Response, err error) (*Key, error) { return found(conv)(k, err) }
}

// places converts an iterator of repositories into Places, stopping at the first error.
func places[T any](seq iter.Seq2[T, error], conv func(T) (Place, error)) iter.Seq2[Place, error] {
	return func(yield func(Place, error) bool) {
		for r, err := range seq {
			var p Place
			if err == nil {
				p, err = conv(r)
			}
			if !yield(p, err) || err != nil {
				return
			}
		}
	}
}

// expiryDays is a lifetime ending at t, in whole days from now rounded up (Data Center's
// expiryDays); 0 for no expiry.
func expiryDays(t, now time.Time) int {
	if t.IsZero() {
		return 0
	}
	return max(1, int((t.Sub(now)+24*time.Hour-1)/(24*time.Hour)))
}
