// Package inventory finds every SSH key bbkey can see and joins the sightings by
// fingerprint: key files in the ssh directory, the agent's entries, the keys bbkey's state
// records, the account keys on each Bitbucket (Cloud and Data Center, through
// internal/backend) and the access keys of the places asked about. list, remove, audit
// and doctor read it. Each key's label, age and policy are read from Bitbucket first and
// the state second (keylabel.AgeOf).
package inventory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/bbkey/bbkey/agent"
	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/keylabel"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/keys"
)

// Statuses a key can have; a key may have several.
const (
	StatusOK           = "ok"
	StatusNoLocalFile  = "on Bitbucket but no local file"
	StatusLocalOnly    = "local only"
	StatusAgentOnly    = "agent only"
	StatusExpired      = "expired"
	StatusOlderThan    = "older than policy"
	StatusNotOnAccount = "not checked on Bitbucket"
)

// LocalFile is a key file in the ssh directory.
type LocalFile struct {
	// Path is the private key, or the .pub file when it has no private key beside it.
	Path        string
	Private     bool
	Fingerprint string
	Type        string
	Comment     string
	// Bbkey is set for bbkey's own files (bbkey_<name>_ed25519, bbkey_access_<name>_ed25519).
	Bbkey bool
}

// LocalFiles lists the keys in sshDir: bbkey's private keys and every other *.pub (not
// moved-aside copies, not the bbkey/ subdirectory), sorted by path. Files that cannot be
// read are reported in the second result.
func LocalFiles(sshDir string) ([]LocalFile, []error) {
	var out []LocalFile
	var errs []error
	seen := map[string]bool{}
	local, err := keys.Local(sshDir)
	if err != nil {
		return nil, []error{err}
	}
	for _, lk := range local {
		k := lk.Key
		if lk.Err != nil || k == nil {
			// A permission problem must not hide the key: read its .pub alone.
			var perr error
			if k, perr = ReadPub(lk.Path + keys.PublicSuffix); perr != nil {
				errs = append(errs, fmt.Errorf("%s: %w", lk.Path, cmp.Or(lk.Err, perr)))
				continue
			}
		}
		out = append(out, LocalFile{Path: lk.Path, Private: true, Fingerprint: k.Fingerprint, Type: k.PublicKey.Type(), Comment: k.Comment, Bbkey: true})
		seen[lk.Path+keys.PublicSuffix] = true
	}
	ents, err := os.ReadDir(sshDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), keys.PublicSuffix) {
			continue
		}
		p := filepath.Join(sshDir, e.Name())
		if seen[p] {
			continue
		}
		pk, err := ReadPub(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
			continue
		}
		lf := LocalFile{Path: p, Fingerprint: pk.Fingerprint, Type: pk.PublicKey.Type(), Comment: pk.Comment}
		if priv := strings.TrimSuffix(p, keys.PublicSuffix); fileExists(priv) {
			lf.Path, lf.Private = priv, true
		}
		out = append(out, lf)
	}
	slices.SortFunc(out, func(a, b LocalFile) int { return strings.Compare(a.Path, b.Path) })
	return out, errs
}

// ReadPub reads a .pub file (one public key line).
func ReadPub(path string) (*keys.Key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return keys.ParseAuthorizedKey(data)
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// AccountKey is a key on an account: Bitbucket Cloud's, or a Data Center server's user.
type AccountKey struct {
	// Server is the Data Center server's base URL; "" for Bitbucket Cloud.
	Server string
	// Account names the account (Cloud's nickname, a Data Center user's name).
	Account string
	Key     backend.Key
}

// Access is an access key on one repository or project of one Bitbucket.
type Access struct {
	// Server is the Data Center server's base URL; "" for Bitbucket Cloud.
	Server string
	Place  backend.Place
	Key    backend.Key
}

// Key is one key wherever it was seen.
type Key struct {
	Fingerprint string
	Type        string
	Files       []LocalFile
	// Agent is set when the agent holds the key; AgentComment is its comment there.
	Agent        bool
	AgentComment string
	// Accounts are the key's sightings among account keys, one per Bitbucket (a key may
	// be registered on Cloud and on a Data Center server alike).
	Accounts []AccountKey
	Access   []Access
	// State is the key's entry in bbkey's state; nil when it has none.
	State *Recorded

	// Derived by Gather.
	Label    string
	Created  time.Time
	LastUsed time.Time
	// Policy is the longest the key should live: a year for account keys, the label's
	// ttl for access keys; 0 when none applies.
	Policy   time.Duration
	Statuses []string
}

// Bbkey reports whether the key is bbkey's: a bbkey label, file or state entry.
func (k *Key) Bbkey() bool {
	if strings.HasPrefix(k.Label, keylabel.Prefix) || k.State != nil {
		return true
	}
	return slices.ContainsFunc(k.Files, func(f LocalFile) bool { return f.Bbkey })
}

// Remote is one Bitbucket Gather asks: Cloud, or a Data Center server.
type Remote struct {
	Backend backend.Backend
	// Account selects the account whose keys are listed; nil lists none (an access
	// token, or a Data Center project or repository token, has no keys of its own).
	Account *backend.Account
	// Places are the repositories and projects whose access keys are listed.
	Places []backend.Place
}

// Source is where Gather looks.
type Source struct {
	SSHDir string
	// State is bbkey's state (labels and dates of its keys); nil for none.
	State *state.State
	// Agent is the user's agent; nil when none is reachable.
	Agent agent.Agent
	// Remotes are the Bitbucket accounts and places asked; none leaves Bitbucket out
	// (not logged in anywhere).
	Remotes []Remote
	Now     time.Time
}

// checkedFor reports whether the Bitbucket a key belongs to was asked: the server its
// state entry names (Cloud's for ""), or any Bitbucket for a key the state does not know.
func (s Source) checkedFor(k *Key) bool {
	if k.State == nil {
		return len(s.Remotes) > 0
	}
	return slices.ContainsFunc(s.Remotes, func(r Remote) bool { return r.Backend.Server() == k.State.Server })
}

// Gather collects and joins the keys, sorted: bbkey's keys first by label, then the
// others by where they were seen, then by fingerprint. Problems that leave the picture
// incomplete but usable (an unreadable file, no agent) come back as warnings; a failing
// Bitbucket call is an error.
func Gather(ctx context.Context, src Source) ([]*Key, []string, error) {
	var warnings []string
	byFP := map[string]*Key{}
	get := func(fp, typ string) *Key {
		fp = bbapi.NormalizeFingerprint(fp)
		k, ok := byFP[fp]
		if !ok {
			k = &Key{Fingerprint: fp}
			byFP[fp] = k
		}
		if k.Type == "" {
			k.Type = typ
		}
		return k
	}
	files, errs := LocalFiles(src.SSHDir)
	for _, err := range errs {
		warnings = append(warnings, "skipped a key file: "+err.Error())
	}
	for _, f := range files {
		k := get(f.Fingerprint, f.Type)
		k.Files = append(k.Files, f)
	}
	if src.Agent != nil {
		ids, err := src.Agent.List()
		if err != nil {
			warnings = append(warnings, "the agent did not answer: "+err.Error())
		}
		for _, id := range ids {
			k := get(id.Fingerprint, id.PublicKey.Type())
			k.Agent, k.AgentComment = true, id.Comment
		}
	}
	for _, r := range src.Remotes {
		server := r.Backend.Server()
		if r.Account != nil {
			ks, err := r.Backend.AccountKeys(ctx, r.Account)
			if err != nil {
				return nil, warnings, fmt.Errorf("listing the SSH keys of %s on %s: %w", r.Account.Nickname, r.Backend.Describe(), err)
			}
			for _, ak := range ks {
				k := get(ak.Fingerprint, keyType(ak.Text))
				k.Accounts = append(k.Accounts, AccountKey{Server: server, Account: r.Account.Nickname, Key: ak})
			}
		}
		for _, p := range r.Places {
			ks, err := r.Backend.AccessKeys(ctx, p)
			if err != nil {
				return nil, warnings, fmt.Errorf("listing the access keys of %s %s on %s: %w", p.Kind, p, r.Backend.Describe(), err)
			}
			for _, ak := range ks {
				k := get(ak.Fingerprint, keyType(ak.Text))
				k.Access = append(k.Access, Access{Server: server, Place: p, Key: ak})
			}
		}
	}
	for _, r := range RecordedKeys(src.State) {
		if k, ok := byFP[bbapi.NormalizeFingerprint(r.Fingerprint)]; ok && k.State == nil {
			k.State = &r
		}
	}
	out := make([]*Key, 0, len(byFP))
	for _, k := range byFP {
		derive(k, src)
		out = append(out, k)
	}
	slices.SortFunc(out, compareKeys)
	return out, warnings, nil
}

func keyType(authorized string) string {
	t, _, _ := strings.Cut(strings.TrimSpace(authorized), " ")
	return t
}

// derive fills the label, dates, policy and statuses of a key.
func derive(k *Key, src Source) {
	var rec Recorded
	if k.State != nil {
		rec = *k.State
	}
	// Where the key is seen on a Bitbucket, account keys first: the first label found,
	// the earliest creation, the latest use.
	var sightings []backend.Key
	for _, a := range k.Accounts {
		sightings = append(sightings, a.Key)
	}
	for _, a := range k.Access {
		sightings = append(sightings, a.Key)
	}
	var bbCreated time.Time
	expired := false
	for _, b := range sightings {
		if k.Label == "" {
			k.Label = b.Label
		}
		if bbCreated.IsZero() || (!b.Created.IsZero() && b.Created.Before(bbCreated)) {
			bbCreated = b.Created
		}
		if b.LastUsed.After(k.LastUsed) {
			k.LastUsed = b.LastUsed
		}
		if !b.Expires.IsZero() && !b.Expires.After(src.Now) {
			expired = true
		}
	}
	k.Label = cmp.Or(k.Label, rec.Label)
	age := keylabel.AgeOf(len(k.Accounts) > 0 || rec.Kind == keys.KindAccount, k.Label, bbCreated, rec.Created)
	k.Created, k.Policy = age.Created, age.Policy

	local := slices.ContainsFunc(k.Files, func(f LocalFile) bool { return f.Private })
	onBitbucket := len(sightings) > 0
	var st []string
	if expired {
		st = append(st, StatusExpired)
	}
	if age.Overdue(src.Now) {
		st = append(st, StatusOlderThan)
	}
	switch {
	case onBitbucket && !local:
		st = append(st, StatusNoLocalFile)
	case !onBitbucket && len(k.Files) > 0 && src.checkedFor(k):
		st = append(st, StatusLocalOnly)
	case !onBitbucket && len(k.Files) == 0 && k.Agent:
		st = append(st, StatusAgentOnly)
	case !onBitbucket && !src.checkedFor(k):
		st = append(st, StatusNotOnAccount)
	}
	if len(st) == 0 {
		st = append(st, StatusOK)
	}
	k.Statuses = st
}

func compareKeys(a, b *Key) int {
	ab, bb := a.Bbkey(), b.Bbkey()
	if ab != bb {
		if ab {
			return -1
		}
		return 1
	}
	if ab {
		if c := strings.Compare(a.Label, b.Label); c != 0 {
			return c
		}
	}
	if c := strings.Compare(firstFile(a), firstFile(b)); c != 0 {
		return c
	}
	return strings.Compare(a.Fingerprint, b.Fingerprint)
}

func firstFile(k *Key) string {
	if len(k.Files) > 0 {
		return k.Files[0].Path
	}
	return "~" // after every path: keys without a file come last
}

// Recorded is a key bbkey's state records, on Cloud or a Data Center server.
type Recorded struct {
	// Server is the Data Center server's base URL; "" for Bitbucket Cloud.
	Server                         string
	Kind                           keys.Kind
	Name, Path, Fingerprint, Label string
	Created                        time.Time
	// AccountUUID is the account of an account key; Targets the places of an access key.
	AccountUUID string
	Targets     []state.Target
}

// RecordedKeys lists the keys st records (none for a nil st): account keys first, then by
// server (Cloud first) and name.
func RecordedKeys(st *state.State) []Recorded {
	if st == nil {
		return nil
	}
	var out []Recorded
	for _, server := range st.Bitbuckets() {
		for name, a := range st.AccountsOf(server) {
			out = append(out, Recorded{Server: server, Kind: keys.KindAccount, Name: name, Path: a.KeyPath,
				Fingerprint: a.Fingerprint, Label: a.Label, Created: a.Created, AccountUUID: a.UUID})
		}
		for name, a := range st.AccessKeysOf(server) {
			out = append(out, Recorded{Server: server, Kind: keys.KindAccess, Name: name, Path: a.Path,
				Fingerprint: a.Fingerprint, Label: a.Label, Created: a.Created, Targets: a.Targets})
		}
	}
	slices.SortFunc(out, func(a, b Recorded) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), strings.Compare(a.Server, b.Server), strings.Compare(a.Name, b.Name))
	})
	return out
}
