// Package state keeps bbkey's non-secret state in the config directory: the keys bbkey
// made and where they went, the rotation history (state.json), the journal of a rotation
// in progress, and the locks that keep two bbkey processes from editing them at once.
// Every file is written 0600 to a temporary file and renamed into place.
package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/fsutil"
)

// File names inside the config directory.
const (
	StateFile      = "state.json"
	StateLockFile  = "state.lock"
	JournalFile    = "rotation-journal.json"
	RotateLockFile = "rotate.lock"
)

// Version is the format of state.json and of the journal this bbkey writes.
const Version = 1

// MaxHistory and MaxRevocations bound the histories kept in state.json.
const (
	MaxHistory     = 200
	MaxRevocations = 2000
)

// Dir is the config directory holding the state, with the clock that stamps it.
type Dir struct {
	Path string
	Now  func() time.Time // nil: time.Now
}

func (d Dir) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d Dir) file(name string) string { return filepath.Join(d.Path, name) }

// State is the content of state.json.
type State struct {
	Version int `json:"version"`
	// Accounts and AccessKeys are Bitbucket Cloud's keys by name; each server in Servers
	// keeps its own.
	Accounts   map[string]*Account   `json:"accounts"`
	AccessKeys map[string]*AccessKey `json:"access_keys"`
	// Rotations is the history, oldest first.
	Rotations        []Rotation    `json:"rotations"`
	LastScheduledRun *ScheduledRun `json:"last_scheduled_run,omitempty"`
	// Revocations are the access keys `bbkey audit --revoke-flagged` deleted, oldest first.
	Revocations []Revocation `json:"revocations,omitempty"`
	// Schedules are the timers `rotate --schedule` installed, by job id.
	Schedules map[string]*Schedule `json:"schedules,omitempty"`
	// Servers are the Data Center servers, by base URL (settings.NormalizeServerURL).
	Servers map[string]*Server `json:"servers,omitempty"`
}

// Server is one Bitbucket Data Center server and what this machine holds there.
type Server struct {
	URL string `json:"url"` // the map key
	// SSHHost and SSHPort are what remotes name (ssh://git@HOST:PORT/…), SSHHost also the
	// Host line and HostKeyAlias; SSHEndpoint is HOST:PORT where ssh connects.
	SSHHost     string `json:"ssh_host"`
	SSHPort     int    `json:"ssh_port"`
	SSHEndpoint string `json:"ssh_endpoint"`
	// HostKeys are the pinned host keys as authorized_keys lines; HostKeySource says
	// where they came from (the settings URL, or --ssh-host-keys).
	HostKeys      []string `json:"host_keys"`
	HostKeySource string   `json:"host_key_source,omitempty"`
	// Accounts are the user keys by name (UUID holds the user's slug, AccountID the
	// numeric id); AccessKeys this machine's access keys.
	Accounts   map[string]*Account   `json:"accounts"`
	AccessKeys map[string]*AccessKey `json:"access_keys"`
}

// View is the server's keys as a State of their own (the same maps).
func (v *Server) View() *State {
	return &State{Version: Version, Accounts: v.Accounts, AccessKeys: v.AccessKeys}
}

// ServerOf returns the entry of the Data Center server url, or nil.
func (s *State) ServerOf(url string) *Server { return s.Servers[url] }

// EnsureServer returns the entry of the Data Center server url, adding an empty one.
func (s *State) EnsureServer(url string) *Server {
	if s.Servers == nil {
		s.Servers = map[string]*Server{}
	}
	v := s.Servers[url]
	if v == nil {
		v = &Server{URL: url, Accounts: map[string]*Account{}, AccessKeys: map[string]*AccessKey{}}
		s.Servers[url] = v
	}
	return v
}

// AccountsOf are the account keys of a server ("" for Cloud); nil for an unknown server.
func (s *State) AccountsOf(server string) map[string]*Account { return s.keysOf(server).Accounts }

// AccessKeysOf are the access keys of a server ("" for Cloud); nil for an unknown server.
func (s *State) AccessKeysOf(server string) map[string]*AccessKey {
	return s.keysOf(server).AccessKeys
}

func (s *State) keysOf(server string) *State {
	if server == "" {
		return s
	}
	if v := s.Servers[server]; v != nil {
		return v.View()
	}
	return &State{}
}

// ServerURLs lists the Data Center servers the state holds keys on, by URL.
func (s *State) ServerURLs() []string { return slices.Sorted(maps.Keys(s.Servers)) }

// Bitbuckets lists every Bitbucket the state may hold keys on: Cloud ("") first, then each
// Data Center server by URL.
func (s *State) Bitbuckets() []string { return append([]string{""}, s.ServerURLs()...) }

// AccountNamed finds the account key called name on any Bitbucket ("" for Cloud): names
// are one namespace, as they name the key files.
func (s *State) AccountNamed(name string) (server string, a *Account, ok bool) {
	if a := s.Accounts[name]; a != nil {
		return "", a, true
	}
	for _, url := range s.ServerURLs() {
		if a := s.Servers[url].Accounts[name]; a != nil {
			return url, a, true
		}
	}
	return "", nil, false
}

// Schedule is a timer `rotate --schedule` installed, as `rotate --status` and doctor show it.
type Schedule struct {
	Backend   string `json:"backend"`
	Frequency string `json:"frequency"`
	Hour      int    `json:"hour"` // local time of day
	Minute    int    `json:"minute"`
	// Command is the job's argv; older records have none (and no time of day).
	Command     []string `json:"command,omitempty"`
	IfOlderThan string   `json:"if_older_than,omitempty"`
	LogFile     string   `json:"log_file"`
	// Files are the scheduler's files for it (none for cron).
	Files     []string  `json:"files,omitempty"`
	Installed time.Time `json:"installed"`
}

// Gone returns the first of the timer's files no longer there (the timer was removed
// outside bbkey), or "".
func (s *Schedule) Gone() string {
	for _, f := range s.Files {
		if !fsutil.MayExist(f) {
			return f
		}
	}
	return ""
}

// Revocation is one access key deleted from one repository or project by an audit.
type Revocation struct {
	Time        time.Time `json:"time"`
	Fingerprint string    `json:"fingerprint"`
	Label       string    `json:"label,omitempty"`
	// Server is the Data Center server's URL; "" on Cloud (and in older entries).
	Server string   `json:"server,omitempty"`
	Target Target   `json:"target"` // with the key's id there
	Flags  []string `json:"flags"`  // why it was deleted (past-ttl, unused, …)
}

// AddRevocation appends r to the revocation history, keeping the newest MaxRevocations.
func (s *State) AddRevocation(r Revocation) {
	s.Revocations = bounded(s.Revocations, r, MaxRevocations)
}

func bounded[T any](list []T, v T, n int) []T {
	list = append(list, v)
	return list[max(0, len(list)-n):]
}

// Account is a Bitbucket account and the key bbkey made for it.
type Account struct {
	UUID        string    `json:"uuid"` // with braces, as GET /user returns it
	AccountID   string    `json:"account_id,omitempty"`
	Nickname    string    `json:"nickname,omitempty"`
	Email       string    `json:"email,omitempty"`
	KeyName     string    `json:"key_name"` // <name> in bbkey_<name>_ed25519
	KeyPath     string    `json:"key_path"`
	Fingerprint string    `json:"fingerprint"`
	KeyID       string    `json:"key_id,omitempty"` // Bitbucket's id of the uploaded key
	Label       string    `json:"label,omitempty"`  // bbkey:<name>:<date>
	Created     time.Time `json:"created"`
	// AgentLifetimeSeconds is setup --agent-lifetime, so rotate loads the successor for
	// as long; 0: until unloaded.
	AgentLifetimeSeconds int64 `json:"agent_lifetime_seconds,omitempty"`
}

// AgentLifetime is the account key's ssh-agent lifetime (0: none).
func (a *Account) AgentLifetime() time.Duration {
	return time.Duration(a.AgentLifetimeSeconds) * time.Second
}

// AccessKey is an access (deploy) key of this machine and where it was added.
type AccessKey struct {
	Path        string    `json:"path"`
	Fingerprint string    `json:"fingerprint"`
	Label       string    `json:"label,omitempty"`
	Created     time.Time `json:"created"`
	// NoSSHConfig: added without --write-ssh-config, so no Host block is written (or
	// asked for by doctor) until add-access-key --write-ssh-config.
	NoSSHConfig bool `json:"no_ssh_config,omitempty"`
	// Targets are the repositories and projects the key was added to, sorted.
	Targets []Target `json:"targets"`
}

// TargetKind is what an access key was added to.
type TargetKind string

// The kinds of access-key target.
const (
	TargetRepo    TargetKind = "repo"    // WS/SLUG
	TargetProject TargetKind = "project" // WS/KEY
)

// Target is one repository or project an access key was added to.
type Target struct {
	Kind      TargetKind `json:"kind"`
	Workspace string     `json:"workspace"`
	Slug      string     `json:"slug"`             // repository slug or project key
	KeyID     string     `json:"key_id,omitempty"` // the key's id there
	Added     time.Time  `json:"added,omitzero"`
	// Permission is Data Center's (REPO_READ, PROJECT_WRITE, …); empty on Cloud.
	Permission string `json:"permission,omitempty"`
}

// Ref is "WS/SLUG" as --repo and --project take it; a Data Center project is its key alone.
func (t Target) Ref() string {
	if t.Workspace == "" {
		return t.Slug
	}
	return t.Workspace + "/" + t.Slug
}

// Key is "repo:WS/SLUG" or "project:WS/KEY": unique across kinds, for maps and output.
func (t Target) Key() string { return string(t.Kind) + ":" + t.Ref() }

// Same reports whether t and u name the same repository or project (case-insensitively,
// as Bitbucket compares them).
func (t Target) Same(u Target) bool {
	return t.Kind == u.Kind && strings.EqualFold(t.Workspace, u.Workspace) && strings.EqualFold(t.Slug, u.Slug)
}

// ParseTarget reads "WS/SLUG" (or "WS/KEY" for a project).
func ParseTarget(kind TargetKind, ref string) (Target, error) {
	if kind != TargetRepo && kind != TargetProject {
		return Target{}, fmt.Errorf("unknown target kind %q", kind)
	}
	ws, slug, ok := strings.Cut(ref, "/")
	if !ok || ws == "" || slug == "" || strings.ContainsAny(slug, "/ ") || strings.ContainsAny(ws, " ") {
		what, hint := "WORKSPACE/REPO", "give the workspace id and the repository slug from the repository's URL, e.g. --repo acme/api"
		if kind == TargetProject {
			what, hint = "WORKSPACE/PROJECT_KEY", "give the workspace id and the project key (not its name), e.g. --project acme/OPS"
		}
		return Target{}, errkind.WithHint(fmt.Errorf("%s %q is not of the form %s", kind, ref, what), hint)
	}
	return Target{Kind: kind, Workspace: ws, Slug: slug}, nil
}

// SetTarget records t, replacing the entry for the same repository or project.
func (k *AccessKey) SetTarget(t Target) {
	if i := slices.IndexFunc(k.Targets, t.Same); i >= 0 {
		k.Targets[i] = t
	} else {
		k.Targets = append(k.Targets, t)
	}
	slices.SortFunc(k.Targets, func(a, b Target) int { return strings.Compare(a.Key(), b.Key()) })
}

// RemoveTarget forgets the entry for the repository or project t names.
func (k *AccessKey) RemoveTarget(t Target) bool {
	n := len(k.Targets)
	k.Targets = slices.DeleteFunc(k.Targets, t.Same)
	return len(k.Targets) != n
}

// Target returns the entry for the repository or project t names.
func (k *AccessKey) Target(t Target) (Target, bool) {
	if i := slices.IndexFunc(k.Targets, t.Same); i >= 0 {
		return k.Targets[i], true
	}
	return Target{}, false
}

// RotationKind says which keys a rotation replaced.
type RotationKind string

// The kinds of rotation.
const (
	RotateAccount    RotationKind = "account"
	RotateAccessKeys RotationKind = "access-keys"
)

// Result is how a rotation or a scheduled run ended.
type Result string

// Outcomes; ok is exit 0, partial 3, failed anything else.
const (
	ResultOK         Result = "ok"
	ResultPartial    Result = "partial"     // new key proven and active, old one not yet revoked
	ResultFailed     Result = "failed"      // nothing changed on Bitbucket, or the new key was not proven
	ResultRolledBack Result = "rolled-back" // an interrupted rotation was undone
	ResultSkipped    Result = "skipped"     // --if-older-than: the key was young enough
)

// Rotation is one entry of the rotation history.
type Rotation struct {
	Time           time.Time    `json:"time"`
	Kind           RotationKind `json:"kind"`
	Name           string       `json:"name"`
	OldFingerprint string       `json:"old_fingerprint,omitempty"`
	NewFingerprint string       `json:"new_fingerprint,omitempty"`
	Result         Result       `json:"result"`
	Error          string       `json:"error,omitempty"` // as printed after `bbkey: error:`
	Scheduled      bool         `json:"scheduled,omitempty"`
}

// ScheduledRun is the outcome of the last run the scheduler started.
type ScheduledRun struct {
	Time     time.Time `json:"time"`
	Result   Result    `json:"result"`
	ExitCode int       `json:"exit_code"`
	Error    string    `json:"error,omitempty"`
}

// New returns an empty state.
func New() *State {
	return &State{Version: Version, Accounts: map[string]*Account{}, AccessKeys: map[string]*AccessKey{}}
}

// AddRotation appends r to the history, keeping the newest MaxHistory entries.
func (s *State) AddRotation(r Rotation) { s.Rotations = bounded(s.Rotations, r, MaxHistory) }

// LastRotation returns the newest history entry for kind and name ("": any name).
func (s *State) LastRotation(kind RotationKind, name string) (Rotation, bool) {
	for _, r := range slices.Backward(s.Rotations) {
		if r.Kind == kind && (name == "" || r.Name == name) {
			return r, true
		}
	}
	return Rotation{}, false
}

// Load reads state.json; a missing file is an empty state.
func (d Dir) Load() (*State, error) {
	path := d.file(StateFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return New(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading state: %w", err)
	}
	s := &State{}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, errkind.WithHint(fmt.Errorf("reading %s: %w", path, err),
			fmt.Sprintf("move %s aside; bbkey starts from an empty state and `bbkey list` shows your keys", path))
	}
	if err := checkVersion(path, s.Version); err != nil {
		return nil, err
	}
	s.normalize()
	return s, nil
}

func checkVersion(path string, v int) error {
	switch {
	case v > Version:
		return errkind.WithHint(fmt.Errorf("%s was written by a newer bbkey (format %d, this one reads %d)", path, v, Version),
			"upgrade bbkey")
	case v < 1:
		return fmt.Errorf("%s has no format version", path)
	}
	return nil
}

// normalize makes maps non-nil and drops null entries, so callers can index freely.
func (s *State) normalize() {
	if s.Accounts == nil {
		s.Accounts = map[string]*Account{}
	}
	if s.AccessKeys == nil {
		s.AccessKeys = map[string]*AccessKey{}
	}
	maps.DeleteFunc(s.Accounts, func(_ string, v *Account) bool { return v == nil })
	maps.DeleteFunc(s.AccessKeys, func(_ string, v *AccessKey) bool { return v == nil })
	maps.DeleteFunc(s.Servers, func(_ string, v *Server) bool { return v == nil })
	for url, v := range s.Servers {
		v.URL = url
		sub := v.View()
		sub.normalize()
		v.Accounts, v.AccessKeys = sub.Accounts, sub.AccessKeys
	}
	if len(s.Servers) == 0 {
		s.Servers = nil
	}
}

// Save writes s to state.json. Hold the state lock (Update does) when s came from Load.
func (d Dir) Save(s *State) error {
	s.Version = Version
	s.normalize()
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding state: %w", err)
	}
	if err := fsutil.MkdirPrivate(d.Path); err != nil {
		return fmt.Errorf("creating config directory: %w", err)
	}
	if err := fsutil.WriteFileAtomic(d.file(StateFile), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("saving state: %w", err)
	}
	return nil
}

// Update loads the state under the state lock (waiting until ctx ends), lets fn change it,
// and saves it; when fn fails nothing is written.
func (d Dir) Update(ctx context.Context, fn func(*State) error) error {
	if err := fsutil.MkdirPrivate(d.Path); err != nil {
		return fmt.Errorf("creating config directory: %w", err)
	}
	lock, err := fsutil.LockContext(ctx, d.file(StateLockFile))
	if err != nil {
		return fmt.Errorf("locking state: %w", err)
	}
	defer lock.Unlock()
	s, err := d.Load()
	if err != nil {
		return err
	}
	if err := fn(s); err != nil {
		return err
	}
	return d.Save(s)
}
