// Package audit is `bbkey audit`: every access key across a Bitbucket workspace, who can
// read what, and what is stale.
//
// It has three parts. Collect lists the workspace's repositories and projects, then the
// access keys of each (one call per repository and per project, following `next`) on
// internal/bulk's pool, keeping every answer in a cache (cache.go) so a run cut short by
// --max-wait or a 429 is finished by running it again, and no repository is listed twice
// within --max-age. Judge groups the placements by fingerprint and flags each key against
// its own bbkey label (internal/keylabel: `bbkey:<name>:<date>:ttl=…`) and the run's
// policy. Revoke deletes the flagged placements the user asked for, never the one this
// machine still needs unless forced, and records each deletion in bbkey's state.
//
// A Source is the Bitbucket it reads: Cloud (a workspace) or DataCenter (a server, every
// repository and project the credential administers there). The cache, judging, output
// and revocation are the same for both.
package audit

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/internal/keylabel"
	"github.com/bbkey/bbkey/internal/state"
)

// Flag is one reason a key needs attention.
type Flag string

// The flags, in the order they are shown. FlagThisMachine marks a key this machine uses:
// it is information, not a problem, so it alone never makes a key flagged.
const (
	FlagPastTTL     Flag = "past-ttl"     // older than the ttl in its own bbkey label
	FlagUnused      Flag = "unused"       // not used for --unused-for (or never, since added)
	FlagOlderThan   Flag = "older-than"   // older than --older-than
	FlagWide        Flag = "wide"         // reaches more than --wide repositories
	FlagForeign     Flag = "foreign"      // not made by bbkey (no bbkey: label)
	FlagThisMachine Flag = "this-machine" // this machine's bbkey list knows the key
)

// AllFlags lists every flag in display order.
var AllFlags = []Flag{FlagPastTTL, FlagUnused, FlagOlderThan, FlagWide, FlagForeign, FlagThisMachine}

// Policy is what the run judges keys against.
type Policy struct {
	// OlderThan flags keys older than this (0: never).
	OlderThan time.Duration
	// UnusedFor flags keys not used for this long (0: never).
	UnusedFor time.Duration
	// Wide flags keys that reach more than this many repositories.
	Wide int
}

// Placement is one access key on one repository or project, as Bitbucket listed it.
type Placement struct {
	Target   state.Target `json:"target"`
	ID       bbapi.ID     `json:"id"`
	Key      string       `json:"key"` // authorized_keys form, as Bitbucket returns it
	Label    string       `json:"label,omitempty"`
	Comment  string       `json:"comment,omitempty"`
	AddedOn  time.Time    `json:"added_on,omitzero"`
	LastUsed time.Time    `json:"last_used,omitzero"`
	// Self is the key's links.self.href, used to delete it.
	Self string `json:"self,omitempty"`
	// Permission is what a Data Center access key may do (REPO_READ, REPO_WRITE,
	// PROJECT_READ, PROJECT_WRITE); "" on Cloud, whose access keys only read.
	Permission string `json:"permission,omitempty"`
}

// Fingerprint is the placement's key fingerprint, "SHA256:…".
func (p Placement) Fingerprint() string { return bbapi.NormalizeFingerprint(fingerprintOf(p.Key)) }

func fingerprintOf(key string) string {
	fp, err := bbapi.FingerprintOf(key)
	if err != nil {
		return ""
	}
	return fp
}

// Key is one public key wherever it sits in the workspace, judged.
type Key struct {
	Fingerprint string
	Type        string
	// Label is the bbkey label when any placement has one, else the first label seen.
	Label   string
	Comment string
	// Managed is set for keys bbkey made (a `bbkey:` label); Name and TTL come from it.
	Managed bool
	Name    string
	TTL     time.Duration
	// Created is the label's date for managed keys, else the earliest added_on.
	Created time.Time
	// LastUsed is the latest use on any placement; zero when never used.
	LastUsed time.Time
	// Repos and Projects are the refs (WS/SLUG, WS/KEY) the key is on, sorted.
	Repos    []string
	Projects []string
	// Reach counts the repositories the key can read: its own, and every repository of
	// the projects it is on.
	Reach      int
	Placements []Placement
	Flags      []Flag
}

// Has reports whether the key carries flag f.
func (k *Key) Has(f Flag) bool { return slices.Contains(k.Flags, f) }

// Flagged reports whether the key needs attention: any flag but FlagThisMachine.
func (k *Key) Flagged() bool {
	return slices.ContainsFunc(k.Flags, func(f Flag) bool { return f != FlagThisMachine })
}

// Stale reports whether a flag says the key should go: past its ttl, unused, older than
// the policy, or too wide. Being foreign, or this machine's, says who made or uses a key,
// not that it should go, so --revoke-flagged never deletes a key for that alone.
func (k *Key) Stale() bool {
	return slices.ContainsFunc(k.Flags, func(f Flag) bool { return f != FlagThisMachine && f != FlagForeign })
}

// Age is how old the key is at now; 0 when its creation is unknown.
func (k *Key) Age(now time.Time) time.Duration {
	if k.Created.IsZero() {
		return 0
	}
	return max(now.Sub(k.Created), 0)
}

// Judge groups placements by fingerprint and flags each key. projectRepos gives the
// repositories of each project ref (for the reach of project keys); local holds the
// fingerprints this machine knows ("SHA256:…"). Keys come back sorted: bbkey's first by
// label, then the foreign ones by fingerprint.
func Judge(placements []Placement, projectRepos map[string][]string, local map[string]bool, p Policy, now time.Time) []*Key {
	byFP := map[string]*Key{}
	var order []string
	for _, pl := range placements {
		fp := pl.Fingerprint()
		if fp == "" {
			// Never seen from Bitbucket, but an audit must not drop what it cannot read:
			// the placement stands alone, named by where it is.
			fp = "unreadable key " + pl.Target.Key() + "#" + pl.ID.String()
		}
		k, ok := byFP[fp]
		if !ok {
			k = &Key{Fingerprint: fp, Type: keyType(pl.Key)}
			byFP[fp] = k
			order = append(order, fp)
		}
		k.Placements = append(k.Placements, pl)
	}
	out := make([]*Key, 0, len(order))
	for _, fp := range order {
		k := byFP[fp]
		derive(k, projectRepos)
		k.Flags = flags(k, local, p, now)
		out = append(out, k)
	}
	slices.SortFunc(out, compareKeys)
	return out
}

func keyType(authorized string) string {
	t, _, _ := strings.Cut(strings.TrimSpace(authorized), " ")
	return t
}

// derive fills the label, ownership, dates and places of a key from its placements.
func derive(k *Key, projectRepos map[string][]string) {
	slices.SortFunc(k.Placements, func(a, b Placement) int {
		return cmp.Or(strings.Compare(a.Target.Key(), b.Target.Key()), cmp.Compare(a.ID, b.ID))
	})
	reach := map[string]bool{}
	var earliest time.Time
	for _, pl := range k.Placements {
		if l, ok := keylabel.Parse(pl.Label); ok && !k.Managed {
			k.Managed, k.Label, k.Name, k.TTL, k.Created = true, pl.Label, l.Name, l.TTL, l.Created
		}
		k.Label = cmp.Or(k.Label, pl.Label)
		k.Comment = cmp.Or(k.Comment, pl.Comment)
		if pl.LastUsed.After(k.LastUsed) {
			k.LastUsed = pl.LastUsed
		}
		if !pl.AddedOn.IsZero() && (earliest.IsZero() || pl.AddedOn.Before(earliest)) {
			earliest = pl.AddedOn
		}
		ref := pl.Target.Ref()
		if pl.Target.Kind == state.TargetProject {
			k.Projects = appendUnique(k.Projects, ref)
			for _, r := range projectRepos[strings.ToLower(ref)] {
				reach[strings.ToLower(r)] = true
			}
			continue
		}
		k.Repos = appendUnique(k.Repos, ref)
		reach[strings.ToLower(ref)] = true
	}
	if !k.Managed {
		k.Created = earliest
	}
	k.Reach = len(reach)
}

func appendUnique(s []string, v string) []string {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}

// flags judges a key: its own ttl first (the label's policy), then the run's.
func flags(k *Key, local map[string]bool, p Policy, now time.Time) []Flag {
	var out []Flag
	age := k.Age(now)
	if k.Managed && (keylabel.Age{Created: k.Created, Policy: k.TTL}).Overdue(now) {
		out = append(out, FlagPastTTL)
	}
	if p.UnusedFor > 0 {
		since := k.LastUsed
		if since.IsZero() {
			since = k.Created // never used: idle since it was made
		}
		if !since.IsZero() && now.Sub(since) > p.UnusedFor {
			out = append(out, FlagUnused)
		}
	}
	if p.OlderThan > 0 && !k.Created.IsZero() && age > p.OlderThan {
		out = append(out, FlagOlderThan)
	}
	if k.Reach > p.Wide {
		out = append(out, FlagWide)
	}
	if !k.Managed {
		out = append(out, FlagForeign)
	}
	if local[k.Fingerprint] {
		out = append(out, FlagThisMachine)
	}
	return out
}

func compareKeys(a, b *Key) int {
	if a.Managed != b.Managed {
		if a.Managed {
			return -1
		}
		return 1
	}
	if a.Managed {
		if c := strings.Compare(a.Label, b.Label); c != 0 {
			return c
		}
	}
	return strings.Compare(a.Fingerprint, b.Fingerprint)
}

// Summary counts keys by flag.
type Summary struct {
	Keys    int
	Flagged int
	ByFlag  map[Flag]int
}

// Summarize counts the keys, the flagged ones, and each flag.
func Summarize(keys []*Key) Summary {
	s := Summary{Keys: len(keys), ByFlag: map[Flag]int{}}
	for _, f := range AllFlags {
		s.ByFlag[f] = 0
	}
	for _, k := range keys {
		if k.Flagged() {
			s.Flagged++
		}
		for _, f := range k.Flags {
			s.ByFlag[f]++
		}
	}
	return s
}
