// What list asks each Bitbucket: Cloud's and every Data Center server's keys, and the
// places of --repo, --project and --workspace.

package list

import (
	"context"
	"fmt"
	"slices"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/inventory"
	"github.com/bbkey/bbkey/internal/settings"
	"github.com/bbkey/bbkey/internal/state"
)

func nickname(a *backend.Account) string {
	if a == nil {
		return ""
	}
	return a.Nickname
}

// servers are the Data Center servers list asks: the selected one, then those bbkey's
// state records keys on, each once.
func servers(selected string, st *state.State) []string {
	var out []string
	if selected != "" {
		out = append(out, selected)
	}
	if st == nil {
		return out
	}
	for _, s := range st.ServerURLs() {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// cloudRemote is Bitbucket Cloud's part of the listing: the account's keys (not for an
// access token, which has none) and, when Cloud is the selected Bitbucket, the places.
func cloudRemote(ctx context.Context, opts *Options, b backend.Backend, rc settings.ResolvedCredential, withPlaces bool) (inventory.Remote, []string, error) {
	r := inventory.Remote{Backend: b}
	var warnings []string
	if rc.Credential != nil && rc.Credential.Kind() == bbapi.KindAccessToken {
		warnings = append(warnings, "the credential is an access token: account keys are not listed")
	} else {
		a, err := b.Whoami(ctx)
		if err != nil {
			return r, nil, fmt.Errorf("reading the Bitbucket account: %w", err)
		}
		r.Account = a
	}
	if !withPlaces {
		return r, warnings, nil
	}
	places, err := parsePlaces(b, opts)
	if err != nil {
		return r, nil, err
	}
	r.Places = places
	if opts.Workspace != "" {
		c := backend.CloudClient(b)
		n := 0
		for repo, err := range c.Repositories.ListWorkspace(ctx, opts.Workspace, &bbapi.ListRepositoriesOptions{Role: "admin"}) {
			if err != nil {
				return r, nil, fmt.Errorf("listing the repositories of %s: %w", opts.Workspace, err)
			}
			r.Places = append(r.Places, backend.Place{Kind: backend.Repo, Owner: repo.WorkspaceSlug(), Slug: repo.RepoSlug()})
			n++
		}
		fmt.Fprintf(opts.IO.ErrOut, "Listing the access keys of %d repositories in %s (%d requests)\n", n, opts.Workspace, n)
	}
	return r, warnings, nil
}

// serverRemote is a Data Center server's part: its user's keys (not for a project or
// repository token, which acts as a service user) and, for the selected server, the
// places.
func serverRemote(ctx context.Context, opts *Options, server string, withPlaces bool) (inventory.Remote, []string, error) {
	b, _, err := opts.Server(ctx, server)
	if err != nil {
		return inventory.Remote{}, nil, err
	}
	r := inventory.Remote{Backend: b}
	var warnings []string
	a, err := b.Whoami(ctx)
	if err != nil {
		return r, nil, fmt.Errorf("reading the user of the token of %s: %w", server, err)
	}
	if a.Service {
		warnings = append(warnings, "the token of "+server+" is a project or repository token: it has no SSH keys of its own, account keys are not listed")
	} else {
		r.Account = a
	}
	if withPlaces {
		if r.Places, err = parsePlaces(b, opts); err != nil {
			return r, nil, err
		}
	}
	return r, warnings, nil
}

// parsePlaces reads --repo and --project the way b names places.
func parsePlaces(b backend.Backend, opts *Options) ([]backend.Place, error) {
	var out []backend.Place
	for _, ref := range opts.Repos {
		p, err := b.ParsePlace(backend.Repo, ref)
		if err != nil {
			return nil, errkind.UsageError(fmt.Errorf("--repo: %w", err))
		}
		out = append(out, p)
	}
	for _, ref := range opts.Projects {
		p, err := b.ParsePlace(backend.Project, ref)
		if err != nil {
			return nil, errkind.UsageError(fmt.Errorf("--project: %w", err))
		}
		out = append(out, p)
	}
	return out, nil
}
