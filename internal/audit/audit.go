// Package audit is `bbkey audit`: every access key across a workspace (Cloud) or server
// (Data Center), grouped by key and judged. Collect lists every repository's and
// project's access keys through a cache (cache.go), so a run cut short is finished by
// running it again; Judge flags each key against its own bbkey label and the run's
// policy; Revoke deletes the flagged placements asked for and records them in the state.
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

// The flags, the reasons a key needs attention, in the order they are shown.
const (
	FlagPastTTL   = "past-ttl"   // older than the ttl in its own bbkey label
	FlagUnused    = "unused"     // not used for --unused-for (or never, since added)
	FlagOlderThan = "older-than" // older than --older-than
	FlagWide      = "wide"       // reaches more than --wide repositories
	FlagForeign   = "foreign"    // not made by bbkey (no bbkey: label)
	// FlagThisMachine is information, not a problem: alone it never makes a key flagged.
	FlagThisMachine = "this-machine"
)

// AllFlags lists every flag in display order.
var AllFlags = []string{FlagPastTTL, FlagUnused, FlagOlderThan, FlagWide, FlagForeign, FlagThisMachine}

// Policy is what the run judges keys against; 0 turns OlderThan and UnusedFor off.
type Policy struct {
	OlderThan, UnusedFor time.Duration
	Wide                 int
}

// Placement is one access key on one repository or project, as Bitbucket listed it.
type Placement struct {
	Target   state.Target `json:"target"`
	ID       bbapi.ID     `json:"id"`
	Key      string       `json:"key"` // authorized_keys form
	Label    string       `json:"label,omitempty"`
	Comment  string       `json:"comment,omitempty"`
	AddedOn  time.Time    `json:"added_on,omitzero"`
	LastUsed time.Time    `json:"last_used,omitzero"`
	// Permission is a Data Center access key's (REPO_WRITE, …); "" on Cloud.
	Permission string `json:"permission,omitempty"`
}

// Key is one public key wherever it sits, judged.
type Key struct {
	Fingerprint, Type string
	// Label is the bbkey label when any placement has one, else the first label seen.
	Label, Comment string
	// Managed is set for keys bbkey made (a `bbkey:` label); Name and TTL come from it.
	Managed bool
	Name    string
	TTL     time.Duration
	// Created is the label's date for managed keys, else the earliest added_on.
	Created time.Time
	// LastUsed is the latest use on any placement; zero when never used.
	LastUsed time.Time
	// Repos and Projects are the refs the key is on, sorted.
	Repos, Projects []string
	// Reach counts the repositories the key can read: its own, and every repository of
	// the projects it is on.
	Reach      int
	Placements []Placement
	Flags      []string
}

// Has reports whether the key carries flag f.
func (k *Key) Has(f string) bool { return slices.Contains(k.Flags, f) }

// Flagged reports whether the key needs attention: any flag but FlagThisMachine.
func (k *Key) Flagged() bool {
	return slices.ContainsFunc(k.Flags, func(f string) bool { return f != FlagThisMachine })
}

// Stale reports whether a flag says the key should go. Being foreign, or this machine's,
// says who made or uses a key, not that it should go, so --revoke-flagged never deletes a
// key for that alone.
func (k *Key) Stale() bool {
	return slices.ContainsFunc(k.Flags, func(f string) bool { return f != FlagThisMachine && f != FlagForeign })
}

// Age is how old the key is at now; 0 when its creation is unknown.
func (k *Key) Age(now time.Time) time.Duration {
	if k.Created.IsZero() {
		return 0
	}
	return max(now.Sub(k.Created), 0)
}

// Judge groups placements by fingerprint and flags each key. projectRepos gives the
// repositories of each lower-case project ref; local holds the fingerprints this machine
// knows. Keys come back sorted: bbkey's first by label, then the foreign ones by
// fingerprint.
func Judge(placements []Placement, projectRepos map[string][]string, local map[string]bool, p Policy, now time.Time) []*Key {
	byFP := map[string]*Key{}
	var out []*Key
	for _, pl := range placements {
		fp, err := bbapi.FingerprintOf(pl.Key)
		if fp = bbapi.NormalizeFingerprint(fp); err != nil || fp == "" {
			// An audit must not drop what it cannot read: it stands alone, named by where it is.
			fp = "unreadable key " + pl.Target.Key() + "#" + pl.ID.String()
		}
		k := byFP[fp]
		if k == nil {
			t, _, _ := strings.Cut(strings.TrimSpace(pl.Key), " ")
			k = &Key{Fingerprint: fp, Type: t, Repos: []string{}, Projects: []string{}}
			byFP[fp] = k
			out = append(out, k)
		}
		k.Placements = append(k.Placements, pl)
	}
	for _, k := range out {
		derive(k, projectRepos)
		k.Flags = flags(k, local, p, now)
	}
	slices.SortFunc(out, func(a, b *Key) int {
		switch {
		case a.Managed && !b.Managed:
			return -1
		case b.Managed && !a.Managed:
			return 1
		case a.Managed:
			return cmp.Or(strings.Compare(a.Label, b.Label), strings.Compare(a.Fingerprint, b.Fingerprint))
		}
		return strings.Compare(a.Fingerprint, b.Fingerprint)
	})
	return out
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
			if !slices.Contains(k.Projects, ref) {
				k.Projects = append(k.Projects, ref)
			}
			for _, r := range projectRepos[strings.ToLower(ref)] {
				reach[strings.ToLower(r)] = true
			}
			continue
		}
		if !slices.Contains(k.Repos, ref) {
			k.Repos = append(k.Repos, ref)
		}
		reach[strings.ToLower(ref)] = true
	}
	if !k.Managed {
		k.Created = earliest
	}
	k.Reach = len(reach)
}

// flags judges a key: its own ttl first (the label's policy), then the run's.
func flags(k *Key, local map[string]bool, p Policy, now time.Time) []string {
	out := []string{}
	if k.Managed && (keylabel.Age{Created: k.Created, Policy: k.TTL}).Overdue(now) {
		out = append(out, FlagPastTTL)
	}
	since := k.LastUsed
	if since.IsZero() {
		since = k.Created // never used: idle since it was made
	}
	if p.UnusedFor > 0 && !since.IsZero() && now.Sub(since) > p.UnusedFor {
		out = append(out, FlagUnused)
	}
	if p.OlderThan > 0 && !k.Created.IsZero() && k.Age(now) > p.OlderThan {
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

// Summarize counts the flagged keys, and the keys with each flag.
func Summarize(keys []*Key) (flagged int, byFlag map[string]int) {
	byFlag = map[string]int{}
	for _, f := range AllFlags {
		byFlag[f] = 0
	}
	for _, k := range keys {
		if k.Flagged() {
			flagged++
		}
		for _, f := range k.Flags {
			byFlag[f]++
		}
	}
	return flagged, byFlag
}
