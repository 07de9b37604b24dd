// The ssh side of add-access-key: the pinned host key, the ssh config, and --verify.

package accesskey

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/hostkeys"
	"github.com/bbkey/bbkey/internal/identity"
	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/provision"
	"github.com/bbkey/bbkey/internal/settings"
	"github.com/bbkey/bbkey/internal/sshconfig"
	"github.com/bbkey/bbkey/internal/sshproof"
	"github.com/bbkey/bbkey/internal/state"
)

// sshSetup works out the ssh config block and the pinned host keys for the key, and
// writes them with --write-ssh-config: Cloud's from the settings, a Data Center server's
// from its entry in the state.
func (o *Options) sshSetup(ctx context.Context, rep *report, s settings.Settings, paths settings.Paths, sd state.Dir) error {
	st, err := sd.Load()
	if err != nil {
		return err
	}
	p := rep.kp
	var (
		host = s.SSHHost
		view = st
		pins hostkeys.Pins
	)
	if p.server == "" {
		if pins, err = hostkeys.Pinned(s); err != nil {
			return err
		}
	} else {
		v := st.ServerOf(p.server)
		if v == nil {
			return fmt.Errorf("the state records nothing of %s", p.server)
		}
		host, view, rep.SSH.Port = v.SSHHost, v.View(), v.SSHPort
		if pins, err = identity.ServerPins(v); err != nil {
			return err
		}
	}
	rep.SSH.Alias = identity.AccessAlias(host, view, p.name)
	// The block to show (or write) for this key, even when it gets none in the file.
	shown, err := sd.Load() // a copy to change
	if err != nil {
		return err
	}
	keys, _ := p.keysIn(shown)
	if k := keys[p.name]; k != nil {
		k.NoSSHConfig = false
	}
	blocks, err := identity.Blocks(s, paths.SSHDir, shown)
	if err != nil {
		return fmt.Errorf("ssh config: %w", err)
	}
	if b, ok := sshconfig.Find(blocks, rep.SSH.Alias); ok {
		rep.SSH.Config = renderBlock(b)
	}
	rep.SSH.KnownHosts = string(hostkeys.Render(pins))
	rep.SSH.KnownHostsFile = hostkeys.Path(paths.SSHDir)
	rep.SSH.ConfigFile = sshconfig.FilesIn(paths.SSHDir).Managed
	if !o.WriteSSHConfig {
		return nil
	}
	res, err := identity.Sync(ctx, s, paths.SSHDir, st, false)
	if err != nil {
		return err
	}
	for _, w := range res.Warnings {
		o.IOStreams.Warnf("%s", w)
	}
	rep.SSH.Written = true
	rep.ChangedFiles = append(rep.ChangedFiles, res.ChangedFiles...)
	if len(res.ChangedFiles) > 0 {
		o.IOStreams.Step(iostreams.MarkOK, "wrote the ssh config for %s and the pinned host keys", rep.SSH.Alias)
	}
	return nil
}

func renderBlock(b sshconfig.HostBlock) string {
	return strings.TrimLeft(strings.TrimPrefix(string(sshconfig.RenderManaged([]sshconfig.HostBlock{b})), sshconfig.Header), "\n")
}

// verify proves the key on one repository that has it.
func (o *Options) verify(ctx context.Context, rep *report, info *backend.SSH, paths settings.Paths) (err error) {
	b := rep.backend
	// A repository that has the key: the first repository target done, else one of the
	// first project done (one listing call).
	var places []backend.Place
	for _, r := range rep.results {
		if r.Status.Done() {
			places = append(places, provision.PlaceOf(r.Target))
		}
	}
	t, err := provision.ProofTarget(ctx, b, places)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			o.IOStreams.Step(iostreams.MarkFail, "proof on %s failed", t.Ref())
		}
	}()
	rep.Verify = &provision.ProofResult{Target: t.Ref()}
	if err := o.checkHostKey(ctx, info, paths.SSHDir); err != nil {
		return err
	}
	pr := provision.Proof{Git: o.gitEnv, Target: t, DataCenter: b.Kind() == backend.DataCenter, Write: o.Write, UserAgent: o.LoadAgent}
	if o.WriteSSHConfig {
		pr.ConfigFile = sshconfig.FilesIn(paths.SSHDir).UserConfig
		pr.Alias = rep.SSH.Alias
	} else {
		pr.Endpoint = info.Endpoint
		pr.HostKeyAlias = info.Pins.Alias
		pr.KnownHosts = hostkeys.Render(info.Pins)
		pr.KeyPath = rep.kp.Path
	}
	if k := rep.kp.Key; !o.LoadAgent && k.Encrypted && k.HasPrivate() {
		pr.Private = k.Private
	}
	res, err := pr.Run(ctx)
	rep.Verify = &res
	if err != nil {
		return err
	}
	push := "a push is refused as read-only"
	if o.Write {
		push = "and so does a push (write access)"
	}
	o.IOStreams.Step(iostreams.MarkOK, "proved on %s: git ls-remote works, %s", t.Ref(), push)
	return nil
}

// checkHostKey compares the endpoint's host key with the pins, and with the @revoked
// lines of bbkey's and the system's known_hosts, before git runs: OpenSSH's refusal
// names only the key it was shown (and blames whichever pin it tried first), where
// bbkey's names every pinned key, or the revoking line, and where to check them; and the
// proof's ssh without --write-ssh-config reads only a known_hosts of its own. Any other
// failure is left to the proof, which reports it in git's words. On Data Center the SSH
// side itself fails when the server's SSH presents a key its HTTPS settings do not vouch
// for.
func (o *Options) checkHostKey(ctx context.Context, info *backend.SSH, sshDir string) error {
	po := sshproof.Options{
		Endpoint: info.Endpoint, HostKeyAlias: info.Pins.Alias,
		HostKeyCallback:   info.Pins.Guard(info.Pins.HostKeyCallback(info.Endpoint), hostkeys.Path(sshDir)),
		HostKeyAlgorithms: hostkeys.HostKeyAlgorithms(info.Pins.Keys),
	}
	if o.Globals.Debug {
		po.Trace = o.IOStreams.ErrOut
	}
	_, err := sshproof.CheckHostKey(ctx, po)
	if mm, ok := errors.AsType[*hostkeys.MismatchError](err); ok {
		return fmt.Errorf("verifying the key over ssh: %w", mm)
	}
	if rv, ok := errors.AsType[*hostkeys.RevokedError](err); ok {
		return fmt.Errorf("verifying the key over ssh: %w", rv)
	}
	return nil
}
