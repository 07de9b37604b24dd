package provision

import (
	"context"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/hostkeys"
	"github.com/bbkey/bbkey/internal/sshproof"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/keys"
)

// Handshake proves an account key: an SSH handshake with the Bitbucket's endpoint, its
// host key checked against the pins (or, with Verifier, against the pinned-keys file as
// written: setup proves the file too), with the key alone (its private half in memory,
// or Signer: the agent's entry for it).
type Handshake struct {
	SSH      *backend.SSH
	Verifier *hostkeys.Verifier
	Signer   ssh.Signer
	Trace    io.Writer
	// Result is what the proof saw, once it passed.
	Result *sshproof.Result
}

// Prove is a Pipeline.Proof.
func (h *Handshake) Prove(ctx context.Context, k *keys.Key, _ []Placed) error {
	signer := h.Signer
	if signer == nil {
		if k.Signer == nil {
			return fmt.Errorf("proving the key %s: its private half is not unlocked", k.Fingerprint)
		}
		signer = k.Signer
	}
	opts := sshproof.Options{
		Endpoint:     h.SSH.Endpoint,
		HostKeyAlias: h.SSH.Host,
		// Without a Verifier (no bbkey known_hosts to read) the system-wide @revoked lines
		// still apply, as they do for ssh.
		HostKeyCallback:   h.SSH.Pins.Guard(h.SSH.Pins.HostKeyCallback(h.SSH.Endpoint), ""),
		HostKeyAlgorithms: hostkeys.HostKeyAlgorithms(h.SSH.Pins.Keys),
		Signer:            signer,
		Trace:             h.Trace,
	}
	if h.Verifier != nil {
		opts.HostKeyCallback, opts.HostKeyAlgorithms = h.Verifier.HostKeyCallback(), h.Verifier.HostKeyAlgorithms()
	}
	res, err := sshproof.Prove(ctx, opts)
	if err != nil {
		return fmt.Errorf("proving the key over SSH with %s: %w", h.SSH.Endpoint, err)
	}
	h.Result = &res
	return nil
}

// ErrNoRepository is ProofTarget's answer when no place is a repository and every
// project is empty: there is nothing to run git on.
var ErrNoRepository = errors.New("nothing to verify: no repository has the key")

// ProofTarget picks the repository a git proof runs on: the first repository among
// places, else the first repository of the first project that has one (one listing
// call per project looked at).
func ProofTarget(ctx context.Context, b backend.Backend, places []backend.Place) (state.Target, error) {
	for _, p := range places {
		if p.Kind == backend.Repo {
			return TargetOf(p), nil
		}
	}
	for _, p := range places {
		for repo, err := range b.Repos(ctx, backend.RepoQuery{Project: &p}) {
			if err != nil {
				return state.Target{}, errkind.VerifyError(fmt.Errorf("finding a repository of project %s: %w", p, err))
			}
			return TargetOf(repo), nil
		}
	}
	return state.Target{}, errkind.VerifyError(ErrNoRepository)
}

// TargetOf is the state's record of a place.
func TargetOf(p backend.Place) state.Target {
	return state.Target{Kind: state.TargetKind(p.Kind), Workspace: p.Owner, Slug: p.Slug}
}

// PlaceOf is the place a target names.
func PlaceOf(t state.Target) backend.Place {
	return backend.Place{Kind: backend.PlaceKind(t.Kind), Owner: t.Workspace, Slug: t.Slug}
}
