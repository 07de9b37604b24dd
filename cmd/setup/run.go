package setup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/agent"
	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/cmd/auth/shared"
	"github.com/bbkey/bbkey/internal/cmdutil"
	"github.com/bbkey/bbkey/internal/credstore"
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
	"github.com/bbkey/bbkey/internal/text"
	"github.com/bbkey/bbkey/keys"
)

// run is one setup in progress: what each step found, for the next steps and the result.
type run struct {
	opts     *Options
	fl       flags
	settings cmdutil.Settings
	paths    cmdutil.Paths
	now      time.Time
	res      *Result

	stateDir state.Dir
	st       *state.State

	client  *bbapi.Client
	user    *bbapi.User
	cred    cmdutil.ResolvedCredential
	pending *bbapi.APIToken // typed at the prompt, stored once every question is answered

	name     string
	keyPath  string
	generate bool
	pub      *keys.Key // the public half, once known
	priv     *keys.Key // the private half in memory, when it was needed
	newPass  []byte    // the passphrase of the key to generate
	// locked is set when the key stays encrypted: a proven key re-run unattended with no
	// passphrase, so it is neither loaded nor proven again.
	locked bool

	ag       agent.Agent
	agentErr error
	agentHas bool

	remoteKey *bbapi.SSHKey
	uploaded  bool // this run added remoteKey to the account
	// takenBack is set when a failure deleted the uploaded key again (takeBackErr: and
	// how that failed).
	takenBack   bool
	takeBackErr error

	// undo holds what to take back if the run fails before the key is proven and
	// recorded, newest last.
	undo []func()
	// current names the step in progress, for the ✗ line of a failure.
	current string
}

func runSetup(ctx context.Context, opts *Options) (err error) {
	r := &run{opts: opts, now: opts.Now(), res: newResult(opts.DryRun)}
	defer func() {
		if r.priv != nil {
			r.priv.Wipe()
		}
		if r.pending != nil {
			r.pending.Token = ""
		}
		clear(r.newPass)
		if err != nil {
			if r.current != "" {
				opts.IO.Step(iostreams.MarkFail, "%s failed", r.current)
			}
			for _, u := range slices.Backward(r.undo) {
				u()
			}
			switch {
			case r.takenBack && r.takeBackErr != nil:
				err = cmdutil.WithHint(err, fmt.Sprintf("the key was added to Bitbucket but could not be removed again (%v): remove %s with 'bbkey remove'", r.takeBackErr, r.remoteKey.UUID))
			case r.takenBack:
				err = cmdutil.WithHint(err, "the key was removed from Bitbucket again; its files stay in "+r.paths.SSHDir+" and a re-run reuses them")
			}
		}
	}()
	if r.fl, err = parseFlags(opts); err != nil {
		return err
	}
	if r.settings, err = opts.Settings(); err != nil {
		return err
	}
	// The pins are needed only after the upload, but a bad --ssh-host or an unreadable
	// --ssh-host-keys is a usage error to report before anything is asked or written.
	if _, err = hostkeys.Pinned(r.settings); err != nil {
		return err
	}
	if r.paths, err = opts.Paths(); err != nil {
		return fmt.Errorf("finding the ssh and config directories: %w", err)
	}
	r.stateDir = state.Dir{Path: r.paths.ConfigDir, Now: opts.Now}
	if !opts.DryRun {
		// The writers' lock comes before the state is read and is held until the last
		// write, so a rotation cannot revoke the key this run is about to upload again.
		lock, err := r.stateDir.LockCommand(ctx, "setup", opts.LookupEnv, opts.IO.ErrOut)
		if err != nil {
			return err
		}
		defer lock.Unlock()
	}
	if r.st, err = r.stateDir.Load(); err != nil {
		return fmt.Errorf("reading bbkey's state: %w", err)
	}
	if r.paths.HomeMismatch != "" {
		opts.IO.Warnf("%s", r.paths.HomeMismatch)
	}

	// Questions first: everything that may prompt (or fail for want of an answer) comes
	// before the first write.
	for _, step := range []func(context.Context) error{
		r.credentials,
		r.chooseName,
		r.prepareKey,
	} {
		if err := step(ctx); err != nil {
			return err
		}
	}
	if !opts.DryRun {
		// What would stop the run after the upload is checked before it.
		if err := sshconfig.Check(r.paths.SSHDir); err != nil {
			return err
		}
	}
	testhook.Pause(ctx, opts.LookupEnv, "setup:prepared")
	r.storeCredential(ctx)

	for _, step := range []func(context.Context) error{
		r.writeKey,
		r.loadAgent,
		r.upload,
		r.pinHostKeys,
		r.prove,
		r.writeConfig,
	} {
		if err := step(ctx); err != nil {
			return err
		}
	}
	// The key is proven and recorded: from here on a failure keeps it.
	r.undo = nil
	r.gitSSH(ctx)
	if err := r.switchRemotes(ctx); err != nil {
		return err
	}
	r.current = ""
	return r.print()
}

// step records and prints one step line.
func (r *run) step(name, status, format string, args ...any) {
	detail := fmt.Sprintf(format, args...)
	r.res.Steps = append(r.res.Steps, Step{Step: name, Status: status, Detail: detail})
	mark := iostreams.MarkOK
	switch status {
	case statusWarning:
		mark = iostreams.MarkWarn
	case statusPlanned:
		mark = "-"
	}
	r.opts.IO.Step(mark, "%s: %s", name, detail)
}

// Step statuses.
const (
	statusDone    = "done"
	statusSkipped = "skipped" // already done
	statusWarning = "warning"
	statusPlanned = "planned" // --dry-run
)

// credentials finds the credential and asks Bitbucket whose it is (GET /user).
func (r *run) credentials(ctx context.Context) error {
	r.current = "credentials"
	opts := r.opts
	rc, err := opts.Resolve(ctx)
	switch {
	case err == nil:
	case errors.Is(err, cmdutil.ErrNoCredential) && opts.NoInput:
		return cmdutil.UsageError(errors.New("no Bitbucket credential, and no terminal to ask for one"),
			"set "+shared.EnvEmail+" and "+shared.EnvToken+" (or pass --token-file FILE with "+shared.EnvEmail+"), or run 'bbkey auth login' first",
			"create an API token with scopes at "+shared.TokenPage)
	case errors.Is(err, cmdutil.ErrNoCredential):
		tok, _, err := shared.ReadAPIToken(shared.Input{
			LookupEnv: opts.LookupEnv,
			Prompter:  opts.Prompter,
			ErrOut:    opts.IO.ErrOut,
		})
		if err != nil {
			return err
		}
		r.pending = tok
		rc = cmdutil.ResolvedCredential{Credential: tok, Source: "prompt"}
	default:
		return err
	}
	r.cred = rc
	if rc.Credential.Kind() == bbapi.KindAccessToken {
		return cmdutil.AuthError(errors.New("an access token cannot manage a person's SSH keys"),
			"setup needs an API token: set "+shared.EnvEmail+" and "+shared.EnvToken+", or run 'bbkey auth login'",
			"for a build server with an access token, use 'bbkey add-access-key'")
	}
	wait := bbapi.WithWaitHook(func(w bbapi.Wait) {
		opts.IO.Step(iostreams.MarkWarn, "waiting %s before retrying %s %s (%s)", w.Delay.Round(time.Second), w.Method, w.URL, w.Reason)
	})
	if r.client, err = opts.NewClient(rc.Credential, wait); err != nil {
		return err
	}
	v, err := shared.Verify(ctx, r.client)
	if err != nil {
		return err
	}
	if rc.Credential.Kind() == bbapi.KindAPIToken {
		if err := shared.RequireScopes(v, shared.SetupScopes, "bbkey setup"); err != nil {
			return err
		}
	}
	r.user = v.User
	r.res.Account = Account{
		UUID:             v.User.UUID,
		AccountID:        v.User.AccountID,
		Nickname:         v.User.Nickname,
		DisplayName:      v.User.DisplayName,
		CredentialSource: string(rc.Source),
	}
	if t, ok := rc.Credential.(*bbapi.APIToken); ok {
		r.res.Account.Email = t.Email
	}
	r.step("credentials", statusDone, "%s, %s from %s", shared.DisplayName(v.User), rc.Credential, rc.Source)
	return nil
}

// chooseName picks the key name: --name, the name this account already has here, or
// the account's nickname.
func (r *run) chooseName(context.Context) error {
	uuid := r.user.UUID
	existing := ""
	for n, a := range r.st.Accounts {
		if a.UUID == uuid && (existing == "" || n < existing) {
			existing = n
		}
	}
	name := r.opts.Name
	switch {
	case name != "" && existing != "" && existing != name:
		return cmdutil.UsageError(fmt.Errorf("this Bitbucket account is already set up here under the name %q", existing),
			fmt.Sprintf("run 'bbkey setup --name %s' to check it, or 'bbkey rotate' to replace its key", existing))
	case name == "" && existing != "":
		name = existing
	case name == "":
		for _, s := range []string{r.user.Nickname, r.user.DisplayName, r.user.Username} {
			if name = keylabel.SanitizeName(s); name != "" {
				break
			}
		}
		if name == "" {
			name = "bitbucket"
		}
	}
	if err := keylabel.ValidName(name); err != nil {
		return cmdutil.UsageError(err, "choose a name with --name NAME")
	}
	if a, ok := r.st.Accounts[name]; ok && a.UUID != uuid {
		return cmdutil.UsageError(fmt.Errorf("the key name %q already belongs to another Bitbucket account (%s)", name, a.Nickname),
			"give this account its own name with --name NAME")
	}
	r.name = name
	r.res.Name = name
	return nil
}

// prepareKey decides which key to use and gets every secret that needs: the passphrase
// of a new key, or the private half of an existing one when the agent does not hold it.
func (r *run) prepareKey(ctx context.Context) error {
	r.current = "key"
	opts := r.opts
	if r.fl.keyFile != "" {
		r.keyPath = r.fl.keyFile
	} else {
		p, err := keys.AccountKeyPath(r.paths.SSHDir, r.name)
		if err != nil {
			return cmdutil.UsageError(err)
		}
		r.keyPath = p
	}
	privExists, err := fsutil.Exists(r.keyPath)
	if err != nil {
		return err
	}
	pubExists, err := fsutil.Exists(r.keyPath + keys.PublicSuffix)
	if err != nil {
		return err
	}
	switch {
	case r.fl.keyFile != "" && !privExists:
		return cmdutil.UsageError(fmt.Errorf("--key %s: no such private key file", r.keyPath),
			"give the private key, not the .pub; its .pub is read from next to it")
	case !privExists && pubExists:
		return fmt.Errorf("%s exists without its private key %s", r.keyPath+keys.PublicSuffix, r.keyPath)
	case privExists:
		if r.pub, err = keys.LoadPublic(r.keyPath); err != nil {
			return fmt.Errorf("reading the key %s: %w", r.keyPath, err)
		}
	default:
		r.generate = true
	}
	r.res.Key.Path = r.keyPath
	r.res.Key.PublicPath = r.keyPath + keys.PublicSuffix
	r.res.Key.Generated = r.generate

	src := secret.Source{
		File:         opts.PassphraseFile,
		LookupEnv:    opts.LookupEnv,
		NoInput:      opts.NoInput,
		NoPassphrase: opts.NoPassphrase,
	}
	if !opts.NoInput {
		src.Prompter = opts.Prompter()
	}

	r.ag, r.agentErr = opts.Agent()
	if r.agentErr == nil && r.pub != nil {
		if r.agentHas, err = r.ag.Has(r.pub.Fingerprint); err != nil {
			r.agentErr = err
		}
	}
	if opts.DryRun {
		if r.generate {
			return src.CheckNew() // the run would stop here: so does its dry run
		}
		return nil
	}
	if r.generate {
		pass, err := src.NewPassphrase()
		if err != nil {
			return err
		}
		r.newPass = pass
		return nil
	}
	if r.agentErr == nil && r.agentHas {
		return nil // the agent signs the proof; no passphrase needed
	}
	if r.unattendedWithoutPassphrase() {
		r.locked = true
		return nil
	}
	k, err := src.Unlock(r.keyPath)
	if err != nil {
		return err
	}
	r.priv = k
	return nil
}

// unattendedWithoutPassphrase reports a re-run without a terminal, an agent holding the
// key, or any passphrase source, for an encrypted key already proven and recorded here.
// Such a run (a configuration management tool, say) checks everything but cannot load or
// prove the key, and says so instead of failing.
func (r *run) unattendedWithoutPassphrase() bool {
	if !r.opts.NoInput || r.opts.PassphraseFile != "" {
		return false
	}
	if v, ok := r.opts.LookupEnv(secret.PassphraseEnv); ok && v != "" {
		return false
	}
	old := r.st.Accounts[r.name]
	if old == nil || old.Fingerprint != r.pub.Fingerprint || old.KeyPath != r.keyPath {
		return false
	}
	enc, err := keys.IsEncrypted(r.keyPath)
	return err == nil && enc
}

// storeCredential keeps a token typed at the prompt, now that every question is
// answered. Not being able to keep it does not stop the setup.
func (r *run) storeCredential(ctx context.Context) {
	if r.pending == nil || r.opts.DryRun {
		return
	}
	store, err := r.opts.CredStore(ctx, false)
	if err == nil {
		err = shared.Store(ctx, store, r.pending, r.now)
	}
	if err != nil {
		r.step("credentials", statusWarning, "the API token was not stored (%v); run 'bbkey auth login' (--insecure-storage without a keychain) to keep it", err)
		return
	}
	if w := credstore.Warning(store); w != "" {
		r.opts.IO.Warnf("%s", w)
	}
	r.step("credentials", statusDone, "API token stored in the %s for later runs", store.Kind())
}

// writeKey generates the new key, when there is to be one.
func (r *run) writeKey(context.Context) error {
	r.current = "key"
	if !r.generate {
		r.res.Key.Fingerprint = r.pub.Fingerprint
		r.res.Key.Encrypted = r.pub.Encrypted
		r.step("key", statusSkipped, "using %s (%s)", r.keyPath, r.pub.Fingerprint)
		return nil
	}
	if r.opts.DryRun {
		r.step("key", statusPlanned, "would generate an ed25519 key in %s", r.keyPath)
		r.res.Key.Encrypted = !r.opts.NoPassphrase
		r.changed(r.keyPath, r.keyPath+keys.PublicSuffix)
		return nil
	}
	host, _ := r.opts.Hostname() // keys.Comment says "unknown" for a host without a name
	if r.opts.NoPassphrase {
		r.opts.IO.Warnf("%s", secret.NoPassphraseWarning)
	}
	k, err := keys.Generate(keys.GenerateOptions{
		Path:         r.keyPath,
		Comment:      keys.Comment(r.name, host, r.now),
		Passphrase:   r.newPass,
		NoPassphrase: r.opts.NoPassphrase,
		Now:          r.now,
	})
	clear(r.newPass)
	if err != nil {
		return cmdutil.KeyExistsHint(fmt.Errorf("generating the key: %w", err))
	}
	r.priv, r.pub = k, k
	r.res.Key.Fingerprint = k.Fingerprint
	r.res.Key.Encrypted = !r.opts.NoPassphrase
	r.changed(r.keyPath, k.PublicPath())
	protect := "passphrase-protected"
	if r.opts.NoPassphrase {
		protect = "no passphrase"
	}
	r.step("key", statusDone, "generated %s (%s, %s)", r.keyPath, k.Fingerprint, protect)
	return nil
}

// loadAgent adds the key to the agent; no agent is a warning, not a failure.
func (r *run) loadAgent(context.Context) error {
	r.current = "agent"
	fp := r.fingerprint()
	switch {
	case r.agentErr != nil:
		r.res.Agent.Warning = r.agentErr.Error()
		r.step("agent", statusWarning, "%v: the key works, but git will ask for its passphrase each time", r.agentErr)
		for _, h := range cmdutil.Hints(r.agentErr) {
			fmt.Fprintf(r.opts.IO.ErrOut, "  %s\n", h)
		}
		return nil
	case r.agentHas:
		r.res.Agent.Available, r.res.Agent.Loaded = true, true
		r.step("agent", statusSkipped, "the key is already loaded")
		return nil
	case r.opts.DryRun:
		r.res.Agent.Available = true
		r.step("agent", statusPlanned, "would load the key%s", lifetimeText(r.fl.lifetime))
		return nil
	}
	r.res.Agent.Available = true
	if r.locked {
		r.res.Agent.Warning = "the key is encrypted and no passphrase was given"
		r.step("agent", statusWarning, "not loaded: the key is encrypted and no passphrase was given (--passphrase-file or %s)", secret.PassphraseEnv)
		return nil
	}
	if err := r.ag.Add(r.priv.Private, r.agentComment(), r.fl.lifetime, false); err != nil {
		r.res.Agent.Warning = err.Error()
		r.step("agent", statusWarning, "could not load the key: %v", err)
		return nil
	}
	r.undo = append(r.undo, func() { _ = r.ag.Remove(fp) })
	r.res.Agent.Loaded, r.res.Agent.Added = true, true
	r.res.Agent.LifetimeSeconds = int64(r.fl.lifetime / time.Second)
	r.step("agent", statusDone, "loaded the key%s", lifetimeText(r.fl.lifetime))
	return nil
}

func lifetimeText(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return " for " + durationText(d)
}

// durationText writes whole days as "90d" and drops Go's zero minutes and seconds
// ("8h", not "8h0m0s").
func durationText(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return keylabel.FormatDuration(d)
	}
	s := d.String()
	if t, ok := strings.CutSuffix(s, "m0s"); ok {
		s = t + "m"
	}
	if t, ok := strings.CutSuffix(s, "h0m"); ok {
		s = t + "h"
	}
	return s
}

func (r *run) agentComment() string {
	if r.pub != nil && r.pub.Comment != "" {
		return r.pub.Comment
	}
	return r.keyPath
}

func (r *run) fingerprint() string {
	if r.pub == nil {
		return ""
	}
	return r.pub.Fingerprint
}

// selectedUser names the account in /users/{selected_user}: the account id, else the uuid.
func (r *run) selectedUser() string {
	if r.user.AccountID != "" {
		return r.user.AccountID
	}
	return r.user.UUID
}

// upload adds the key to the account unless it is there already. A new key is posted
// straight away (it cannot be there yet); an existing one is looked for in the account's
// keys first.
func (r *run) upload(ctx context.Context) error {
	r.current = "upload"
	label := keylabel.Label{Name: r.name, Created: r.now}.String()
	if !r.generate {
		k, err := r.client.SSHKeys.FindByFingerprint(ctx, r.selectedUser(), r.pub.Fingerprint)
		if err != nil {
			return fmt.Errorf("looking for the key on Bitbucket: %w", err)
		}
		if k != nil {
			r.remoteKey = k
			r.setBitbucketKey()
			r.step("upload", statusSkipped, "already on the account (%s)", describeKey(k))
			return nil
		}
	}
	if r.opts.DryRun {
		r.res.BitbucketKey = &BitbucketKey{Label: label, ExpiresOn: r.expiresOn()}
		r.step("upload", statusPlanned, "would add the key to %s's account with the label %s", r.user.Nickname, label)
		return nil
	}
	add := bbapi.AddSSHKeyOptions{Key: r.pub.AuthorizedKey(), Label: label, ExpiresOn: r.expiresOn()}
	var (
		k   *bbapi.SSHKey
		err error
	)
	if r.generate {
		// A key made a moment ago cannot be on any account: an "already added" answer can
		// only mean an earlier attempt of this very call landed, which AddOrGet finds.
		k, _, err = r.client.SSHKeys.AddOrGet(ctx, r.selectedUser(), add)
	} else {
		k, _, err = r.client.SSHKeys.Add(ctx, r.selectedUser(), add)
	}
	if err != nil {
		if bbapi.IsDuplicateKey(err) {
			return cmdutil.WithHint(fmt.Errorf("the key %s is already registered on another Bitbucket account: %w", r.pub.Fingerprint, err),
				"a public key can belong to one Bitbucket account only (one key, one account): give each account its own key",
				"remove it from the other account first, or drop --key so that setup makes a fresh key for this one",
				"a key deleted from an account recently may be blocked for up to 30 days")
		}
		return fmt.Errorf("adding the key to Bitbucket: %w", err)
	}
	r.remoteKey, r.uploaded = k, true
	// Until the key is proven and recorded, any failure takes it back, as rotate does
	// with an unproven successor (a full disk while pinning the host keys, a refused
	// proof, an unwritable config): an unproven key is not left on the account.
	r.undo = append(r.undo, func() {
		r.takenBack = true
		r.takeBackErr = r.deleteUploaded(ctx)
	})
	r.setBitbucketKey()
	r.res.BitbucketKey.Uploaded = true
	r.step("upload", statusDone, "added to %s's account (%s)", r.user.Nickname, describeKey(k))
	testhook.Pause(ctx, r.opts.LookupEnv, "setup:uploaded")
	return nil
}

func (r *run) expiresOn() *time.Time {
	if r.fl.expiresIn == 0 {
		return nil
	}
	t := r.now.Add(r.fl.expiresIn).UTC()
	return &t
}

func (r *run) setBitbucketKey() {
	k := r.remoteKey
	b := &BitbucketKey{UUID: k.UUID, Label: k.Label}
	if !k.ExpiresOn.IsZero() {
		t := k.ExpiresOn.UTC()
		b.ExpiresOn = &t
	}
	r.res.BitbucketKey = b
}

func describeKey(k *bbapi.SSHKey) string {
	s := k.UUID
	if k.Label != "" {
		s += ", label " + k.Label
	}
	if !k.ExpiresOn.IsZero() {
		s += ", expires " + k.ExpiresOn.UTC().Format(time.DateOnly)
	}
	return s
}

// deleteUploaded takes back the key this run uploaded; only that key, by its own link.
// It runs even when the run was interrupted, bounded by its own timeout.
func (r *run) deleteUploaded(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(bbapi.Cleanup(context.WithoutCancel(ctx)), 30*time.Second)
	defer cancel()
	_, err := r.client.SSHKeys.DeleteKey(ctx, r.remoteKey)
	return err
}

// pinHostKeys writes the host keys the proof and ssh check the server against.
func (r *run) pinHostKeys(ctx context.Context) error {
	r.current = "host keys"
	pins, err := hostkeys.Pinned(r.settings)
	if err != nil {
		return err
	}
	path := hostkeys.Path(r.paths.SSHDir)
	dir := filepath.Dir(path)
	dirExisted, err := fsutil.Exists(dir)
	if err != nil {
		return err
	}
	fileExisted, err := fsutil.Exists(path)
	if err != nil {
		return err
	}
	wr, err := hostkeys.Write(ctx, path, pins, r.opts.DryRun)
	if err != nil {
		return fmt.Errorf("pinning the host keys: %w", err)
	}
	if wr.Changed && !fileExisted && !r.opts.DryRun {
		// A first run whose proof fails leaves no trace of bbkey in ~/.ssh but the key
		// files the user keeps; an existing pin file is bbkey's and is left as written.
		r.undo = append(r.undo, func() {
			_ = os.Remove(path)
			if !dirExisted {
				_ = os.Remove(filepath.Join(dir, ".lock"))
				_ = os.Remove(dir)
			}
		})
	}
	switch {
	case !wr.Changed:
		r.step("host keys", statusSkipped, "%s pinned in %s", r.settings.SSHHost, path)
	case r.opts.DryRun:
		r.step("host keys", statusPlanned, "would pin %s for %s in %s", text.Count(len(pins.Keys), "key", "keys"), r.settings.SSHHost, path)
		r.changed(path)
	default:
		r.step("host keys", statusDone, "pinned %s for %s (from %s) in %s", text.Count(len(pins.Keys), "key", "keys"), r.settings.SSHHost, pins.Source, path)
		r.changed(path)
	}
	return nil
}

// prove connects to the endpoint with this key alone. A key this run uploaded and that
// fails is deleted from Bitbucket again.
func (r *run) prove(ctx context.Context) error {
	r.current = "proof"
	if r.opts.DryRun {
		r.step("proof", statusPlanned, "would prove the key over SSH with %s", r.settings.SSHEndpoint)
		return nil
	}
	if r.locked {
		r.step("proof", statusWarning, "skipped: the key was proven before, and without the agent or a passphrase (--passphrase-file or %s) it cannot sign", secret.PassphraseEnv)
		return nil
	}
	signers, err := r.signers()
	if err != nil {
		return err
	}
	v, err := hostkeys.NewVerifier(hostkeys.Path(r.paths.SSHDir), r.settings.SSHHost)
	if err != nil {
		return fmt.Errorf("reading the pinned host keys: %w", err)
	}
	po := sshproof.Options{
		Endpoint:          r.settings.SSHEndpoint,
		HostKeyAlias:      r.settings.SSHHost,
		HostKeyCallback:   v.HostKeyCallback(),
		HostKeyAlgorithms: v.HostKeyAlgorithms(),
		Signers:           signers,
	}
	if r.opts.Debug {
		po.Trace = r.opts.IO.ErrOut
	}
	res, err := sshproof.Prove(ctx, po)
	if err != nil {
		// A key this run uploaded is taken back by the undo list.
		return fmt.Errorf("proving the key over SSH with %s: %w", r.settings.SSHEndpoint, err)
	}
	r.res.Proof = &res
	greeting := res.Greeting
	if greeting == "" {
		greeting = "accepted"
	}
	r.step("proof", statusDone, "%s (%s) accepted the key: %s", r.settings.SSHHost, r.settings.SSHEndpoint, firstLine(greeting))
	return nil
}

// signers are the keys to prove with: the private half in memory, else the agent's
// entry for the key.
func (r *run) signers() ([]ssh.Signer, error) {
	if r.priv != nil && r.priv.Signer != nil {
		return []ssh.Signer{r.priv.Signer}, nil
	}
	all, err := r.ag.Signers()
	if err != nil {
		return nil, fmt.Errorf("reading the agent's keys: %w", err)
	}
	for _, s := range all {
		if ssh.FingerprintSHA256(s.PublicKey()) == r.pub.Fingerprint {
			return []ssh.Signer{s}, nil
		}
	}
	return nil, fmt.Errorf("the agent no longer holds the key %s", r.pub.Fingerprint)
}

// writeConfig records the proven key in the state and derives the ssh config from it.
func (r *run) writeConfig(ctx context.Context) error {
	testhook.Pause(ctx, r.opts.LookupEnv, "setup:writing")
	r.current = "ssh config"
	rec := r.record()
	st := r.st
	old := st.Accounts[r.name]
	if old != nil && old.Fingerprint != rec.Fingerprint && !r.opts.DryRun {
		r.step("ssh config", statusWarning, "this account's earlier key %s stays on Bitbucket and on disk (%s); 'bbkey remove %s' deletes it", old.Fingerprint, old.KeyPath, old.Fingerprint)
	}
	statePath := filepath.Join(r.stateDir.Path, state.StateFile)
	if r.opts.DryRun && !sameAccount(old, rec) {
		r.changed(statePath)
	}
	if !r.opts.DryRun && !sameAccount(old, rec) {
		err := r.stateDir.Update(ctx, func(s *state.State) error {
			s.Accounts[r.name] = rec
			st = s
			return nil
		})
		if err != nil {
			return fmt.Errorf("recording the key in bbkey's state: %w", err)
		}
		r.changed(statePath)
	} else {
		st = cloneState(st)
		st.Accounts[r.name] = rec
	}
	r.st = st

	res, err := identity.Sync(ctx, r.settings, r.paths.SSHDir, st, r.opts.DryRun)
	if err != nil {
		return err
	}
	r.changed(res.ChangedFiles...)
	for _, w := range res.Warnings {
		r.opts.IO.Warnf("%s", w)
	}
	if !r.opts.DryRun {
		f, err := r.opts.PersistSettings(r.settings)
		if err != nil {
			return fmt.Errorf("saving the settings for later runs: %w", err)
		}
		if f != "" {
			r.changed(f)
		}
	}
	alias := identity.AccountAlias(r.settings.SSHHost, st, r.name)
	r.res.Host = alias
	switch {
	case len(res.ChangedFiles) == 0:
		r.step("ssh config", statusSkipped, "Host %s uses %s", alias, r.keyPath)
	case r.opts.DryRun:
		r.step("ssh config", statusPlanned, "would make Host %s use %s (%d files)", alias, r.keyPath, len(res.ChangedFiles))
	default:
		r.step("ssh config", statusDone, "Host %s uses %s", alias, r.keyPath)
	}
	return nil
}

// record is the state entry of the account and its key.
func (r *run) record() *state.Account {
	rec := &state.Account{
		UUID:        r.user.UUID,
		AccountID:   r.user.AccountID,
		Nickname:    r.user.Nickname,
		Email:       r.res.Account.Email,
		KeyName:     r.name,
		KeyPath:     r.keyPath,
		Fingerprint: r.fingerprint(),
		Created:     r.now.UTC().Truncate(time.Second),
	}
	if r.remoteKey != nil {
		rec.KeyID, rec.Label = r.remoteKey.UUID, r.remoteKey.Label
	}
	if old := r.st.Accounts[r.name]; old != nil && old.Fingerprint == rec.Fingerprint && old.KeyPath == rec.KeyPath {
		rec.Created = old.Created
		if rec.Email == "" {
			rec.Email = old.Email
		}
	}
	return rec
}

func sameAccount(a, b *state.Account) bool {
	if a == nil || b == nil {
		return a == b
	}
	x, y := *a, *b
	x.Created, y.Created = time.Time{}, time.Time{}
	return x == y && a.Created.Equal(b.Created)
}

func cloneState(st *state.State) *state.State {
	c := *st
	c.Accounts = make(map[string]*state.Account, len(st.Accounts)+1)
	for k, v := range st.Accounts {
		c.Accounts[k] = v
	}
	return &c
}

func (r *run) changed(paths ...string) {
	for _, p := range paths {
		if !slices.Contains(r.res.FilesChanged, p) {
			r.res.FilesChanged = append(r.res.FilesChanged, p)
		}
	}
}

func firstLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	return s
}
