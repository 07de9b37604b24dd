// Package accesskey is the targets of `bbkey add-access-key`: what the user named,
// expanded (a workspace's repositories; on Data Center every one the token administers)
// and deduplicated, and which an earlier run recorded as done. The adding is provision's
// pipeline.
package accesskey

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/bulk"
	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/provision"
	"github.com/bbkey/bbkey/internal/state"
)

// Spec is what the user asked for: repositories and projects by name, and the
// repositories of a workspace (All, or those matching Query); on Data Center All is every
// repository the credential administers.
type Spec struct {
	Repos      []string // WS/SLUG (Data Center: PROJ/slug)
	Projects   []string // WS/KEY (Data Center: KEY)
	Workspace  string
	All        bool
	Query      string
	DataCenter bool
}

// Parser reads a repository or project as the user names it; backend.Backend is one.
type Parser interface {
	ParsePlace(kind backend.PlaceKind, ref string) (backend.Place, error)
}

// Named returns the targets the spec names directly, in the order given, without
// duplicates. An error names the flag (--repo, --project) of the value it refuses.
func (s Spec) Named(p Parser) ([]state.Target, error) {
	var out []state.Target
	for _, r := range s.Repos {
		pl, err := p.ParsePlace(backend.Repo, strings.TrimSuffix(r, ".git"))
		if err != nil {
			return nil, fmt.Errorf("--repo: %w", err)
		}
		out = append(out, provision.TargetOf(pl))
	}
	for _, ref := range s.Projects {
		pl, err := p.ParsePlace(backend.Project, ref)
		if err != nil {
			return nil, fmt.Errorf("--project: %w", err)
		}
		out = append(out, provision.TargetOf(pl))
	}
	return Dedupe(out), nil
}

// Listing reports whether the spec needs repositories listed: a workspace's on Cloud,
// those the credential administers on Data Center.
func (s Spec) Listing() bool {
	if s.DataCenter {
		return s.All
	}
	return s.Workspace != "" && (s.All || s.Query != "")
}

// Lister lists repositories; backend.Backend is one.
type Lister interface {
	Repos(ctx context.Context, q backend.RepoQuery) iter.Seq2[backend.Place, error]
}

// Expand returns the targets the spec names, then the repositories it lists (those the
// credential administers: adding an access key needs admin), without duplicates
// (Bitbucket names are case-insensitive).
func Expand(ctx context.Context, s Spec, b interface {
	Parser
	Lister
}) ([]state.Target, error) {
	out, err := s.Named(b)
	if err != nil {
		return nil, err
	}
	if !s.Listing() {
		return out, nil
	}
	what := "the repositories of " + s.Workspace
	if s.DataCenter {
		what = "the repositories you administer"
	}
	for p, err := range b.Repos(ctx, backend.RepoQuery{Workspace: s.Workspace, Query: s.Query}) {
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", what, err)
		}
		out = append(out, provision.TargetOf(p))
	}
	return Dedupe(out), nil
}

// Dedupe drops targets naming a repository or project already in the list.
func Dedupe(ts []state.Target) []state.Target {
	out := make([]state.Target, 0, len(ts))
	for _, t := range ts {
		if !slices.ContainsFunc(out, t.Same) {
			out = append(out, t)
		}
	}
	return out
}

// ReadRepoList reads the repositories of --repos-from, one per line: blank lines and '#'
// comments are skipped, and anything after the first word (a list with a second column
// still reads). name labels errors.
func ReadRepoList(r io.Reader, name string, p Parser) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if n == 1 {
			line = strings.TrimPrefix(line, "\ufeff")
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		ref := strings.Fields(line)[0]
		if _, err := p.ParsePlace(backend.Repo, strings.TrimSuffix(ref, ".git")); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, n, err)
		}
		out = append(out, ref)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	return out, nil
}

// Pending is a target still to do.
const Pending provision.Status = "pending"

// Split tells the targets an earlier run recorded for key (same fingerprint, and on Data
// Center the same permission) from those still to do: results has every target in order,
// recorded ones Present, the others Pending (and in pending).
func Split(targets []state.Target, key *state.AccessKey, fingerprint string) (results []Result, pending []state.Target) {
	for _, t := range targets {
		if key != nil && bbapi.SameFingerprint(key.Fingerprint, fingerprint) {
			if rec, ok := key.Target(t); ok && rec.Permission == t.Permission {
				results = append(results, Result{Target: t, Status: provision.Present, KeyID: rec.KeyID, Recorded: true})
				continue
			}
		}
		results = append(results, Result{Target: t, Status: Pending})
		pending = append(pending, t)
	}
	return results, pending
}

// Result is the outcome for one target.
type Result struct {
	Target state.Target
	// Status is the pipeline's; Present also for a target an earlier run recorded.
	Status provision.Status
	// KeyID is the id Bitbucket gave the key on the target.
	KeyID string
	// Err is why the target failed.
	Err error
	// Recorded is set when an earlier run recorded the target as done: no call was made.
	Recorded bool
	// Added is when the target was done.
	Added time.Time
}

// WithPermission returns the targets with the permission the key is to get on each, on
// Data Center, which the state records with them: a target done read-only is not done
// for --write. On Cloud, whose access keys only read, the targets come back unchanged.
func WithPermission(ts []state.Target, kind backend.Kind, write bool) []state.Target {
	if kind != backend.DataCenter {
		return ts
	}
	out := make([]state.Target, len(ts))
	for i, t := range ts {
		t.Permission = string(provision.Permission(backend.PlaceKind(t.Kind), write))
		out[i] = t
	}
	return out
}

// Line is how the progress display (bulk.Progress) shows one finished target.
func Line(r Result) bulk.Line {
	ref := r.Target.Ref()
	if r.Target.Kind == state.TargetProject {
		ref = "project " + ref
	}
	l := bulk.Line{Mark: iostreams.MarkOK, Text: ref, Count: true}
	switch r.Status {
	case provision.Added:
		l.Text += ": added"
	case provision.Present:
		l.Text += ": already present"
	case provision.Failed:
		l.Mark, l.Text = iostreams.MarkFail, ref+": "+bulk.Describe(r.Err)
	case provision.Skipped:
		l.Mark, l.Text, l.Count = iostreams.MarkWarn, ref+": interrupted, not recorded", false
	}
	return l
}
