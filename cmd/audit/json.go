package audit

import (
	"time"

	"github.com/bbkey/bbkey/internal/audit"
	"github.com/bbkey/bbkey/internal/bulk"
	"github.com/bbkey/bbkey/internal/keylabel"
	"github.com/bbkey/bbkey/internal/state"
)

// The --json document; its shape is documented in docs/audit.md and held by
// testdata/audit.json.

type jsonDoc struct {
	Workspace string `json:"workspace"`
	// Server is the Data Center server audited; "" on Cloud.
	Server       string          `json:"server"`
	Query        string          `json:"query"`
	GeneratedAt  time.Time       `json:"generated_at"`
	Policy       jsonPolicy      `json:"policy"`
	Complete     bool            `json:"complete"`
	Repositories int             `json:"repositories"`
	Projects     int             `json:"projects"`
	Listed       int             `json:"listed"`
	Cached       int             `json:"cached"`
	Calls        int             `json:"calls"`
	Keys         []jsonKey       `json:"keys"`
	Summary      jsonSummary     `json:"summary"`
	NotListed    []jsonNotListed `json:"not_listed"`
	Revocation   *jsonRevocation `json:"revocation"`
}

type jsonPolicy struct {
	OlderThanDays int    `json:"older_than_days"`
	UnusedForDays int    `json:"unused_for_days"`
	Wide          int    `json:"wide"`
	MaxAge        string `json:"max_age"`
}

type jsonKey struct {
	Fingerprint  string          `json:"fingerprint"`
	Type         string          `json:"type"`
	Label        string          `json:"label"`
	Comment      string          `json:"comment"`
	Managed      bool            `json:"managed"`
	Name         string          `json:"name,omitempty"`
	TTLDays      *int            `json:"ttl_days"`
	Created      *time.Time      `json:"created"`
	AgeDays      *int            `json:"age_days"`
	LastUsed     *time.Time      `json:"last_used"`
	Repositories []string        `json:"repositories"`
	Projects     []string        `json:"projects"`
	Reach        int             `json:"reach"`
	Placements   []jsonPlacement `json:"placements"`
	Flags        []string        `json:"flags"`
	Flagged      bool            `json:"flagged"`
}

type jsonPlacement struct {
	Kind     state.TargetKind `json:"kind"`
	Target   string           `json:"target"`
	ID       int64            `json:"id"`
	Label    string           `json:"label"`
	AddedOn  *time.Time       `json:"added_on"`
	LastUsed *time.Time       `json:"last_used"`
	// Permission is a Data Center access key's (REPO_READ, REPO_WRITE, PROJECT_READ,
	// PROJECT_WRITE); absent on Cloud, whose access keys only read.
	Permission string `json:"permission,omitempty"`
}

type jsonSummary struct {
	Keys    int            `json:"keys"`
	Flagged int            `json:"flagged"`
	ByFlag  map[string]int `json:"by_flag"`
}

type jsonNotListed struct {
	Kind   state.TargetKind `json:"kind"`
	Target string           `json:"target"`
	Reason string           `json:"reason"`
}

type jsonRevocation struct {
	DryRun  bool          `json:"dry_run"`
	Planned []jsonRevoked `json:"planned"`
	Deleted []jsonRevoked `json:"deleted"`
	Failed  []jsonRevoked `json:"failed"`
	Skipped []jsonRevoked `json:"skipped"`
	Kept    []jsonRevoked `json:"kept"`
}

type jsonRevoked struct {
	Fingerprint string           `json:"fingerprint"`
	Label       string           `json:"label"`
	Kind        state.TargetKind `json:"kind"`
	Target      string           `json:"target"`
	ID          int64            `json:"id"`
	Reason      string           `json:"reason,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func intPtr(n int) *int { return &n }

func (r *run) document() jsonDoc {
	now := r.o.Now()
	flagged, byFlag := audit.Summarize(r.keys)
	d := jsonDoc{
		Workspace: r.plan.Workspace, Server: r.plan.Server, Query: r.plan.Query, GeneratedAt: now.UTC(),
		Policy: jsonPolicy{OlderThanDays: int(r.fl.policy.OlderThan / (24 * time.Hour)), UnusedForDays: int(r.fl.policy.UnusedFor / (24 * time.Hour)),
			Wide: r.fl.policy.Wide, MaxAge: keylabel.FormatAge(r.fl.maxAge)},
		Complete:     r.coll.Complete(),
		Repositories: len(r.plan.Repos), Projects: len(r.plan.Projects),
		Listed: r.coll.Listed, Cached: r.coll.Cached, Calls: r.calls,
		Keys:      []jsonKey{},
		Summary:   jsonSummary{Keys: len(r.keys), Flagged: flagged, ByFlag: byFlag},
		NotListed: []jsonNotListed{},
	}
	for _, k := range r.keys {
		jk := jsonKey{Fingerprint: k.Fingerprint, Type: k.Type, Label: k.Label, Comment: k.Comment, Managed: k.Managed, Name: k.Name,
			Created: timePtr(k.Created), LastUsed: timePtr(k.LastUsed), Repositories: k.Repos, Projects: k.Projects,
			Reach: k.Reach, Placements: []jsonPlacement{}, Flags: k.Flags, Flagged: k.Flagged()}
		if k.TTL > 0 {
			jk.TTLDays = intPtr(int(k.TTL / (24 * time.Hour)))
		}
		if !k.Created.IsZero() {
			jk.AgeDays = intPtr(int(k.Age(now) / (24 * time.Hour)))
		}
		for _, p := range k.Placements {
			jk.Placements = append(jk.Placements, jsonPlacement{Kind: p.Target.Kind, Target: p.Target.Ref(), ID: int64(p.ID), Label: p.Label,
				AddedOn: timePtr(p.AddedOn), LastUsed: timePtr(p.LastUsed), Permission: p.Permission})
		}
		d.Keys = append(d.Keys, jk)
	}
	for _, f := range r.coll.Failed {
		d.NotListed = append(d.NotListed, jsonNotListed{f.Target.Kind, f.Target.Ref(), bulk.Describe(f.Err)})
	}
	for _, t := range r.coll.Skipped {
		reason := "not listed: the run stopped first"
		if r.coll.Stop != nil {
			reason = "not listed: the run stopped first (" + bulk.Describe(r.coll.Stop) + ")"
		}
		d.NotListed = append(d.NotListed, jsonNotListed{t.Kind, t.Ref(), reason})
	}
	if r.revoking {
		d.Revocation = r.revocationDoc()
	}
	return d
}

func (r *run) revocationDoc() *jsonRevocation {
	list := func(ds []audit.Deletion) []jsonRevoked {
		out := []jsonRevoked{}
		for _, d := range ds {
			p := d.Placement
			out = append(out, jsonRevoked{Fingerprint: d.Key.Fingerprint, Label: d.Key.Label, Kind: p.Target.Kind, Target: p.Target.Ref(), ID: int64(p.ID), Reason: d.Reason})
		}
		return out
	}
	rv := &jsonRevocation{DryRun: r.o.DryRun, Planned: list(r.plannedDel), Kept: list(r.kept), Deleted: list(nil), Failed: list(nil), Skipped: list(nil)}
	if r.revoked != nil {
		rv.Deleted, rv.Failed, rv.Skipped = list(r.revoked.Deleted), list(r.revoked.Failed), list(r.revoked.Skipped)
	}
	return rv
}
