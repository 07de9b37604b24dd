package accesskey

import (
	"context"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/internal/cmdutil"
	"github.com/bbkey/bbkey/internal/gitrun"
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
		if _, _, err := c.DeployKeys.Add(context.Background(), "acme", "api", bbapi.AddDeployKeyOptions{Key: k.AuthorizedKey(), Label: "t"}); err != nil {
			t.Fatal(err)
		}
	}
	p := Proof{
		Git:          func(env []string) gitrun.Runner { return gitrun.Exec{Env: env} },
		Target:       repo("api"),
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
	if cmdutil.ExitCode(err) != cmdutil.ExitVerify {
		t.Fatalf("err = %v (exit %d), want exit 5", err, cmdutil.ExitCode(err))
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
	if cmdutil.ExitCode(err) != cmdutil.ExitVerify || res.Read {
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
	if cmdutil.ExitCode(err) != cmdutil.ExitVerify || !strings.Contains(err.Error(), "Host key verification failed") {
		t.Fatalf("err = %v, want a host key failure (exit 5)", err)
	}
}

func TestShellJoin(t *testing.T) {
	testutil.RequireBinary(t, "sh")
	args := []string{"plain", "with space", "it's", `back\slash`, "$HOME", "", "-o", "UserKnownHostsFile=/tmp/a b/known_hosts"}
	out, err := exec.Command("sh", "-c", `for a in `+shellJoin(args)+`; do printf '%s\n' "$a"; done`).Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n"); !slices.Equal(got, args) {
		t.Errorf("sh read %q, want %q", got, args)
	}
}

func TestRefusal(t *testing.T) {
	for in, want := range map[string]string{
		"remote: conq: repository access denied. access via a deployment key is read-only.\nfatal: Could not read from remote repository.\n": "conq: repository access denied. access via a deployment key is read-only.",
		"fatal: repository access denied. access via a deployment key is read-only.\n":                                                       "repository access denied. access via a deployment key is read-only.",
		"Permission denied (publickey).\n": "",
	} {
		if got := refusal(in); got != want {
			t.Errorf("refusal(%q) = %q, want %q", in, got, want)
		}
	}
}
