package accesskey

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/bbkey/bbkey/agent"
	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/internal/accesskey"
	"github.com/bbkey/bbkey/internal/cmdutil"
	"github.com/bbkey/bbkey/internal/fsutil"
	"github.com/bbkey/bbkey/internal/hostkeys"
	"github.com/bbkey/bbkey/internal/identity"
	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/keylabel"
	"github.com/bbkey/bbkey/internal/secret"
	"github.com/bbkey/bbkey/internal/sshconfig"
	"github.com/bbkey/bbkey/internal/sshproof"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/internal/testhook"
	"github.com/bbkey/bbkey/keys"
)

// HourlyBudget is what Bitbucket allows a user on /2.0/repositories/* per rolling hour.
const HourlyBudget = 1000

// keyPlan is the key of a run, decided before anything is written.
type keyPlan struct {
	name string
	// path is the private key file (what the ssh config names).
	path string
	// key is the public half, and the private half once made or unlocked; nil until a new
	// key is made.
	key        *keys.Key
	generate   bool
	hasPrivate bool
	passphrase []byte
	created    time.Time
	label      string
	// sshConfig is --write-ssh-config: a key first added without it gets no Host block.
	sshConfig bool
}

func (p *keyPlan) fingerprint() string {
	if p.key == nil {
		return ""
	}
	return p.key.Fingerprint
}

// errUnchanged tells state.Dir.Update there is nothing to write.
var errUnchanged = errors.New("unchanged")

func runAdd(ctx context.Context, o *Options) error {
	spec, err := o.spec()
	if err != nil {
		return err
	}
	ttl, err := o.ttl()
	if err != nil {
		return err
	}
	if o.Concurrency < 1 || o.Concurrency > maxConcurrency {
		return cmdutil.UsageError(fmt.Errorf("--concurrency %d is out of range 1-%d", o.Concurrency, maxConcurrency))
	}
	if _, err := spec.Named(); err != nil {
		return cmdutil.UsageError(err)
	}
	name, err := o.keyName()
	if err != nil {
		return err
	}
	paths, err := o.Paths()
	if err != nil {
		return err
	}
	settings, err := o.Settings()
	if err != nil {
		return err
	}
	// The run ends by rendering the ssh config and pins: a bad --ssh-host or
	// --ssh-host-keys must fail now, before any key is made or added.
	if _, err := hostkeys.Pinned(settings); err != nil {
		return err
	}
	sd := state.Dir{Path: paths.ConfigDir, Now: o.Now}
	if !o.DryRun {
		// The writers' lock comes before the state is read and is held until the last
		// write: a rotation of this key finishing in between would leave this run
		// spreading the rotated-out key with a state that no longer matches the file.
		lock, err := sd.LockCommand(ctx, "add-access-key", o.LookupEnv, o.IO.ErrOut)
		if err != nil {
			return err
		}
		defer lock.Unlock()
	}
	st, err := sd.Load()
	if err != nil {
		return err
	}
	prev := st.AccessKeys[name]

	p, err := o.planKey(paths, name, prev, ttl)
	if err != nil {
		return err
	}
	defer func() {
		clear(p.passphrase)
		if p.key != nil {
			p.key.Wipe()
		}
	}()

	var ag agent.Agent
	if o.LoadAgent && !o.DryRun {
		if ag, err = o.Agent(); err != nil {
			return err
		}
		if c, ok := ag.(io.Closer); ok {
			defer c.Close()
		}
	}

	relay := &waitRelay{io: o.IO}
	client, err := o.APIClient(ctx, bbapi.WithWaitHook(relay.wait))
	if err != nil {
		return err
	}
	if client.Credential().Kind() == bbapi.KindAccessToken && (len(spec.Repos) > 0 || spec.Listing()) {
		return cmdutil.AccessTokenRepoKeysError("adding an access key to repositories")
	}
	targets, err := accesskey.Expand(ctx, spec, client.Repositories)
	if err != nil {
		return err
	}
	if len(targets) == 0 {
		return cmdutil.WithHint(fmt.Errorf("no repository of %s to add the key to", spec.Workspace),
			"the listing shows repositories you administer (role=admin); check --query and the credential's account")
	}
	listCalls := client.Stats().Requests
	done, pending := accesskey.Split(targets, prev, p.fingerprint())
	pl := plan{Targets: len(targets), Done: len(done), Pending: len(pending), ListCalls: listCalls,
		Calls: listCalls + len(pending), BudgetPerHour: HourlyBudget}
	o.printPlan(pl, spec)

	if o.DryRun {
		rep := &report{DryRun: true, Plan: pl, Key: p, Results: dryResults(targets, done), Calls: client.Stats().Requests}
		if rep.Changed, err = o.wouldChange(ctx, p, prev, len(pending), settings, paths, st); err != nil {
			return err
		}
		return o.render(rep)
	}

	// A hand edit of bbkey's own ssh config would stop the run after the keys are added.
	if err := sshconfig.Check(paths.SSHDir); err != nil {
		return err
	}
	if o.Verify {
		// An endpoint whose host key is not pinned fails the proof for sure: say so
		// before any key is made or added anywhere.
		if err := o.checkHostKey(ctx, settings); err != nil {
			return err
		}
	}
	testhook.Pause(ctx, o.LookupEnv, "add-access-key:planned")
	rep := &report{Plan: pl, Key: p}
	if p.generate {
		host, _ := o.Hostname() // keys.Comment says "unknown" for a host without a name
		k, err := keys.Generate(keys.GenerateOptions{Path: p.path, Comment: keys.Comment(name, host, o.Now()),
			Passphrase: p.passphrase, NoPassphrase: o.NoPassphrase})
		clear(p.passphrase)
		if err != nil {
			return cmdutil.KeyExistsHint(err)
		}
		p.key, p.hasPrivate = k, true
		rep.KeyCreated = true
		rep.Changed = append(rep.Changed, k.Path, k.PublicPath())
		o.IO.Step(iostreams.MarkOK, "made access key %s (%s)", k.Path, k.Fingerprint)
	}
	stateChanged, err := recordKey(ctx, sd, p)
	if err != nil {
		return fmt.Errorf("recording the key in the state: %w", err)
	}
	if ag != nil {
		if err := ag.Add(p.key.Private, p.key.Comment, 0, false); err != nil {
			return fmt.Errorf("loading the key into the ssh-agent: %w", err)
		}
		rep.Agent = true
		o.IO.Step(iostreams.MarkOK, "loaded the key into the ssh-agent")
	}

	var out accesskey.Outcome
	if len(pending) > 0 {
		prog := accesskey.NewProgress(o.IO, len(pending), o.Now)
		relay.set(prog.Wait)
		eng := &accesskey.Engine{
			Adder:       accesskey.Bitbucket{Client: client, Key: p.key.AuthorizedKey(), Label: p.label},
			Concurrency: o.Concurrency,
			Record: func(ctx context.Context, batch []accesskey.Result) error {
				return recordTargets(ctx, sd, p, batch)
			},
			Finished: prog.Finished,
			Now:      o.Now,
		}
		out = eng.Run(ctx, pending)
		prog.Close()
		relay.set(nil)
	}
	testhook.Pause(ctx, o.LookupEnv, "add-access-key:added")
	rep.Results = merge(targets, done, out.Results)
	rep.Stop = out.Stop
	anyDone := false
	for _, r := range rep.Results {
		if r.Status.Done() && !r.Recorded {
			stateChanged = true
		}
		anyDone = anyDone || r.Status.Done()
	}
	if stateChanged {
		rep.Changed = append(rep.Changed, filepath.Join(paths.ConfigDir, state.StateFile))
	}

	if err := o.sshSetup(ctx, rep, settings, paths, sd); err != nil {
		return err
	}
	var verr error
	if o.Verify {
		verr = o.verify(ctx, rep, client, settings, paths)
	}
	// A scheduled `rotate --access-keys` must reach the same API and endpoint; only
	// settings that worked are recorded, so not after a failed proof.
	if (anyDone || o.WriteSSHConfig) && verr == nil {
		if f, err := o.PersistSettings(settings); err != nil {
			o.IO.Warnf("saving the settings for later runs: %v", err)
		} else if f != "" {
			rep.Changed = append(rep.Changed, f)
		}
	}
	rep.Calls = client.Stats().Requests
	o.printSummary(rep)
	if err := o.render(rep); err != nil {
		return err
	}
	return rep.err(verr)
}

// planKey decides which key the run uses and reads every secret it needs, so that a
// missing passphrase fails before anything is written.
func (o *Options) planKey(paths cmdutil.Paths, name string, prev *state.AccessKey, ttl time.Duration) (*keyPlan, error) {
	p := &keyPlan{name: name, created: o.Now().UTC(), sshConfig: o.WriteSSHConfig}
	if o.KeyFile != "" {
		k, err := keys.LoadPublic(o.KeyFile)
		if err != nil {
			return nil, cmdutil.UsageError(fmt.Errorf("--key: %w", err))
		}
		p.key, p.path = k, absPath(k.Path)
		if _, err := os.Stat(k.Path); err == nil {
			p.hasPrivate = true
		} else {
			p.path = absPath(o.KeyFile)
		}
	} else {
		path, err := keys.AccessKeyPath(paths.SSHDir, name)
		if err != nil {
			return nil, cmdutil.UsageError(err)
		}
		p.path = path
		if fsutil.MayExist(path) || fsutil.MayExist(path+keys.PublicSuffix) {
			if p.key, err = keys.LoadPublic(path); err != nil {
				return nil, err
			}
			p.hasPrivate = fsutil.MayExist(path)
		} else {
			p.generate, p.hasPrivate = true, true
		}
	}
	switch {
	case prev == nil:
	case bbapi.SameFingerprint(prev.Fingerprint, p.fingerprint()):
		if !prev.Created.IsZero() {
			p.created = prev.Created.UTC()
		}
	case prev.Path != p.path && fsutil.MayExist(prev.Path):
		// One access key per name: a second one would take over the name's ssh alias and
		// orphan the targets recorded for the first.
		return nil, cmdutil.UsageError(fmt.Errorf("access key %q is already %s (%s)", name, prev.Fingerprint, prev.Path),
			"give this key its own name with --name, or replace that one with 'bbkey rotate --access-keys'")
	default:
		o.IO.Warnf("the state records access key %q as %s on %d targets, but %s is not that key any more: every target is added again",
			name, prev.Fingerprint, len(prev.Targets), prev.Path)
	}
	p.label = keylabel.Label{Name: name, Created: p.created, TTL: ttl}.String()

	if (o.LoadAgent || o.Verify || o.WriteSSHConfig) && !p.hasPrivate {
		return nil, cmdutil.UsageError(fmt.Errorf("the private key %s is missing", p.path),
			"--agent, --verify and --write-ssh-config need the private key on this machine")
	}
	if o.DryRun {
		return p, nil
	}
	src := o.passphraseSource()
	switch {
	case p.generate:
		pass, err := src.NewPassphrase()
		if err != nil {
			return nil, err
		}
		p.passphrase = pass
		if o.NoPassphrase {
			o.IO.Warnf("%s", secret.NoPassphraseWarning)
		}
	case o.NoPassphrase:
		o.IO.Warnf("--no-passphrase is ignored: %s already exists", p.path)
	}
	// The agent needs the private half; so does the proof when ssh could not read an
	// encrypted file by itself (it is then served from a temporary agent).
	if !p.generate && (o.LoadAgent || o.Verify && p.key.Encrypted) {
		k, err := src.Unlock(p.path)
		if err != nil {
			return nil, err
		}
		p.key = k
	}
	return p, nil
}

// recordKey writes the key's entry in the state, replacing an entry of the same name for
// another key (whose targets no longer tell anything about this one).
func recordKey(ctx context.Context, sd state.Dir, p *keyPlan) (bool, error) {
	changed := false
	err := sd.Update(ctx, func(s *state.State) error {
		if s.AccessKeys == nil {
			s.AccessKeys = map[string]*state.AccessKey{}
		}
		ak := s.AccessKeys[p.name]
		if ak == nil || !bbapi.SameFingerprint(ak.Fingerprint, p.key.Fingerprint) {
			ak = &state.AccessKey{Fingerprint: p.key.Fingerprint, Created: p.created, Targets: []state.Target{}, NoSSHConfig: !p.sshConfig}
			s.AccessKeys[p.name] = ak
			changed = true
		}
		if p.sshConfig && ak.NoSSHConfig {
			ak.NoSSHConfig = false
			changed = true
		}
		if ak.Path != p.path || ak.Label != p.label {
			ak.Path, ak.Label = p.path, p.label
			changed = true
		}
		if !changed {
			return errUnchanged
		}
		return nil
	})
	if errors.Is(err, errUnchanged) {
		err = nil
	}
	return changed, err
}

// wouldChange lists the files a real run would write, for --dry-run: the new key, the
// state when the run records anything new, and with --write-ssh-config what Sync would
// rewrite once the state has the key. (config.json is not listed: cmdutil decides that.)
func (o *Options) wouldChange(ctx context.Context, p *keyPlan, prev *state.AccessKey, pending int, s cmdutil.Settings, paths cmdutil.Paths, st *state.State) ([]string, error) {
	var out []string
	if p.generate {
		out = append(out, p.path, p.path+keys.PublicSuffix)
	}
	if prev == nil || !bbapi.SameFingerprint(prev.Fingerprint, p.fingerprint()) || prev.Path != p.path || prev.Label != p.label || pending > 0 {
		out = append(out, filepath.Join(paths.ConfigDir, state.StateFile))
	}
	if !o.WriteSSHConfig {
		return out, nil
	}
	next := *st
	next.AccessKeys = maps.Clone(st.AccessKeys)
	if next.AccessKeys == nil {
		next.AccessKeys = map[string]*state.AccessKey{}
	}
	next.AccessKeys[p.name] = &state.AccessKey{Path: p.path, Fingerprint: p.fingerprint(), Label: p.label, Created: p.created}
	res, err := identity.Sync(ctx, s, paths.SSHDir, &next, true)
	if err != nil {
		return nil, err
	}
	return append(out, res.ChangedFiles...), nil
}

// recordTargets records finished targets under the key, so a re-run skips them.
func recordTargets(ctx context.Context, sd state.Dir, p *keyPlan, batch []accesskey.Result) error {
	return sd.Update(ctx, func(s *state.State) error {
		if s.AccessKeys == nil {
			s.AccessKeys = map[string]*state.AccessKey{}
		}
		ak := s.AccessKeys[p.name]
		if ak == nil || !bbapi.SameFingerprint(ak.Fingerprint, p.key.Fingerprint) {
			ak = &state.AccessKey{Path: p.path, Fingerprint: p.key.Fingerprint, Label: p.label, Created: p.created, NoSSHConfig: !p.sshConfig}
			s.AccessKeys[p.name] = ak
		}
		for _, r := range batch {
			t := r.Target
			t.KeyID, t.Added = r.KeyID, r.Added.UTC()
			ak.SetTarget(t)
		}
		return nil
	})
}

// merge puts the recorded and the new results in the order of the targets.
func merge(targets []state.Target, lists ...[]accesskey.Result) []accesskey.Result {
	by := map[string]accesskey.Result{}
	for _, l := range lists {
		for _, r := range l {
			by[r.Target.Key()] = r
		}
	}
	out := make([]accesskey.Result, 0, len(targets))
	for _, t := range targets {
		r, ok := by[t.Key()]
		if !ok {
			r = accesskey.Result{Target: t, Status: accesskey.StatusSkipped}
		}
		out = append(out, r)
	}
	return out
}

// dryResults lists what a run would do: recorded targets as present, the rest pending.
func dryResults(targets []state.Target, done []accesskey.Result) []accesskey.Result {
	pending := make([]accesskey.Result, 0, len(targets))
	for _, t := range targets {
		pending = append(pending, accesskey.Result{Target: t, Status: statusPending})
	}
	return merge(targets, pending, done)
}

// sshSetup works out the ssh config block and the pinned host keys for the key, and
// writes them with --write-ssh-config.
func (o *Options) sshSetup(ctx context.Context, rep *report, s cmdutil.Settings, paths cmdutil.Paths, sd state.Dir) error {
	st, err := sd.Load()
	if err != nil {
		return err
	}
	rep.SSH.Alias = identity.AccessAlias(s.SSHHost, st, rep.Key.name)
	// The block to show (or write) for this key, even when it gets none in the file.
	shown := *st
	shown.AccessKeys = maps.Clone(st.AccessKeys)
	if k := shown.AccessKeys[rep.Key.name]; k != nil && k.NoSSHConfig {
		c := *k
		c.NoSSHConfig = false
		shown.AccessKeys[rep.Key.name] = &c
	}
	blocks, err := identity.Blocks(s, paths.SSHDir, &shown)
	if err != nil {
		return fmt.Errorf("ssh config: %w", err)
	}
	if b, ok := sshconfig.Find(blocks, rep.SSH.Alias); ok {
		rep.SSH.Config = strings.TrimLeft(strings.TrimPrefix(string(sshconfig.RenderManaged([]sshconfig.HostBlock{b})), sshconfig.Header), "\n")
	}
	pins, err := hostkeys.Pinned(s)
	if err != nil {
		return err
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
		o.IO.Warnf("%s", w)
	}
	rep.SSH.Written = true
	rep.Changed = append(rep.Changed, res.ChangedFiles...)
	if len(res.ChangedFiles) > 0 {
		o.IO.Step(iostreams.MarkOK, "wrote the ssh config for %s and the pinned host keys", rep.SSH.Alias)
	}
	return nil
}

// verify proves the key on one repository that has it.
func (o *Options) verify(ctx context.Context, rep *report, client *bbapi.Client, s cmdutil.Settings, paths cmdutil.Paths) error {
	t, err := verifyTarget(ctx, client, rep.Results)
	if err != nil {
		return err
	}
	pr := accesskey.Proof{Git: o.Git, Target: t}
	if o.WriteSSHConfig {
		pr.ConfigFile, pr.Alias = sshconfig.FilesIn(paths.SSHDir).UserConfig, rep.SSH.Alias
	} else {
		pr.Endpoint, pr.HostKeyAlias, pr.KnownHosts, pr.KeyPath = s.SSHEndpoint, s.SSHHost, []byte(rep.SSH.KnownHosts), rep.Key.path
	}
	switch {
	case o.LoadAgent:
		pr.UserAgent = true
	case rep.Key.key.Encrypted && rep.Key.key.HasPrivate():
		pr.Private = rep.Key.key.Private
	}
	if err := o.checkHostKey(ctx, s); err != nil {
		rep.Verify = &accesskey.ProofResult{Target: t.Ref()}
		o.IO.Step(iostreams.MarkFail, "proof on %s failed", t.Ref())
		return err
	}
	res, err := pr.Run(ctx)
	rep.Verify = &res
	if err != nil {
		o.IO.Step(iostreams.MarkFail, "proof on %s failed", t.Ref())
		return err
	}
	o.IO.Step(iostreams.MarkOK, "proved on %s: git ls-remote works, a push is refused as read-only", t.Ref())
	return nil
}

// checkHostKey compares the endpoint's host key with the pins before git runs: OpenSSH's
// refusal names only the key it was shown (and blames whichever pin it tried first),
// where bbkey's names every pinned key and where to check them. Any other failure is
// left to the proof, which reports it in git's words.
func (o *Options) checkHostKey(ctx context.Context, s cmdutil.Settings) error {
	pins, err := hostkeys.Pinned(s)
	if err != nil {
		return err
	}
	po := sshproof.Options{
		Endpoint: s.SSHEndpoint, HostKeyAlias: pins.Alias, HostKeyCallback: pins.HostKeyCallback(s.SSHEndpoint),
		HostKeyAlgorithms: hostkeys.HostKeyAlgorithms(pins.Keys),
	}
	if o.Globals != nil && o.Globals.Debug {
		po.Trace = o.IO.ErrOut
	}
	_, err = sshproof.CheckHostKey(ctx, po)
	if mm, ok := errors.AsType[*hostkeys.MismatchError](err); ok {
		return fmt.Errorf("verifying the key over ssh: %w", mm)
	}
	return nil
}

// verifyTarget picks a repository that has the key: the first repository target done,
// else a repository of the first project done (one listing call).
func verifyTarget(ctx context.Context, client *bbapi.Client, results []accesskey.Result) (state.Target, error) {
	for _, r := range results {
		if r.Status.Done() && r.Target.Kind == state.TargetRepo {
			return r.Target, nil
		}
	}
	for _, r := range results {
		if !r.Status.Done() || r.Target.Kind != state.TargetProject {
			continue
		}
		q := fmt.Sprintf("project.key = %q", r.Target.Slug)
		for repo, err := range client.Repositories.ListWorkspace(ctx, r.Target.Workspace, &bbapi.ListRepositoriesOptions{Query: q}) {
			if err != nil {
				return state.Target{}, cmdutil.VerifyError(fmt.Errorf("finding a repository of project %s to verify on: %w", r.Target.Ref(), err))
			}
			return state.Target{Kind: state.TargetRepo, Workspace: r.Target.Workspace, Slug: repo.RepoSlug()}, nil
		}
	}
	return state.Target{}, cmdutil.VerifyError(errors.New("nothing to verify: no repository has the key"))
}

// waitRelay sends the API client's waits to the progress display while there is one,
// and prints them as status lines otherwise (while listing).
type waitRelay struct {
	io *iostreams.IOStreams
	mu sync.Mutex
	fn func(bbapi.Wait)
}

func (r *waitRelay) set(fn func(bbapi.Wait)) {
	r.mu.Lock()
	r.fn = fn
	r.mu.Unlock()
}

func (r *waitRelay) wait(w bbapi.Wait) {
	r.mu.Lock()
	fn := r.fn
	r.mu.Unlock()
	if fn != nil {
		fn(w)
		return
	}
	r.io.Step(iostreams.MarkWarn, "waiting %s before retrying %s (%s)", w.Delay.Round(100*time.Millisecond), w.Method, w.Reason)
}
