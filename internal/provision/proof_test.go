package provision

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/bbapi/dc"
	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/gitrun"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/internal/testutil"
	"github.com/bbkey/bbkey/keys"
)

// proofWorld is an emulator, a throw-away home for git, and a key (encrypted unless
// plain) that is an access key of acme/api when added.
func proofWorld(t *testing.T, plain, added bool) (*bbapitest.Server, *keys.Key, Proof) {
	t.Helper()
	testutil.RequireBinary(t, "git", "ssh")
	home := testutil.NewHome(t)
	for _, kv := range home.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	t.Setenv("SSH_AUTH_SOCK", "")
	emu := bbapitest.Start(t)
	opts := keys.GenerateOptions{Path: filepath.Join(home.SSHDir, "bbkey_access_t_ed25519"), Comment: "t"}
	if plain {
		opts.NoPassphrase = true
	} else {
		opts.Passphrase = []byte("correct horse battery staple")
	}
	k, err := keys.Generate(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Wipe)
	if added {
		c, err := bbapi.NewClient(emu.APIURL(), &bbapi.APIToken{Email: bbapitest.DefaultEmail, Token: emu.DefaultAPIToken()})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.RepoKeys("acme", "api").Add(context.Background(), bbapi.AddDeployKeyOptions{Key: k.AuthorizedKey(), Label: "t"}); err != nil {
			t.Fatal(err)
		}
	}
	p := Proof{
		Git:          func(env []string) gitrun.Runner { return gitrun.Exec{Env: env} },
		Target:       state.Target{Kind: state.TargetRepo, Workspace: "acme", Slug: "api"},
		Endpoint:     emu.SSHEndpoint(),
		HostKeyAlias: "ssh.bitbucket.org",
		KnownHosts:   append([]byte("ssh.bitbucket.org "), ssh.MarshalAuthorizedKey(emu.HostPublicKey())...),
		KeyPath:      k.Path,
	}
	return emu, k, p
}

func TestProofEncryptedKeyServedFromATemporaryAgent(t *testing.T) {
	_, k, p := proofWorld(t, false, true)
	p.Private = k.Private
	res, err := p.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !res.Read || !res.PushRefused || res.Message != "conq: repository access denied. access via a deployment key is read-only." {
		t.Errorf("result = %+v", res)
	}
	if !strings.HasPrefix(res.Remote, "ssh://git@127.0.0.1:") || !strings.HasSuffix(res.Remote, "/acme/api.git") {
		t.Errorf("remote = %s", res.Remote)
	}
}

// Without the temporary agent, ssh cannot use the encrypted key unattended: the proof
// fails, so the agent above is what made it pass.
func TestProofEncryptedKeyWithoutAgentFails(t *testing.T) {
	_, _, p := proofWorld(t, false, true)
	_, err := p.Run(context.Background())
	if apierr.ExitCode(err) != errkind.ExitVerify {
		t.Fatalf("err = %v (exit %d), want exit 5", err, apierr.ExitCode(err))
	}
}

func TestProofPlainKeyFromItsFile(t *testing.T) {
	_, _, p := proofWorld(t, true, true)
	res, err := p.Run(context.Background())
	if err != nil || !res.PushRefused {
		t.Fatalf("res %+v err %v", res, err)
	}
}

func TestProofKeyNotOnTheRepository(t *testing.T) {
	_, _, p := proofWorld(t, true, false)
	res, err := p.Run(context.Background())
	if apierr.ExitCode(err) != errkind.ExitVerify || res.Read {
		t.Fatalf("res %+v err %v, want exit 5 before reading", res, err)
	}
	if !strings.Contains(err.Error(), "Permission denied") && !strings.Contains(err.Error(), "access denied") {
		t.Errorf("err = %v, want ssh's refusal", err)
	}
}

func TestProofWrongHostKey(t *testing.T) {
	_, k, p := proofWorld(t, false, true)
	p.Private = k.Private
	p.KnownHosts = append([]byte("ssh.bitbucket.org "), ssh.MarshalAuthorizedKey(k.PublicKey)...)
	_, err := p.Run(context.Background())
	if apierr.ExitCode(err) != errkind.ExitVerify || !strings.Contains(err.Error(), "Host key verification failed") {
		t.Fatalf("err = %v, want a host key failure (exit 5)", err)
	}
}

func TestRefusal(t *testing.T) {
	for in, want := range map[string]string{
		"remote: conq: repository access denied. access via a deployment key is read-only.\nfatal: Could not read from remote repository.\n": "conq: repository access denied. access via a deployment key is read-only.",
		"fatal: repository access denied. access via a deployment key is read-only.\n":                                                       "repository access denied. access via a deployment key is read-only.",
		"Permission denied (publickey).\n": "",
		"remote: You are not permitted to push to this repository: the key may read it but not write to it.\nfatal: Could not read from remote repository.\n": "You are not permitted to push to this repository: the key may read it but not write to it.",
	} {
		if got := refusal(in); got != want {
			t.Errorf("refusal(%q) = %q, want %q", in, got, want)
		}
	}
}

// dcProofWorld is a Data Center emulator and a plain key, added to OPS/api (and ~ada/notes)
// with perm unless perm is "".
func dcProofWorld(t *testing.T, perm dc.Permission) Proof {
	t.Helper()
	testutil.RequireBinary(t, "git", "ssh")
	home := testutil.NewHome(t)
	for _, kv := range home.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	t.Setenv("SSH_AUTH_SOCK", "")
	srv := bbapitest.Start(t, bbapitest.WithDataCenter(), bbapitest.WithSpecValidation(t))
	c, err := dc.NewClient(srv.DataCenter().ServerURL(), dc.Token{Token: srv.DataCenter().DefaultToken()}, bbapi.WithVersion("test"))
	if err != nil {
		t.Fatal(err)
	}
	k, err := keys.Generate(keys.GenerateOptions{Path: filepath.Join(home.SSHDir, "bbkey_access_t_ed25519"), Comment: "t", NoPassphrase: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Wipe)
	if perm != "" {
		ctx := context.Background()
		if _, _, err := c.RepoKeys("OPS", "api").Add(ctx, dc.AddAccessKeyOptions{Text: k.AuthorizedKey(), Label: "t", Permission: perm}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.RepoKeys("~ada", "notes").Add(ctx, dc.AddAccessKeyOptions{Text: k.AuthorizedKey(), Label: "t", Permission: perm}); err != nil {
			t.Fatal(err)
		}
	}
	return Proof{
		Git:          func(env []string) gitrun.Runner { return gitrun.Exec{Env: env} },
		Target:       state.Target{Kind: state.TargetRepo, Workspace: "OPS", Slug: "api"},
		DataCenter:   true,
		Endpoint:     srv.SSHEndpoint(),
		HostKeyAlias: "bitbucket.example.com",
		KnownHosts:   append([]byte("bitbucket.example.com "), ssh.MarshalAuthorizedKey(srv.HostPublicKey())...),
		KeyPath:      k.Path,
	}
}

// On Data Center a read access key reads and is refused a push, on a project repository
// and a personal one, over ssh://git@host:port/proj/slug.git.
func TestProofDataCenterRead(t *testing.T) {
	p := dcProofWorld(t, dc.RepoRead)
	for _, tg := range []state.Target{p.Target, {Kind: state.TargetRepo, Workspace: "~ada", Slug: "notes"}} {
		p.Target = tg
		res, err := p.Run(context.Background())
		if err != nil || !res.Read || !res.PushRefused || res.PushAccepted || !strings.Contains(res.Message, "not permitted to push") {
			t.Fatalf("%s: res %+v err %v", tg.Ref(), res, err)
		}
		want := "/" + strings.ToLower(tg.Workspace) + "/" + tg.Slug + ".git"
		if !strings.HasPrefix(res.Remote, "ssh://git@127.0.0.1:") || !strings.HasSuffix(res.Remote, want) {
			t.Errorf("remote = %s, want ssh://git@127.0.0.1:PORT%s", res.Remote, want)
		}
	}
	// The same key proved as a write key fails: the push is refused.
	p.Write = true
	if _, err := p.Run(context.Background()); apierr.ExitCode(err) != errkind.ExitVerify || !strings.Contains(err.Error(), "write permission") {
		t.Errorf("read key proved for --write: err %v, want exit 5", err)
	}
}

// A write access key: the proof for --write passes, the read-only proof fails.
func TestProofDataCenterWrite(t *testing.T) {
	p := dcProofWorld(t, dc.RepoWrite)
	p.Write = true
	res, err := p.Run(context.Background())
	if err != nil || !res.Read || !res.PushAccepted || res.PushRefused {
		t.Fatalf("res %+v err %v", res, err)
	}
	p.Write = false
	if _, err := p.Run(context.Background()); apierr.ExitCode(err) != errkind.ExitVerify || !strings.Contains(err.Error(), "not a read-only access key") {
		t.Errorf("write key proved read-only: err %v, want exit 5", err)
	}
}
