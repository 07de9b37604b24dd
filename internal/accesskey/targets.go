// Package accesskey adds one machine's access key to many Bitbucket repositories and
// projects (bbkey add-access-key) within Bitbucket's budget of 1,000 calls an hour.
//
// The call budget decides the design. A target costs one POST and nothing else: there is
// no GET per repository to ask whether the key is already there. Instead the state
// records every target as soon as it is done (with Bitbucket's key id), so an interrupted
// or rate-limited run is finished by running it again, which only does what is missing;
// and a "someone has already added that access key" answer, which costs one listing of
// that repository's keys to learn the id, counts as already done. Workspaces are expanded
// by listing their repositories a hundred at a time.
//
// The package has four parts: targets (what the user named, expanded and deduplicated),
// the engine (one add per target on internal/bulk's pool: bounded concurrency, stopping
// cleanly when the wait budget runs out, batched recording), progress on stderr, and the
// read-only proof over SSH with real git.
package accesskey

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"iter"
	"slices"
	"strings"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/internal/state"
)

// Spec is what the user asked for: repositories and projects by name, and the
// repositories of a workspace (all those the user administers, or those matching a
// Bitbucket filter query). On Data Center names are PROJ/slug and bare project keys, and
// All is every repository the credential administers (no workspace, no query).
type Spec struct {
	Repos      []string // WS/SLUG (Data Center: PROJ/slug, ~user/slug)
	Projects   []string // WS/KEY (Data Center: KEY)
	Workspace  string
	All        bool
	Query      string
	DataCenter bool
}

// Named returns the targets the spec names directly, in the order given, without
// duplicates.
func (s Spec) Named() ([]state.Target, error) {
	if s.DataCenter {
		return s.namedDataCenter()
	}
	var out []state.Target
	for _, r := range s.Repos {
		t, err := state.ParseTarget(state.TargetRepo, strings.TrimSuffix(r, ".git"))
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	for _, p := range s.Projects {
		t, err := state.ParseTarget(state.TargetProject, p)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
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

// Lister lists the repositories of a workspace; *bbapi.RepositoriesService is one.
type Lister interface {
	ListWorkspace(ctx context.Context, workspace string, opts *bbapi.ListRepositoriesOptions) iter.Seq2[*bbapi.Repository, error]
}

// Expand returns the targets of the spec: those it names, then the workspace's
// repositories where the credential is an admin (adding an access key needs admin), all
// of them or those matching Query. Duplicates (Bitbucket names are case-insensitive) are
// dropped, keeping the first.
func Expand(ctx context.Context, s Spec, l Lister) ([]state.Target, error) {
	out, err := s.Named()
	if err != nil {
		return nil, err
	}
	if !s.Listing() {
		return out, nil
	}
	opts := &bbapi.ListRepositoriesOptions{Role: "admin", Query: s.Query}
	for r, err := range l.ListWorkspace(ctx, s.Workspace, opts) {
		if err != nil {
			return nil, fmt.Errorf("listing the repositories of %s: %w", s.Workspace, err)
		}
		ws := r.WorkspaceSlug()
		if ws == "" {
			ws = s.Workspace
		}
		out = append(out, state.Target{Kind: state.TargetRepo, Workspace: ws, Slug: r.RepoSlug()})
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

// ReadRepoList reads the repositories of --repos-from: one WS/SLUG per line; blank lines
// and lines starting with '#' are skipped, and so is anything after whitespace (so a
// list with a second column still reads). name labels errors.
func ReadRepoList(r io.Reader, name string) ([]string, error) {
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
		if _, err := state.ParseTarget(state.TargetRepo, strings.TrimSuffix(ref, ".git")); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, n, err)
		}
		out = append(out, ref)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	return out, nil
}

// Split separates the targets an earlier run recorded for key (same fingerprint, and on
// Data Center the same permission) from those still to do. Recorded targets come back as
// present, with their key id.
func Split(targets []state.Target, key *state.AccessKey, fingerprint string) (done []Result, pending []state.Target) {
	for _, t := range targets {
		if key != nil && bbapi.SameFingerprint(key.Fingerprint, fingerprint) {
			if rec, ok := key.Target(t); ok && rec.Permission == t.Permission {
				done = append(done, Result{Target: t, Status: StatusPresent, KeyID: rec.KeyID, Recorded: true})
				continue
			}
		}
		pending = append(pending, t)
	}
	return done, pending
}
