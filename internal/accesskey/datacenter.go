// Data Center: names (PROJ/slug, ~user/slug, a project by its bare key), --all as every
// repository the credential administers, access keys that may write, and a look before
// each add where the key may already be there.

package accesskey

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"strings"

	"github.com/bbkey/bbkey/bbapi/dc"
	"github.com/bbkey/bbkey/internal/state"
)

// namedDataCenter parses the spec's names the Data Center way: a repository is
// PROJ/slug (~user/slug for a personal one), a project its bare key.
func (s Spec) namedDataCenter() ([]state.Target, error) {
	var out []state.Target
	for _, r := range s.Repos {
		proj, slug, err := dc.ParseRepoName(strings.TrimSuffix(r, ".git"))
		if err != nil {
			return nil, &nameError{err, "give the project key and the repository slug from the repository's URL, e.g. --repo OPS/api, or ~user/slug for a personal repository"}
		}
		out = append(out, state.Target{Kind: state.TargetRepo, Workspace: proj, Slug: slug})
	}
	for _, p := range s.Projects {
		p = strings.TrimSpace(p)
		if p == "" || strings.ContainsAny(p, "/ ") {
			return nil, &nameError{fmt.Errorf("project %q is not a Data Center project key", p),
				"on Data Center a project is named by its key alone, e.g. --project OPS"}
		}
		out = append(out, state.Target{Kind: state.TargetProject, Slug: p})
	}
	return Dedupe(out), nil
}

// nameError is a malformed name with the hint that shows the form (the errkind hint
// contract).
type nameError struct {
	err  error
	hint string
}

func (e *nameError) Error() string   { return e.err.Error() }
func (e *nameError) Unwrap() error   { return e.err }
func (e *nameError) Hints() []string { return []string{e.hint} }

// Permission is the Data Center permission the key gets on t: read unless write.
func Permission(t state.Target, write bool) dc.Permission {
	switch {
	case t.Kind == state.TargetProject && write:
		return dc.ProjectWrite
	case t.Kind == state.TargetProject:
		return dc.ProjectRead
	case write:
		return dc.RepoWrite
	}
	return dc.RepoRead
}

// WithPermission returns the targets with the permission the key is to get on each,
// which the state records with them: a target done read-only is not done for --write.
func WithPermission(ts []state.Target, write bool) []state.Target {
	out := make([]state.Target, len(ts))
	for i, t := range ts {
		t.Permission = string(Permission(t, write))
		out[i] = t
	}
	return out
}

// DCLister lists the repositories a Data Center credential can see; *dc.RepositoriesService
// is one.
type DCLister interface {
	List(ctx context.Context, opts dc.ListRepositoriesOptions) iter.Seq2[*dc.Repository, error]
}

// ExpandDataCenter returns the targets of a Data Center spec: those it names, then with
// All every repository the credential administers (REPO_ADMIN, which adding an access key
// needs), paged with start and limit until the server says isLastPage. Duplicates are
// dropped, keeping the first.
func ExpandDataCenter(ctx context.Context, s Spec, l DCLister) ([]state.Target, error) {
	out, err := s.Named()
	if err != nil {
		return nil, err
	}
	if !s.All {
		return out, nil
	}
	for r, err := range l.List(ctx, dc.ListRepositoriesOptions{Permission: dc.RepoAdmin}) {
		if err != nil {
			return nil, fmt.Errorf("listing the repositories you administer: %w", err)
		}
		if r.ProjectKey() == "" || r.Slug == "" {
			return nil, fmt.Errorf("listing the repositories you administer: the server sent a repository without a project key or slug (%q)", r.FullName())
		}
		out = append(out, state.Target{Kind: state.TargetRepo, Workspace: r.ProjectKey(), Slug: r.Slug})
	}
	return Dedupe(out), nil
}

// DataCenter adds a key as an access key to Data Center repositories and projects: one
// POST per target. A POST of a key the target already has changes the key's permission
// there, so where the key may already be there (Look: this run did not make it) the
// target's access keys are listed first, and the key is posted only when it is missing
// or is to gain write; a key that may write where read-only was asked is left alone and
// reported (*PermissionMismatchError).
type DataCenter struct {
	Client *dc.Client
	// Key is the public key as an authorized_keys line.
	Key         string
	Label       string
	Fingerprint string
	Look        bool
}

// Add implements Adder. t.Permission is the permission asked for (read when empty).
func (d DataCenter) Add(ctx context.Context, t state.Target) (string, bool, error) {
	want := dc.Permission(t.Permission)
	if want == "" {
		want = Permission(t, false)
	}
	if d.Look {
		var (
			k   *dc.AccessKey
			err error
		)
		switch t.Kind {
		case state.TargetRepo:
			k, err = d.Client.RepoAccessKeys.FindByFingerprint(ctx, t.Workspace, t.Slug, d.Fingerprint)
		case state.TargetProject:
			k, err = d.Client.ProjectAccessKeys.FindByFingerprint(ctx, t.Slug, d.Fingerprint)
		default:
			return "", false, errors.New("unknown target kind " + string(t.Kind))
		}
		if err != nil {
			return "", false, err
		}
		if k != nil {
			id := strconv.Itoa(k.Key.ID)
			switch {
			case k.Permission == want:
				return id, true, nil
			case isWrite(k.Permission) && !isWrite(want):
				return id, false, &PermissionMismatchError{Target: t, Has: k.Permission, Want: want}
			}
			// Read, and write is asked for: the POST below raises it.
		}
	}
	opts := dc.AddAccessKeyOptions{Text: d.Key, Label: d.Label, Permission: want}
	var (
		k   *dc.AccessKey
		err error
	)
	switch t.Kind {
	case state.TargetRepo:
		k, _, err = d.Client.RepoAccessKeys.Add(ctx, t.Workspace, t.Slug, opts)
	case state.TargetProject:
		k, _, err = d.Client.ProjectAccessKeys.Add(ctx, t.Slug, opts)
	default:
		return "", false, errors.New("unknown target kind " + string(t.Kind))
	}
	if err != nil {
		return "", false, err
	}
	return strconv.Itoa(k.Key.ID), false, nil
}

func isWrite(p dc.Permission) bool { return p == dc.RepoWrite || p == dc.ProjectWrite }

// PermissionMismatchError is a target that already has the key with write permission
// where a read-only run asked for read: bbkey never lowers a permission (a build that
// pushes would break), nor reports a key that may write as read-only.
type PermissionMismatchError struct {
	Target    state.Target
	Has, Want dc.Permission
}

func (e *PermissionMismatchError) Error() string {
	return fmt.Sprintf("%s already has the key with %s, not %s as asked: bbkey does not lower a key's permission; remove the access key there first, or add --write", e.Target.Ref(), e.Has, e.Want)
}
