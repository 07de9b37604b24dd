package setup

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"runtime"

	"github.com/bbkey/bbkey/agent/agenttest"
	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/credstore"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/prompt"
	"github.com/bbkey/bbkey/internal/prompt/prompttest"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/internal/testutil"
	"github.com/bbkey/bbkey/keys"
)

var (
	ada     = bbapitest.DefaultAccountID
	keysURL = "/2.0/users/" + ada + "/ssh-keys"
)

// normalize replaces the run's variable parts so output can be compared exactly.
func (fx *fixture) normalize(s string) string {
	r := strings.NewReplacer(
		filepath.ToSlash(fx.home.Dir), "$HOME",
		fx.emu.SSHEndpoint(), "$ENDPOINT",
		filepath.ToSlash(fx.emu.HostKeyFile()), "$HOSTKEYS",
		filepath.ToSlash(fx.workDir), "$WORK",
	)
	s = r.Replace(testutil.SlashPaths(s))
	for _, k := range fx.emu.UserKeys(ada) {
		s = strings.ReplaceAll(s, k.UUID, "$KEYID")
		s = strings.ReplaceAll(s, "SHA256:"+k.Fingerprint, "$FP")
	}
	return s
}

func TestSetupFreshKey(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	fx.goos = "linux" // the steps of every OS; Windows' own git ssh step has its own test
	fx.mustRun("--passphrase-file", fx.passFile, "--agent-lifetime", "8h")

	// Exactly two calls: who am I, and the upload.
	if got, want := fx.requests(), []string{"GET /2.0/user", "POST " + keysURL}; !slices.Equal(got, want) {
		t.Errorf("requests = %q, want %q", got, want)
	}
	wantErr := `✓ credentials: Ada Lovelace (ada), API token for ada@example.com from environment
✓ key: generated $HOME/.ssh/bbkey_ada_ed25519 ($FP, passphrase-protected)
✓ agent: loaded the key for 8h
✓ upload: added to ada's account ($KEYID, label bbkey:ada:2026-11-22)
✓ host keys: pinned 1 key for ssh.bitbucket.org (from $HOSTKEYS) in $HOME/.ssh/bbkey/known_hosts
✓ proof: ssh.bitbucket.org ($ENDPOINT) accepted the key: authenticated via ssh key.
✓ ssh config: Host ssh.bitbucket.org uses $HOME/.ssh/bbkey_ada_ed25519
✓ remotes: not in a git repository; to switch every clone on this machine: bbkey remote --recursive DIR
`
	if _, err := exec.LookPath("git"); err != nil { // Wine: no git to ask
		wantErr = strings.Replace(wantErr, "✓ remotes: not in a git repository;", "! remotes: git is not installed;", 1)
	}
	if got := fx.normalize(fx.stderr.String()); got != wantErr {
		t.Errorf("stderr:\n%s\nwant:\n%s", got, wantErr)
	}
	wantOut := `account        Ada Lovelace (ada)
key            $HOME/.ssh/bbkey_ada_ed25519
fingerprint    $FP
bitbucket key  $KEYID bbkey:ada:2026-11-22
ssh host       ssh.bitbucket.org
remotes        git@ssh.bitbucket.org:WORKSPACE/REPO.git
changed        $HOME/.ssh/bbkey_ada_ed25519
changed        $HOME/.ssh/bbkey_ada_ed25519.pub
changed        $HOME/.ssh/bbkey/known_hosts
changed        $HOME/.config/bbkey/state.json
changed        $HOME/.ssh/config
changed        $HOME/.ssh/bbkey/config
changed        $HOME/.config/bbkey/config.json
`
	if got := fx.normalize(fx.stdout.String()); got != wantOut {
		t.Errorf("stdout:\n%s\nwant:\n%s", got, wantOut)
	}

	// The files: 0600 private key, 0644 public key, encrypted with the passphrase.
	path := fx.keyPath("ada")
	testutil.AssertPrivate(t, path)
	if runtime.GOOS != "windows" { // Windows: the .pub inherits its directory's ACL
		if fi, err := os.Stat(path + ".pub"); err != nil || fi.Mode().Perm() != 0o644 {
			t.Errorf("%s.pub: %v mode %v, want 0644", path, err, fi.Mode().Perm())
		}
	}
	if _, err := keys.LoadPrivate(path, nil); err == nil {
		t.Error("the private key is not encrypted")
	}
	k, err := keys.LoadPrivate(path, []byte(testPassphrase))
	if err != nil {
		t.Fatalf("decrypting with the passphrase: %v", err)
	}
	defer k.Wipe()
	if !strings.HasPrefix(k.Comment, "bbkey:ada@testhost 2026-11-22") {
		t.Errorf("comment = %q", k.Comment)
	}

	// Agent, account and state agree on the fingerprint.
	e, ok := fx.agent.Entry(k.Fingerprint)
	if !ok || e.Lifetime != 8*time.Hour {
		t.Errorf("agent entry = %+v, %v; want the key with an 8h lifetime", e, ok)
	}
	uk := fx.emu.UserKeys(ada)
	if len(uk) != 1 || "SHA256:"+uk[0].Fingerprint != k.Fingerprint || uk[0].Label != "bbkey:ada:2026-11-22" || uk[0].ExpiresOn != nil {
		t.Errorf("account keys = %+v", uk)
	}
	rec := fx.state().Accounts["ada"]
	if rec == nil || rec.Fingerprint != k.Fingerprint || rec.KeyID != uk[0].UUID || rec.KeyPath != path || rec.UUID != bbapitest.DefaultUUID || rec.Email != bbapitest.DefaultEmail {
		t.Errorf("state = %+v", rec)
	}
	cfg, err := os.ReadFile(filepath.Join(fx.home.SSHDir, "bbkey", "config"))
	if err != nil || !strings.Contains(string(cfg), "Host ssh.bitbucket.org") || !strings.Contains(string(cfg), filepath.ToSlash(path)) {
		t.Errorf("ssh config: %v\n%s", err, cfg)
	}
}

func TestSetupRerunChangesNothing(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	fx.mustRun("--passphrase-file", fx.passFile)
	before := fx.snapshot()
	fx.emu.ResetRequests()

	// No passphrase source at all: the agent holds the key, so none is needed.
	fx.globals.JSON = true
	fx.mustRun()
	if got, want := fx.requests(), []string{"GET /2.0/user", "GET " + keysURL}; !slices.Equal(got, want) {
		t.Errorf("requests = %q, want %q", got, want)
	}
	if d := testutil.DiffSnapshots(before, fx.snapshot()); d != "" {
		t.Errorf("a re-run changed files:\n%s", d)
	}
	if n := len(fx.emu.UserKeys(ada)); n != 1 {
		t.Errorf("%d keys on the account, want 1", n)
	}
	var res Result
	if err := json.Unmarshal([]byte(fx.stdout.String()), &res); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, fx.stdout.String())
	}
	if len(res.FilesChanged) != 0 || len(res.RemotesChanged) != 0 || res.Key.Generated || res.BitbucketKey.Uploaded || res.Agent.Added {
		t.Errorf("re-run result claims changes: %+v", res)
	}
	_, noGit := exec.LookPath("git")
	for _, s := range res.Steps {
		if s.Step == "remotes" && noGit != nil {
			continue // without git (Wine) the remotes step warns that it cannot look
		}
		if s.Status != statusSkipped && s.Step != "credentials" && s.Step != "proof" {
			t.Errorf("step %s is %s, want skipped", s.Step, s.Status)
		}
	}
	if res.Proof == nil || res.Proof.Fingerprint != res.Key.Fingerprint {
		t.Errorf("re-run did not prove the key through the agent: %+v", res.Proof)
	}
}

func TestSetupJSONShape(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	fx.globals.JSON = true
	fx.mustRun("--no-passphrase", "--expires-in", "30d")
	var doc map[string]any
	if err := json.Unmarshal([]byte(fx.stdout.String()), &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"dry_run", "account", "name", "host", "remote_form", "key", "bitbucket_key", "agent", "proof", "files_changed", "remotes_changed", "steps"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("missing %q in %s", k, fx.stdout.String())
		}
	}
	var res Result
	if err := json.Unmarshal([]byte(fx.stdout.String()), &res); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.Key.Fingerprint, "SHA256:") || res.BitbucketKey.UUID == "" || !res.BitbucketKey.Uploaded {
		t.Errorf("result = %+v", res)
	}
	want := testNow.Add(30 * 24 * time.Hour)
	if res.BitbucketKey.ExpiresOn == nil || !res.BitbucketKey.ExpiresOn.Equal(want) {
		t.Errorf("expires_on = %v, want %v", res.BitbucketKey.ExpiresOn, want)
	}
	if uk := fx.emu.UserKeys(ada); len(uk) != 1 || uk[0].ExpiresOn == nil || !uk[0].ExpiresOn.Equal(want) {
		t.Errorf("the emulator's key does not expire at %v: %+v", want, uk)
	}
	if !strings.Contains(fx.stdout.String(), `"expires_on": "2026-12-22T10:00:00Z"`) {
		t.Errorf("expiry not RFC 3339 in UTC:\n%s", fx.stdout.String())
	}
}

func TestSetupNoInputFailsBeforeWriting(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		unset     []string
		args      []string
		wantCode  int
		wantInErr []string
		wantCalls []string
	}{
		{
			name:      "no passphrase source",
			wantCode:  errkind.ExitUsage,
			wantInErr: []string{"--passphrase-file", "BBKEY_PASSPHRASE"},
			wantCalls: []string{"GET /2.0/user"},
		},
		{
			name:      "no credential",
			unset:     []string{"BITBUCKET_EMAIL", "BITBUCKET_API_TOKEN"},
			args:      []string{"--passphrase-file", ""},
			wantCode:  errkind.ExitUsage,
			wantInErr: []string{"no Bitbucket credential", "BITBUCKET_API_TOKEN"},
			wantCalls: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t)
			for _, k := range tt.unset {
				delete(fx.env, k)
			}
			args := tt.args
			if len(args) == 2 && args[1] == "" {
				args = []string{"--passphrase-file", fx.passFile}
			}
			before := fx.snapshot()
			err := fx.run(args...)
			if code := apierr.ExitCode(err); code != tt.wantCode {
				t.Fatalf("exit %d (%v), want %d", code, err, tt.wantCode)
			}
			msg := err.Error() + strings.Join(apierr.Hints(err), "\n")
			for _, w := range tt.wantInErr {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not name %q", msg, w)
				}
			}
			if d := testutil.DiffSnapshots(before, fx.snapshot()); d != "" {
				t.Errorf("files written:\n%s", d)
			}
			if got := fx.requests(); !slices.Equal(got, tt.wantCalls) {
				t.Errorf("requests = %q, want %q", got, tt.wantCalls)
			}
			if len(fx.agent.Entries) != 0 {
				t.Error("the agent was changed")
			}
		})
	}
}

func TestSetupAuthFailures(t *testing.T) {
	t.Parallel()
	t.Run("bad token", func(t *testing.T) {
		fx := newFixture(t)
		fx.env["BITBUCKET_API_TOKEN"] = "not-the-token"
		before := fx.snapshot()
		err := fx.run("--passphrase-file", fx.passFile)
		if code := apierr.ExitCode(err); code != errkind.ExitAuth {
			t.Fatalf("exit %d (%v), want 4", code, err)
		}
		if strings.Contains(err.Error(), "not-the-token") || strings.Contains(fx.stderr.String(), "not-the-token") {
			t.Error("the token leaked into the output")
		}
		if d := testutil.DiffSnapshots(before, fx.snapshot()); d != "" {
			t.Errorf("files written:\n%s", d)
		}
	})
	t.Run("missing scope", func(t *testing.T) {
		fx := newFixture(t)
		tok, err := fx.emu.AddAPIToken(bbapitest.DefaultEmail, "read:user:bitbucket", "read:ssh-key:bitbucket")
		if err != nil {
			t.Fatal(err)
		}
		fx.env["BITBUCKET_API_TOKEN"] = tok
		before := fx.snapshot()
		err = fx.run("--passphrase-file", fx.passFile)
		if code := apierr.ExitCode(err); code != errkind.ExitAuth {
			t.Fatalf("exit %d (%v), want 4", code, err)
		}
		if !strings.Contains(err.Error(), "write:ssh-key:bitbucket") {
			t.Errorf("error does not name the scope: %v", err)
		}
		if d := testutil.DiffSnapshots(before, fx.snapshot()); d != "" {
			t.Errorf("files written:\n%s", d)
		}
		if got := fx.requests(); !slices.Equal(got, []string{"GET /2.0/user"}) {
			t.Errorf("requests = %q", got)
		}
	})
	t.Run("access token", func(t *testing.T) {
		fx := newFixture(t)
		tok, err := fx.emu.AddRepoAccessToken(bbapitest.DefaultWorkspace, "api", "repository:admin")
		if err != nil {
			t.Fatal(err)
		}
		delete(fx.env, "BITBUCKET_EMAIL")
		delete(fx.env, "BITBUCKET_API_TOKEN")
		fx.env["BITBUCKET_ACCESS_TOKEN"] = tok
		err = fx.run("--passphrase-file", fx.passFile)
		if code := apierr.ExitCode(err); code != errkind.ExitAuth || !strings.Contains(err.Error(), "access token") {
			t.Fatalf("exit %d (%v), want 4 explaining access tokens", code, err)
		}
		if len(fx.requests()) != 0 {
			t.Errorf("requests = %q, want none", fx.requests())
		}
	})
}

// writeKey makes an unencrypted ed25519 key pair at path, as a user's existing key.
func writeKey(t *testing.T, path string) *keys.Key {
	t.Helper()
	k, err := keys.Generate(keys.GenerateOptions{Path: path, Comment: "existing", NoPassphrase: true})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSetupKeyOnAnotherAccount(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	bob, err := fx.emu.AddUser(bbapitest.User{Email: "bob@example.com", Nickname: "bob", DisplayName: "Bob"})
	if err != nil {
		t.Fatal(err)
	}
	bobTok, err := fx.emu.AddAPIToken("bob@example.com", bbapitest.AllScopes...)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(fx.home.SSHDir, "id_ed25519")
	k := writeKey(t, path)
	c, err := bbapi.NewClient(fx.emu.APIURL(), &bbapi.APIToken{Email: "bob@example.com", Token: bobTok})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.SSHKeys.Add(t.Context(), bob.AccountID, bbapi.AddSSHKeyOptions{Key: k.AuthorizedKey(), Label: "bob's"}); err != nil {
		t.Fatal(err)
	}
	fx.emu.ResetRequests()
	before := fx.snapshot()

	err = fx.run("--key", path)
	if err == nil || !strings.Contains(err.Error(), "another Bitbucket account") || !strings.Contains(strings.Join(apierr.Hints(err), "\n"), "one key, one account") {
		t.Fatalf("err = %v (hints %q), want the one-key-one-account explanation", err, apierr.Hints(err))
	}
	if code := apierr.ExitCode(err); code != errkind.ExitFailure {
		t.Errorf("exit %d, want 1", code)
	}
	if got, want := fx.requests(), []string{"GET /2.0/user", "GET " + keysURL, "POST " + keysURL}; !slices.Equal(got, want) {
		t.Errorf("requests = %q, want %q", got, want)
	}
	if len(fx.agent.Entries) != 0 {
		t.Errorf("the key was left in the agent: %+v", fx.agent.Entries)
	}
	if d := testutil.DiffSnapshots(before, fx.snapshot()); d != "" {
		t.Errorf("files written:\n%s", d)
	}
	if !strings.Contains(fx.stderr.String(), "✗ upload failed") {
		t.Errorf("no ✗ line:\n%s", fx.stderr.String())
	}
}

func TestSetupProofFailureTakesTheKeyBack(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	k := writeKey(t, fx.keyPath("ada"))
	fx.emu.DenySSH(k.Fingerprint)

	err := fx.run()
	if code := apierr.ExitCode(err); code != errkind.ExitVerify {
		t.Fatalf("exit %d (%v), want 5", code, err)
	}
	if !strings.Contains(strings.Join(apierr.Hints(err), "\n"), "removed from Bitbucket again") {
		t.Errorf("hints %q do not say the key was removed", apierr.Hints(err))
	}
	// The delete goes to the key's own link (Bitbucket's uuid form of the user).
	got := fx.requests()
	if len(got) != 4 || !slices.Equal(got[:3], []string{"GET /2.0/user", "GET " + keysURL, "POST " + keysURL}) ||
		!strings.HasPrefix(got[3], "DELETE /2.0/users/") || !strings.Contains(got[3], "/ssh-keys/") {
		t.Errorf("requests = %q, want GET user, GET keys, POST, DELETE the key", got)
	}
	if uk := fx.emu.UserKeys(ada); len(uk) != 0 {
		t.Errorf("the unproven key stayed on the account: %+v", uk)
	}
	if len(fx.agent.Entries) != 0 {
		t.Errorf("the unproven key stayed in the agent")
	}
	if st := fx.state(); len(st.Accounts) != 0 {
		t.Errorf("state records the unproven key: %+v", st.Accounts)
	}
	for _, p := range []string{filepath.Join(fx.home.SSHDir, "config"), filepath.Join(fx.home.SSHDir, "bbkey")} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s was written for an unproven key", p)
		}
	}
	// The user's key files stay, for the next run.
	if _, err := os.Stat(fx.keyPath("ada")); err != nil {
		t.Errorf("key files gone: %v", err)
	}

	// Once the server accepts the key, a re-run finishes the job with the same key.
	fx.emu.AllowSSH(k.Fingerprint)
	fx.mustRun()
	if uk := fx.emu.UserKeys(ada); len(uk) != 1 || "SHA256:"+uk[0].Fingerprint != k.Fingerprint {
		t.Errorf("account keys after the re-run = %+v", uk)
	}
}

func TestSetupNoAgentIsAWarning(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	fx.noAgent = true
	fx.mustRun("--no-passphrase")
	errOut := fx.stderr.String()
	if !strings.Contains(errOut, "! agent: ") || !strings.Contains(errOut, "SSH_AUTH_SOCK") && !strings.Contains(errOut, "ssh-agent service") {
		t.Errorf("no agent warning with the fix:\n%s", errOut)
	}
	if !strings.Contains(errOut, "✓ proof:") {
		t.Errorf("the key was not proven without an agent:\n%s", errOut)
	}
}

func TestSetupPromptsOnTheTerminal(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	delete(fx.env, "BITBUCKET_EMAIL")
	tok := fx.env["BITBUCKET_API_TOKEN"]
	delete(fx.env, "BITBUCKET_API_TOKEN")
	fx.ios.StdinTTY = true
	fx.ios.StderrTTY = true
	fx.ios.NoColor = true
	fx.prompter.Answers = []string{
		bbapitest.DefaultEmail, tok, // credentials
		"first passphrase", "second passphrase", // differ: asked again
		testPassphrase, testPassphrase,
	}
	fx.mustRun()
	want := []string{
		"Atlassian account email", "API token",
		"Passphrase for the new key", "Same passphrase again",
		"The passphrases differ; passphrase for the new key", "Same passphrase again",
	}
	if !slices.Equal(fx.prompter.Asked, want) {
		t.Errorf("asked %q, want %q", fx.prompter.Asked, want)
	}
	if !strings.Contains(fx.stderr.String(), "write:ssh-key:bitbucket") {
		t.Error("the token help does not list the scopes")
	}
	sec, err := fx.store.Get(t.Context(), credstore.DefaultAccount)
	if err != nil || string(sec.Secret) != tok || sec.Email != bbapitest.DefaultEmail {
		t.Errorf("stored credential = %v, %v", sec, err)
	}
	if _, err := keys.LoadPrivate(fx.keyPath("ada"), []byte(testPassphrase)); err != nil {
		t.Errorf("key not encrypted with the passphrase typed twice: %v", err)
	}
}

// cancelAtSecret answers text prompts from a script and interrupts at the first secret,
// as Ctrl-C at the passphrase prompt does.
type cancelAtSecret struct{ prompttest.Fake }

func (c *cancelAtSecret) Secret(label string) ([]byte, error) {
	c.Asked = append(c.Asked, label)
	return nil, prompt.ErrCancelled
}

func TestSetupCancelAtPassphraseWritesNothing(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	fx.ios.StdinTTY = true
	fx.ios.StderrTTY = true
	p := &cancelAtSecret{}
	f := fx.factory()
	f.Prompter = func() prompt.Prompter { return p }
	before := fx.snapshot()
	var got *Options
	cmd := NewCmdSetup(f, func(o *Options) error { got = o; return nil })
	cmd.SetArgs(nil)
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	got.WorkDir = fx.workDir
	err := runSetup(t.Context(), got)
	if code := apierr.ExitCode(err); code != errkind.ExitUsage || !errors.Is(err, prompt.ErrCancelled) {
		t.Fatalf("exit %d (%v), want 2 (cancelled)", code, err)
	}
	if !slices.Equal(p.Asked, []string{"Passphrase for the new key"}) {
		t.Errorf("asked %q", p.Asked)
	}
	if d := testutil.DiffSnapshots(before, fx.snapshot()); d != "" {
		t.Errorf("files written:\n%s", d)
	}
	if len(fx.emu.UserKeys(ada)) != 0 || len(fx.agent.Entries) != 0 {
		t.Error("the account or the agent was changed")
	}
}

func TestSetupDryRun(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	fx.globals.JSON = true
	before := fx.snapshot()
	fx.mustRun("--dry-run", "--agent-lifetime", "1d", "--passphrase-file", fx.passFile)
	if d := testutil.DiffSnapshots(before, fx.snapshot()); d != "" {
		t.Errorf("a dry run wrote:\n%s", d)
	}
	if got := fx.requests(); !slices.Equal(got, []string{"GET /2.0/user"}) {
		t.Errorf("requests = %q", got)
	}
	if len(fx.agent.Entries) != 0 || len(fx.emu.UserKeys(ada)) != 0 {
		t.Error("a dry run changed the agent or the account")
	}
	var res Result
	if err := json.Unmarshal([]byte(fx.stdout.String()), &res); err != nil {
		t.Fatal(err)
	}
	if !res.DryRun || res.Proof != nil || len(res.FilesChanged) < 4 {
		t.Errorf("dry-run result = %+v", res)
	}
	_, noGit := exec.LookPath("git")
	for _, s := range res.Steps {
		if s.Step == "git ssh" && noGit != nil {
			continue // Windows without git: nothing to plan
		}
		if s.Step != "credentials" && s.Step != "remotes" && s.Status != statusPlanned {
			t.Errorf("step %s is %s in a dry run", s.Step, s.Status)
		}
	}
}

func TestSetupRateLimitedThenRecovers(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	fx.emu.FailNext(bbapitest.Match("POST", "/2.0/users/*/ssh-keys"), 1, 429, "Rate limit for this resource has been exceeded.")
	fx.mustRun("--no-passphrase")
	if got, want := fx.requests(), []string{"GET /2.0/user", "POST " + keysURL, "POST " + keysURL}; !slices.Equal(got, want) {
		t.Errorf("requests = %q, want %q", got, want)
	}
	if n := len(fx.emu.UserKeys(ada)); n != 1 {
		t.Errorf("%d keys on the account", n)
	}
	if !strings.Contains(fx.stderr.String(), "! waiting") {
		t.Errorf("the wait was not shown:\n%s", fx.stderr.String())
	}
}

func TestSetupSecondAccount(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	fx.mustRun("--passphrase-file", fx.passFile)

	if _, err := fx.emu.AddUser(bbapitest.User{Email: "ada@work.example", Nickname: "ada-work", DisplayName: "Ada at work"}); err != nil {
		t.Fatal(err)
	}
	tok, err := fx.emu.AddAPIToken("ada@work.example", bbapitest.AllScopes...)
	if err != nil {
		t.Fatal(err)
	}
	fx.env["BITBUCKET_EMAIL"], fx.env["BITBUCKET_API_TOKEN"] = "ada@work.example", tok
	fx.globals.JSON = true
	fx.mustRun("--passphrase-file", fx.passFile, "--name", "work")
	var res Result
	if err := json.Unmarshal([]byte(fx.stdout.String()), &res); err != nil {
		t.Fatal(err)
	}
	if res.Host != "ssh.bitbucket.org-work" || res.RemoteForm != "git@ssh.bitbucket.org-work:WORKSPACE/REPO.git" || res.Key.Path != fx.keyPath("work") {
		t.Errorf("second account: host %q, remotes %q, key %q", res.Host, res.RemoteForm, res.Key.Path)
	}
	if !strings.Contains(fx.stderr.String(), "remotes of this account use git@ssh.bitbucket.org-work:WORKSPACE/REPO.git") {
		t.Errorf("the remote form is not said:\n%s", fx.stderr.String())
	}
	cfg, _ := os.ReadFile(filepath.Join(fx.home.SSHDir, "bbkey", "config"))
	for _, h := range []string{"Host ssh.bitbucket.org\n", "Host ssh.bitbucket.org-work\n"} {
		if !strings.Contains(string(cfg), h) {
			t.Errorf("ssh config lacks %q:\n%s", h, cfg)
		}
	}

	// The same account under another name is refused; another account under a taken name too.
	if err := fx.run("--name", "other"); apierr.ExitCode(err) != errkind.ExitUsage || !strings.Contains(err.Error(), `"work"`) {
		t.Errorf("same account, other name: %v", err)
	}
	if _, err := fx.emu.AddUser(bbapitest.User{Email: "carol@example.com", Nickname: "carol"}); err != nil {
		t.Fatal(err)
	}
	carol, err := fx.emu.AddAPIToken("carol@example.com", bbapitest.AllScopes...)
	if err != nil {
		t.Fatal(err)
	}
	fx.env["BITBUCKET_EMAIL"], fx.env["BITBUCKET_API_TOKEN"] = "carol@example.com", carol
	if err := fx.run("--name", "work"); apierr.ExitCode(err) != errkind.ExitUsage || !strings.Contains(err.Error(), "another Bitbucket account") {
		t.Errorf("taken name: %v", err)
	}
}

func TestSetupFlagErrors(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--name", "Bad Name"},
		{"--expires-in", "soon"},
		{"--agent-lifetime", "-1h"},
		{"--no-passphrase", "--passphrase-file", "x"},
		{"--no-passphrase", "--key", "x"},
		{"--key", "does-not-exist"},
	} {
		fx := newFixture(t)
		before := fx.snapshot()
		err := fx.run(args...)
		if err == nil {
			t.Errorf("%q: no error", args)
			continue
		}
		if !strings.Contains(err.Error(), "if any flags in the group") && apierr.ExitCode(err) != errkind.ExitUsage {
			t.Errorf("%q: exit %d (%v), want 2", args, apierr.ExitCode(err), err)
		}
		if d := testutil.DiffSnapshots(before, fx.snapshot()); d != "" {
			t.Errorf("%q wrote:\n%s", args, d)
		}
	}
}

func TestSetupSwitchesRemotesHere(t *testing.T) {
	t.Parallel()
	testutil.RequireBinary(t, "git")
	fx := newFixture(t)
	env := fx.home.Env()
	testutil.Run(t, fx.workDir, env, "git", "init", "-q")
	testutil.Run(t, fx.workDir, env, "git", "remote", "add", "origin", "https://ada:s3cret@bitbucket.org/acme/api.git")
	testutil.Run(t, fx.workDir, env, "git", "remote", "add", "other", "https://github.com/x/y.git")
	fx.globals.JSON = true
	fx.mustRun("--no-passphrase")

	if got := strings.TrimSpace(testutil.Run(t, fx.workDir, env, "git", "remote", "get-url", "origin")); got != "git@ssh.bitbucket.org:acme/api.git" {
		t.Errorf("origin = %q", got)
	}
	if got := strings.TrimSpace(testutil.Run(t, fx.workDir, env, "git", "remote", "get-url", "other")); got != "https://github.com/x/y.git" {
		t.Errorf("other = %q: not Bitbucket, must stay", got)
	}
	var res Result
	if err := json.Unmarshal([]byte(fx.stdout.String()), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.RemotesChanged) != 1 {
		t.Fatalf("remotes_changed = %+v", res.RemotesChanged)
	}
	c := res.RemotesChanged[0]
	if c.Remote != "origin" || c.New != "git@ssh.bitbucket.org:acme/api.git" || !c.HadSecret || strings.Contains(c.Old, "s3cret") {
		t.Errorf("change = %+v", c)
	}
	if strings.Contains(fx.stdout.String()+fx.stderr.String(), "s3cret") {
		t.Error("the secret in the old remote was printed")
	}
	if !slices.Contains(res.FilesChanged, c.ConfigFile) {
		t.Errorf("files_changed %q lacks %s", res.FilesChanged, c.ConfigFile)
	}

	// --no-remotes leaves them alone.
	testutil.Run(t, fx.workDir, env, "git", "remote", "set-url", "origin", "https://bitbucket.org/acme/api.git")
	fx.mustRun("--no-remotes")
	if got := strings.TrimSpace(testutil.Run(t, fx.workDir, env, "git", "remote", "get-url", "origin")); got != "https://bitbucket.org/acme/api.git" {
		t.Errorf("--no-remotes changed origin to %q", got)
	}
}

func TestSetupUnattendedRerunWithoutPassphrase(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	fx.mustRun("--passphrase-file", fx.passFile)
	before := fx.snapshot()
	fx.emu.ResetRequests()
	fx.agent = &agenttest.Fake{} // a new login session: the agent forgot the key

	fx.mustRun()
	errOut := fx.stderr.String()
	for _, w := range []string{"! agent: not loaded: the key is encrypted", "! proof: skipped: the key was proven before"} {
		if !strings.Contains(errOut, w) {
			t.Errorf("stderr lacks %q:\n%s", w, errOut)
		}
	}
	if got, want := fx.requests(), []string{"GET /2.0/user", "GET " + keysURL}; !slices.Equal(got, want) {
		t.Errorf("requests = %q, want %q", got, want)
	}
	if d := testutil.DiffSnapshots(before, fx.snapshot()); d != "" {
		t.Errorf("files changed:\n%s", d)
	}

	// A key never proven here is not let through that way: it needs its passphrase.
	other := filepath.Join(fx.home.SSHDir, "other_ed25519")
	if _, err := keys.Generate(keys.GenerateOptions{Path: other, Passphrase: []byte(testPassphrase)}); err != nil {
		t.Fatal(err)
	}
	err := fx.run("--key", other)
	if apierr.ExitCode(err) != errkind.ExitUsage || !strings.Contains(err.Error()+strings.Join(apierr.Hints(err), " "), "--passphrase-file") {
		t.Errorf("unproven encrypted key without a passphrase: %v", err)
	}
}

func TestSetupKeyFlag(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	fx.mustRun("--passphrase-file", fx.passFile)
	first := fx.state().Accounts["ada"].Fingerprint

	// A .pub path means its private key; the account's earlier key is left, with a note.
	other := filepath.Join(fx.home.SSHDir, "id_ed25519")
	k := writeKey(t, other)
	fx.mustRun("--key", other+".pub")
	rec := fx.state().Accounts["ada"]
	if rec.KeyPath != other || rec.Fingerprint != k.Fingerprint {
		t.Errorf("state = %+v, want %s", rec, other)
	}
	if !strings.Contains(fx.stderr.String(), "earlier key "+first+" stays on Bitbucket") {
		t.Errorf("no note about the earlier key:\n%s", fx.stderr.String())
	}
	if n := len(fx.emu.UserKeys(ada)); n != 2 {
		t.Errorf("%d keys on the account, want both", n)
	}
	cfg, _ := os.ReadFile(filepath.Join(fx.home.SSHDir, "bbkey", "config"))
	if !strings.Contains(string(cfg), "IdentityFile "+filepath.ToSlash(other)+"\n") {
		t.Errorf("ssh config does not use %s:\n%s", other, cfg)
	}
}

// BenchmarkSetupRerun measures a re-run with nothing to do: GET /user, one page of keys,
// the agent check, the SSH proof through the agent, and reading back the files.
func BenchmarkSetupRerun(b *testing.B) {
	fx := newFixture(b)
	fx.mustRun("--no-passphrase")
	b.ResetTimer()
	for b.Loop() {
		fx.mustRun()
	}
	b.StopTimer()
	if n := len(fx.emu.UserKeys(ada)); n != 1 {
		b.Fatalf("%d keys on the account", n)
	}
}

// On Windows setup makes git run Windows OpenSSH (one step line, the real git writing the
// throw-away home's global config); a re-run sees it done; --dry-run and --no-git-ssh
// write nothing; GIT_SSH_COMMAND in the environment is only warned about.
func TestSetupMakesGitUseWindowsOpenSSH(t *testing.T) {
	testutil.RequireBinary(t, "git")
	get := func(fx *fixture) string {
		out, _ := testutil.RunErr(fx.home.Dir, fx.home.Env(), "git", "config", "--global", "--get", "core.sshCommand")
		return strings.TrimSpace(out)
	}
	const win = "C:/Windows/System32/OpenSSH/ssh.exe"

	fx := newFixture(t)
	fx.goos = "windows"
	fx.mustRun("--passphrase-file", fx.passFile, "--dry-run")
	if !strings.Contains(fx.stderr.String(), "git ssh: would run git config --global core.sshCommand "+win+" (git uses git's own ssh") || get(fx) != "" {
		t.Fatalf("dry run:\n%s\ncore.sshCommand=%q", fx.stderr.String(), get(fx))
	}
	fx.mustRun("--passphrase-file", fx.passFile, "--no-remotes")
	if !strings.Contains(fx.stderr.String(), "git ssh: git config --global core.sshCommand "+win) || get(fx) != win {
		t.Fatalf("first run:\n%s\ncore.sshCommand=%q", fx.stderr.String(), get(fx))
	}
	fx.mustRun("--passphrase-file", fx.passFile, "--no-remotes")
	if !strings.Contains(fx.stderr.String(), "git ssh: git uses Windows OpenSSH (core.sshCommand "+win+")") {
		t.Fatalf("re-run:\n%s", fx.stderr.String())
	}

	fx = newFixture(t)
	fx.goos = "windows"
	fx.mustRun("--passphrase-file", fx.passFile, "--no-remotes", "--no-git-ssh")
	if !strings.Contains(fx.stderr.String(), "git ssh: left git's ssh alone (--no-git-ssh)") || get(fx) != "" {
		t.Fatalf("--no-git-ssh:\n%s\ncore.sshCommand=%q", fx.stderr.String(), get(fx))
	}

	fx = newFixture(t)
	fx.goos = "windows"
	fx.env["GIT_SSH_COMMAND"] = "ssh -v"
	fx.mustRun("--passphrase-file", fx.passFile, "--no-remotes")
	if !strings.Contains(fx.stderr.String(), "remove GIT_SSH_COMMAND so git can reach the agent") || get(fx) != "" {
		t.Fatalf("GIT_SSH_COMMAND:\n%s\ncore.sshCommand=%q", fx.stderr.String(), get(fx))
	}

	fx = newFixture(t)
	fx.goos = "linux"
	fx.mustRun("--passphrase-file", fx.passFile, "--no-remotes")
	if strings.Contains(fx.stderr.String(), "git ssh") || get(fx) != "" {
		t.Fatalf("linux:\n%s", fx.stderr.String())
	}
}

// An account set up by an older bbkey under a name the rule now refuses for new keys
// (here access-ada) is still found and checked by a re-run: the name is already its own.
func TestSetupRerunKeepsAnOlderName(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	fx.mustRun("--passphrase-file", fx.passFile)
	old := fx.keyPath("access-ada")
	for _, suf := range []string{"", keys.PublicSuffix} {
		if err := os.Rename(fx.keyPath("ada")+suf, old+suf); err != nil {
			t.Fatal(err)
		}
	}
	err := state.Dir{Path: filepath.Join(fx.home.ConfigDir, "bbkey")}.Update(t.Context(), func(s *state.State) error {
		a := s.Accounts["ada"]
		a.KeyName, a.KeyPath = "access-ada", old
		s.Accounts["access-ada"] = a
		delete(s.Accounts, "ada")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := fx.run("--passphrase-file", fx.passFile); err != nil {
		t.Fatalf("re-run: %v", err)
	}
	if a := fx.state().Accounts["access-ada"]; a == nil || a.KeyPath != old {
		t.Errorf("state after the re-run: %+v", fx.state().Accounts)
	}
	if n := len(fx.emu.UserKeys(ada)); n != 1 {
		t.Errorf("%d keys on the account, want 1", n)
	}
}
