// What list asks each Bitbucket: Cloud's and every Data Center server's keys, and the
// places of --repo, --project and --workspace.

package list

import (
	"context"
	"fmt"
	"slices"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/inventory"
	"github.com/bbkey/bbkey/internal/provision"
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
	for _, s := range st.ServerURLs() {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// remote is one Bitbucket's part of the listing: the account's keys (not for a Cloud
// access token, nor a Data Center project or repository token, which have none) and,
// for the selected Bitbucket, the places: targets and the --workspace's repositories.
func remote(ctx context.Context, opts *Options, b backend.Backend, rc settings.ResolvedCredential, withPlaces bool, targets []state.Target) (inventory.Remote, []string, error) {
	r := inventory.Remote{Backend: b}
	var warnings []string
	if rc.Credential != nil && rc.Credential.Kind() == bbapi.KindAccessToken {
		warnings = append(warnings, "the credential is an access token: account keys are not listed")
	} else if a, err := b.Whoami(ctx); err != nil && b.Server() == "" {
		return r, nil, fmt.Errorf("reading the Bitbucket account: %w", err)
	} else if err != nil {
		return r, nil, fmt.Errorf("reading the user of the token of %s: %w", b.Server(), err)
	} else if a.Service {
		warnings = append(warnings, "the token of "+b.Server()+" is a project or repository token: it has no SSH keys of its own, account keys are not listed")
	} else {
		r.Account = a
	}
	if !withPlaces {
		return r, warnings, nil
	}
	for _, t := range targets {
		r.Places = append(r.Places, provision.PlaceOf(t))
	}
	if opts.Workspace != "" {
		n := 0
		for p, err := range b.Repos(ctx, backend.RepoQuery{Workspace: opts.Workspace}) {
			if err != nil {
				return r, nil, fmt.Errorf("listing the repositories of %s: %w", opts.Workspace, err)
			}
			r.Places = append(r.Places, p)
			n++
		}
		fmt.Fprintf(opts.IO.ErrOut, "Listing the access keys of %d repositories in %s (%d requests)\n", n, opts.Workspace, n)
	}
	return r, warnings, nil
}
