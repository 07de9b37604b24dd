package rotate

import (
	"context"
	"errors"
	"fmt"

	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/provision"

	"github.com/bbkey/bbkey/internal/hostkeys"
	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/keys"
)

// prove shows the successor works before anything relies on it: an SSH handshake with it
// alone, and for an access key a real `git ls-remote` on one of its repositories.
func (e *Engine) prove(ctx context.Context, s *subject, k *keys.Key, out *Outcome) error {
	at := s.ssh
	if at == nil {
		var err error
		if at, err = s.b.SSH(ctx); err != nil {
			return fmt.Errorf("finding %s's SSH server: %w", s.b.Describe(), err)
		}
	}
	kh := hostkeys.Path(e.SSHDir)
	w, err := hostkeys.Write(ctx, kh, at.Pins, false)
	if err != nil {
		return fmt.Errorf("writing pinned host keys: %w", err)
	}
	if w.Changed {
		out.changed(kh)
	}
	v, err := hostkeys.NewVerifier(kh, at.Host)
	if err != nil {
		return err
	}
	h := &provision.Handshake{SSH: at, Verifier: v, Trace: e.Trace}
	if err := h.Prove(ctx, k, nil); err != nil {
		return err
	}
	e.IO.Step(iostreams.MarkOK, "proved it over SSH: %s accepted %s", at.Endpoint, h.Result.Fingerprint)
	if s.kind != state.RotateAccessKeys {
		return nil
	}
	// The one git proof (provision.Proof), through a private agent holding only the
	// successor: the user's agent and ~/.ssh/config are not consulted, so nothing else
	// can make it pass.
	var places []backend.Place
	for _, p := range s.places(nil) {
		places = append(places, p.Place)
	}
	repo, err := provision.ProofTarget(ctx, s.b, places)
	if errors.Is(err, provision.ErrNoRepository) {
		e.IO.Step(iostreams.MarkWarn, "no repository to run git ls-remote on (only empty projects): the handshake is the proof")
		return nil
	}
	if err != nil {
		return err
	}
	_, err = provision.Proof{Git: e.Git, Target: repo, ReadOnly: true, DataCenter: s.b.Kind() == backend.DataCenter,
		Endpoint: at.Endpoint, HostKeyAlias: at.Host, KnownHosts: hostkeys.Render(at.Pins), KeyPath: k.Path, Private: k.Private,
		ReadHint: "the old key is kept; check the endpoint and re-run with --debug"}.Run(ctx)
	if err != nil {
		return fmt.Errorf("git ls-remote %s with the new key: %w", repo.Ref(), err)
	}
	e.IO.Step(iostreams.MarkOK, "git ls-remote %s works with it", repo.Ref())
	return nil
}
