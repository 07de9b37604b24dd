// Package state keeps bbkey's non-secret state in the config directory
// ($XDG_CONFIG_HOME/bbkey): which keys bbkey made for which accounts and access-key targets,
// the rotation history and the last scheduled run (state.json); the journal of a rotation
// in progress (rotation-journal.json), so a killed run can be resumed or rolled back; and
// the locks that keep two bbkey processes from editing either at once.
//
// Every file is written whole to a temporary file and renamed into place (mode 0600), so
// a reader sees the old or the new version, never half of one. Secrets never go here; they
// belong in internal/credstore.
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

// MaxHistory bounds the rotation history kept in state.json; older entries are dropped.
const MaxHistory = 200

// Dir is the config directory holding the state, with the clock that stamps it.
type Dir struct {
	// Path is the config directory (settings.Paths.ConfigDir).
	Path string
	// Now is the clock (nil: time.Now).
	Now func() time.Time
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
	// Accounts are the account keys by name (the account nickname or --name).
	Accounts map[string]*Account `json:"accounts"`
	// AccessKeys are this machine's access keys by name (short host name or --name).
	AccessKeys map[string]*AccessKey `json:"access_keys"`
	// Rotations is the history, oldest first, at most MaxHistory entries.
	Rotations []Rotation `json:"rotations"`
	// LastScheduledRun is the outcome of the last run started by the scheduler.
	LastScheduledRun *ScheduledRun `json:"last_scheduled_run,omitempty"`
	// Revocations are the access keys `bbkey audit --revoke-flagged` deleted, oldest first,
	// at most MaxRevocations entries.
	Revocations []Revocation `json:"revocations,omitempty"`
	// Schedules are the timers `rotate --schedule` installed, by job id, so doctor can
	// tell a job that stopped running without reading each scheduler's files.
	Schedules map[string]*Schedule `json:"schedules,omitempty"`
	// Servers are the Bitbucket Data Center servers this machine holds keys for, by base
	// URL (settings.NormalizeServerURL form). Accounts and AccessKeys above are Bitbucket
	// Cloud's; each server keeps its own, with its own Host blocks and pinned host keys.
	// Absent from state files written before Data Center, which load unchanged.
	Servers map[string]*Server `json:"servers,omitempty"`
}

// Server is one Bitbucket Data Center server and what this machine holds there.
type Server struct {
	// URL is the server's base URL (the map key).
	URL string `json:"url"`
	// SSHHost is the host its SSH settings name: written into remotes
	// (ssh://git@<ssh host>:<port>/proj/repo.git), the Host line and the HostKeyAlias.
	SSHHost string `json:"ssh_host"`
	// SSHPort is the port remotes name.
	SSHPort int `json:"ssh_port"`
	// SSHEndpoint is HOST:PORT where ssh connects (HostName and Port): the SSH settings'
	// host and port, or --ssh-endpoint.
	SSHEndpoint string `json:"ssh_endpoint"`
	// HostKeys are the pinned host keys, as authorized_keys lines: the key the SSH server
	// presented whose fingerprint matched the server's HTTPS answer, or the keys of
	// --ssh-host-keys.
	HostKeys []string `json:"host_keys"`
	// HostKeySource says where HostKeys came from (the settings URL, or the file).
	HostKeySource string `json:"host_key_source,omitempty"`
	// Accounts are the user keys on this server by name. Account.UUID holds the user's
	// slug, Account.AccountID its numeric id, Account.KeyID the key's id.
	Accounts map[string]*Account `json:"accounts"`
	// AccessKeys are this machine's access keys on this server by name.
	AccessKeys map[string]*AccessKey `json:"access_keys"`
}

// View is the server's keys as a State of their own (its Accounts and AccessKeys, the
// same maps), for what derives aliases from a State (identity.AccountAlias).
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

// AccountsOf are the account keys of a server ("" for Bitbucket Cloud); nil for a server
// the state does not know.
func (s *State) AccountsOf(server string) map[string]*Account {
	if server == "" {
		return s.Accounts
	}
	if v := s.Servers[server]; v != nil {
		return v.Accounts
	}
	return nil
}

// AccessKeysOf are the access keys of a server ("" for Bitbucket Cloud); nil for a
// server the state does not know.
func (s *State) AccessKeysOf(server string) map[string]*AccessKey {
	if server == "" {
		return s.AccessKeys
	}
	if v := s.Servers[server]; v != nil {
		return v.AccessKeys
	}
	return nil
}

// ServerURLs lists the Data Center servers the state holds keys on, by URL.
func (s *State) ServerURLs() []string { return slices.Sorted(maps.Keys(s.Servers)) }

// Bitbuckets lists every Bitbucket the state may hold keys on: Cloud ("") first, then each
// Data Center server by URL.
func (s *State) Bitbuckets() []string { return append([]string{""}, s.ServerURLs()...) }

// AccountNamed finds the account key called name on any server: key names are one
// namespace across Cloud and every Data Center server, because they name the key files
// (~/.ssh/bbkey_<name>_ed25519). server is "" for Cloud.
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

// Schedule is a timer `rotate --schedule` installed: what `rotate --status` and doctor
// report, without reading it back from the scheduler's files.
type Schedule struct {
	Backend   string `json:"backend"`
	Frequency string `json:"frequency"`
	// Hour and Minute are the local time of day it runs.
	Hour   int `json:"hour"`
	Minute int `json:"minute"`
	// Command is what the job runs: the executable and its arguments. A record without
	// one was written by an older bbkey, which kept no time of day either.
	Command     []string `json:"command,omitempty"`
	IfOlderThan string   `json:"if_older_than,omitempty"`
	LogFile     string   `json:"log_file"`
	// Files are the files the scheduler keeps for it (none for cron).
	Files     []string  `json:"files,omitempty"`
	Installed time.Time `json:"installed"`
}

// Gone returns the first of the timer's files that is no longer there (removed outside
// bbkey: the timer is gone), or "".
func (s *Schedule) Gone() string {
	for _, f := range s.Files {
		if !fsutil.MayExist(f) {
			return f
		}
	}
	return ""
}

// MaxRevocations bounds the revocation history kept in state.json.
const MaxRevocations = 2000

// Revocation is one access key deleted from one repository or project by an audit.
type Revocation struct {
	Time        time.Time `json:"time"`
	Fingerprint string    `json:"fingerprint"`
	Label       string    `json:"label,omitempty"`
	// Server is the Data Center server the key was deleted from (its base URL, as
	// state.Servers keys it); "" on Cloud, and in entries written before it was recorded.
	Server string `json:"server,omitempty"`
	// Target is where it was deleted from, with the key's id there.
	Target Target `json:"target"`
	// Flags are why it was deleted (past-ttl, unused, …).
	Flags []string `json:"flags"`
}

// AddRevocation appends r to the revocation history, dropping the oldest entries beyond
// MaxRevocations.
func (s *State) AddRevocation(r Revocation) {
	s.Revocations = append(s.Revocations, r)
	if over := len(s.Revocations) - MaxRevocations; over > 0 {
		s.Revocations = slices.Delete(s.Revocations, 0, over)
	}
}

// Account is a Bitbucket account and the key bbkey made for it.
type Account struct {
	// UUID is the account's uuid, with braces, as GET /user returns it.
	UUID      string `json:"uuid"`
	AccountID string `json:"account_id,omitempty"`
	Nickname  string `json:"nickname,omitempty"`
	Email     string `json:"email,omitempty"`
	// KeyName is <name> in ~/.ssh/bbkey_<name>_ed25519.
	KeyName string `json:"key_name"`
	// KeyPath is the private key file.
	KeyPath string `json:"key_path"`
	// Fingerprint is the key's "SHA256:…" fingerprint.
	Fingerprint string `json:"fingerprint"`
	// KeyID is the uuid Bitbucket gave the uploaded key.
	KeyID string `json:"key_id,omitempty"`
	// Label is the key's label on Bitbucket (bbkey:<name>:<date>).
	Label string `json:"label,omitempty"`
	// Created is when the key was made.
	Created time.Time `json:"created"`
	// AgentLifetimeSeconds is how long ssh-agent keeps the key once loaded (setup
	// --agent-lifetime), so rotate loads the successor for as long; 0: until unloaded.
	AgentLifetimeSeconds int64 `json:"agent_lifetime_seconds,omitempty"`
}

// AgentLifetime is the account key's ssh-agent lifetime (0: none).
func (a *Account) AgentLifetime() time.Duration {
	return time.Duration(a.AgentLifetimeSeconds) * time.Second
}

// AccessKey is an access (deploy) key of this machine and where it was added.
type AccessKey struct {
	// Path is the private key file.
	Path        string    `json:"path"`
	Fingerprint string    `json:"fingerprint"`
	Label       string    `json:"label,omitempty"`
	Created     time.Time `json:"created"`
	// NoSSHConfig is set for a key first added without --write-ssh-config: bbkey's ssh
	// config gets no Host block for it (nobody asked for one, and doctor must not ask
	// for it either) until add-access-key --write-ssh-config.
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
	// Slug is the repository slug or the project key.
	Slug string `json:"slug"`
	// KeyID is the id Bitbucket gave the key on this target (an integer, kept as text).
	KeyID string    `json:"key_id,omitempty"`
	Added time.Time `json:"added,omitzero"`
	// Permission is what the key may do there on Data Center (REPO_READ, REPO_WRITE,
	// PROJECT_READ, PROJECT_WRITE); empty on Cloud, whose access keys only read.
	Permission string `json:"permission,omitempty"`
}

// Ref is "WS/SLUG", as the user writes it after --repo or --project; a Data Center
// project, which has no workspace above it, is its key alone.
func (t Target) Ref() string {
	if t.Workspace == "" {
		return t.Slug
	}
	return t.Workspace + "/" + t.Slug
}

// Key is "repo:WS/SLUG" or "project:WS/KEY": unique across kinds, for maps and output.
func (t Target) Key() string { return string(t.Kind) + ":" + t.Ref() }

// Same reports whether t and u name the same repository or project. Bitbucket treats
// workspace ids, slugs and project keys case-insensitively.
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
		return Target{}, &targetError{fmt.Errorf("%s %q is not of the form %s", kind, ref, what), hint}
	}
	return Target{Kind: kind, Workspace: ws, Slug: slug}, nil
}

// targetError is a malformed target with the hint that shows the form (cmdutil's hint
// contract; state does not import cmdutil).
type targetError struct {
	err  error
	hint string
}

func (e *targetError) Error() string   { return e.err.Error() }
func (e *targetError) Unwrap() error   { return e.err }
func (e *targetError) Hints() []string { return []string{e.hint} }

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

// Outcomes, matching the exit codes: ok 0, partial 3, failed otherwise.
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
	// Error is the failure, without secrets (as printed after `bbkey: error:`).
	Error string `json:"error,omitempty"`
	// Scheduled is set when the timer started the run.
	Scheduled bool `json:"scheduled,omitempty"`
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

// AddRotation appends r to the history, dropping the oldest entries beyond MaxHistory.
func (s *State) AddRotation(r Rotation) {
	s.Rotations = append(s.Rotations, r)
	if over := len(s.Rotations) - MaxHistory; over > 0 {
		s.Rotations = slices.Delete(s.Rotations, 0, over)
	}
}

// LastRotation returns the newest history entry for the kind and name ("" matches any
// name).
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
	for k, v := range s.Accounts {
		if v == nil {
			delete(s.Accounts, k)
		}
	}
	for k, v := range s.AccessKeys {
		if v == nil {
			delete(s.AccessKeys, k)
		}
	}
	for url, v := range s.Servers {
		if v == nil {
			delete(s.Servers, url)
			continue
		}
		v.URL = url
		sub := v.View()
		sub.normalize()
		v.Accounts, v.AccessKeys = sub.Accounts, sub.AccessKeys
	}
	if len(s.Servers) == 0 {
		s.Servers = nil
	}
}

// Save writes s to state.json atomically with mode 0600. Hold the state lock (Update does)
// when s came from an earlier Load, or a concurrent run's changes may be lost.
func (d Dir) Save(s *State) error {
	s.Version = Version
	s.normalize()
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding state: %w", err)
	}
	return writePrivate(d.file(StateFile), append(b, '\n'))
}

func writePrivate(path string, b []byte) error {
	if err := fsutil.MkdirPrivate(filepath.Dir(path)); err != nil {
		return fmt.Errorf("creating config directory: %w", err)
	}
	if err := fsutil.WriteFileAtomic(path, b, 0o600); err != nil {
		return fmt.Errorf("saving state: %w", err)
	}
	return nil
}

// Update loads the state under the state lock, lets fn change it, and saves it. When fn
// returns an error nothing is written and the error is returned as is. The lock waits
// until ctx ends.
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
