package setup

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/cmdutil"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/hostkeys"
	"github.com/bbkey/bbkey/internal/keylabel"
	"github.com/bbkey/bbkey/internal/testutil"
)

const dcKeysPath = "/rest/ssh/latest/keys"

func TestSetupDataCenter(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, bbapitest.WithDataCenter(), bbapitest.WithSpecValidation(t))
	fx.goos = "linux"
	dcs := fx.emu.DataCenter()
	server := dcs.ServerURL()
	fx.mustRun("--passphrase-file", fx.passFile, "--expires-in", "30d")

	keys := dcs.UserKeys(bbapitest.DCDefaultUser)
	if len(keys) != 1 || keys[0].ExpiryDays != 30 || !strings.HasPrefix(keys[0].Label, "bbkey:") {
		t.Fatalf("keys on the server: %+v", keys)
	}
	var posts int
	for _, r := range fx.emu.Requests() {
		if r.Method == "POST" && r.Path == dcKeysPath {
			posts++
		}
		if r.Method == "DELETE" {
			t.Errorf("setup sent %s %s", r.Method, r.Path)
		}
	}
	if posts != 1 {
		t.Errorf("%d POSTs of the key", posts)
	}
	// The call budget of a fresh key: who (two calls on Data Center), the SSH settings,
	// the upload.
	want := []string{"GET /rest/api/latest/application-properties", "GET /rest/api/latest/users/ada", "GET /rest/ssh/latest/settings", "POST " + dcKeysPath}
	if got := fx.requests(); !slices.Equal(got, want) {
		t.Errorf("requests = %q, want %q", got, want)
	}
	host, port := strings.Split(fx.emu.SSHEndpoint(), ":")[0], strings.Split(fx.emu.SSHEndpoint(), ":")[1]
	name := "ada-127.0.0.1-" + strings.Split(strings.TrimPrefix(server, "http://"), ":")[1]
	st := fx.state()
	if len(st.Accounts) != 0 {
		t.Errorf("a Data Center key among Cloud's accounts: %+v", st.Accounts)
	}
	v := st.ServerOf(server)
	if v == nil || v.SSHHost != host || v.SSHEndpoint != fx.emu.SSHEndpoint() || len(v.HostKeys) != 1 || v.Accounts[name] == nil {
		t.Fatalf("state entry of %s: %+v (accounts %v)", server, v, v.Accounts)
	}
	a := v.Accounts[name]
	if a.UUID != bbapitest.DCDefaultUser || a.KeyPath != fx.keyPath(name) || a.KeyID == "" {
		t.Errorf("account = %+v", a)
	}
	// The key the SSH server presented is pinned under the SSH host; the Host block
	// answers for it.
	kh, err := hostkeys.Load(hostkeys.Path(fx.home.SSHDir), host)
	if err != nil || len(kh) != 1 || ssh.FingerprintSHA256(kh[0]) != ssh.FingerprintSHA256(fx.emu.HostPublicKey()) {
		t.Errorf("pinned for %s: %v, %v", host, kh, err)
	}
	cfg, err := os.ReadFile(filepath.Join(fx.home.SSHDir, "bbkey", "config"))
	if err != nil || !strings.Contains(string(cfg), "Host "+host+"\n") || !strings.Contains(string(cfg), "Port "+port) {
		t.Errorf("bbkey's ssh config: %v\n%s", err, cfg)
	}
	if !strings.Contains(fx.stdout.String(), "ssh://git@"+fx.emu.SSHEndpoint()+"/project/REPO.git") {
		t.Errorf("the remote form is not named:\n%s", fx.stdout.String())
	}

	// A second run changes nothing.
	before := fx.snapshot()
	fx.mustRun("--passphrase-file", fx.passFile, "--expires-in", "30d")
	if d := testutil.DiffSnapshots(before, fx.snapshot()); d != "" {
		t.Errorf("the re-run changed files:\n%s", d)
	}
	if n := len(dcs.UserKeys(bbapitest.DCDefaultUser)); n != 1 {
		t.Errorf("%d keys after the re-run", n)
	}
	if got := fx.requests()[len(want):]; !slices.Equal(got, append(want[:3:3], "GET "+dcKeysPath)) {
		t.Errorf("re-run requests = %q", got)
	}
}

// The key the SSH server presents does not match what the server's HTTPS answer vouches
// for: nothing is pinned, uploaded or written, and the exit code is 5.
func TestSetupDataCenterHostKeyMismatch(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, bbapitest.WithDataCenter(), bbapitest.WithSpecValidation(t))
	fx.emu.DataCenter().SetReportedHostKeyFingerprint("SHA256:" + strings.Repeat("A", 43))
	before := fx.snapshot()
	err := fx.run("--passphrase-file", fx.passFile)
	var he *backend.HostKeyError
	if !errors.As(err, &he) || apierr.ExitCode(err) != errkind.ExitVerify {
		t.Fatalf("err = %v (exit %d), want a host key error, exit 5", err, apierr.ExitCode(err))
	}
	if d := testutil.DiffSnapshots(before, fx.snapshot()); d != "" {
		t.Errorf("files changed:\n%s", d)
	}
	if n := len(fx.emu.DataCenter().UserKeys(bbapitest.DCDefaultUser)); n != 0 {
		t.Errorf("%d keys uploaded", n)
	}
	if h := strings.Join(apierr.Hints(err), "\n"); !strings.Contains(h, "--ssh-host-keys") {
		t.Errorf("hints %q", h)
	}
}

// Without a token for the server and no way to ask, setup fails before anything else,
// naming where a token comes from.
func TestSetupDataCenterNoToken(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, bbapitest.WithDataCenter(), bbapitest.WithSpecValidation(t))
	delete(fx.env, cmdutil.ServerTokenEnv)
	err := fx.run("--passphrase-file", fx.passFile)
	if apierr.ExitCode(err) != errkind.ExitUsage || !strings.Contains(strings.Join(apierr.Hints(err), "\n"), "auth login --server") {
		t.Fatalf("err = %v (exit %d, hints %q)", err, apierr.ExitCode(err), apierr.Hints(err))
	}
	if reqs := fx.requests(); len(reqs) != 0 {
		t.Errorf("requests: %q", reqs)
	}
}

// A project token acts as a service user, which holds no SSH keys of its own.
func TestSetupDataCenterServiceToken(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, bbapitest.WithDataCenter(), bbapitest.WithSpecValidation(t))
	tok, err := fx.emu.DataCenter().AddProjectToken(bbapitest.DCDefaultProject, bbapitest.PermAdmin)
	if err != nil {
		t.Fatal(err)
	}
	fx.env[cmdutil.ServerTokenEnv] = tok
	err = fx.run("--passphrase-file", fx.passFile)
	if apierr.ExitCode(err) != errkind.ExitAuth || !strings.Contains(strings.Join(apierr.Hints(err), "\n"), "add-access-key") {
		t.Fatalf("err = %v (exit %d, hints %q)", err, apierr.ExitCode(err), apierr.Hints(err))
	}
	if slices.ContainsFunc(fx.requests(), func(r string) bool { return strings.HasPrefix(r, "POST") }) {
		t.Errorf("requests: %q", fx.requests())
	}
}

func TestDataCenterName(t *testing.T) {
	for _, tt := range []struct{ user, server, want string }{
		{"ada", "https://bitbucket.example.com", "ada-bitbucket.example.com"},
		{"ada", "https://bitbucket.example.com:8443/bb", "ada-bitbucket.example.com-8443"},
		{"Ada.Lovelace", "http://127.0.0.1:7990", "ada.lovelace-127.0.0.1-7990"},
		{"ada", "https://" + strings.Repeat("a", 58) + ".b.example.com", "ada-" + strings.Repeat("a", 58)},
	} {
		got := dataCenterName(tt.user, tt.server)
		if got != tt.want || keylabel.ValidName(got) != nil {
			t.Errorf("dataCenterName(%q, %q) = %q (valid: %v), want %q", tt.user, tt.server, got, keylabel.ValidName(got), tt.want)
		}
	}
}

// Two servers whose SSH git shares a host name cannot both hold keys here (ssh config
// matches hosts by name): the second is refused before anything is written.
func TestSetupDataCenterSSHHostTaken(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, bbapitest.WithDataCenter())
	fx.mustRun("--passphrase-file", fx.passFile)
	other := bbapitest.Start(t, bbapitest.WithDataCenter())
	fx.env["BITBUCKET_SERVER"] = other.DataCenter().ServerURL()
	fx.env[cmdutil.ServerTokenEnv] = other.DataCenter().DefaultToken()
	before := fx.snapshot()
	err := fx.run("--passphrase-file", fx.passFile)
	if apierr.ExitCode(err) != errkind.ExitUsage || !strings.Contains(err.Error(), "127.0.0.1") {
		t.Fatalf("err = %v (exit %d)", err, apierr.ExitCode(err))
	}
	if d := testutil.DiffSnapshots(before, fx.snapshot()); d != "" {
		t.Errorf("files changed:\n%s", d)
	}
	if n := len(other.DataCenter().UserKeys(bbapitest.DCDefaultUser)); n != 0 {
		t.Errorf("%d keys uploaded to the second server", n)
	}
}

// A dry run on Data Center reads (who, the SSH settings, the host key) and writes
// nothing: no key posted, no file changed.
func TestSetupDataCenterDryRun(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, bbapitest.WithDataCenter(), bbapitest.WithSpecValidation(t))
	before := fx.snapshot()
	fx.mustRun("--passphrase-file", fx.passFile, "--dry-run", "--expires-in", "30d")
	if d := testutil.DiffSnapshots(before, fx.snapshot()); d != "" {
		t.Errorf("files changed:\n%s", d)
	}
	for _, r := range fx.requests() {
		if !strings.HasPrefix(r, "GET ") {
			t.Errorf("a dry run sent %s", r)
		}
	}
	if n := len(fx.emu.DataCenter().UserKeys(bbapitest.DCDefaultUser)); n != 0 {
		t.Errorf("%d keys uploaded", n)
	}
	if !strings.Contains(fx.stderr.String(), "- upload: would add the key") {
		t.Errorf("stderr:\n%s", fx.stderr.String())
	}
}

// A key the SSH server refuses: exit 5, and the key this run posted is deleted again by
// its id (never the id-less DELETE of every key); no state entry, Host block or pin
// stays.
func TestSetupDataCenterProofFailureTakesTheKeyBack(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, bbapitest.WithDataCenter(), bbapitest.WithSpecValidation(t))
	fx.emu.DenySSHNewKeys()
	err := fx.run("--passphrase-file", fx.passFile)
	if apierr.ExitCode(err) != errkind.ExitVerify {
		t.Fatalf("err = %v (exit %d), want exit 5", err, apierr.ExitCode(err))
	}
	if n := len(fx.emu.DataCenter().UserKeys(bbapitest.DCDefaultUser)); n != 0 {
		t.Errorf("%d keys left on the server", n)
	}
	var deletes []string
	for _, r := range fx.requests() {
		if strings.HasPrefix(r, "DELETE ") {
			deletes = append(deletes, r)
		}
	}
	if len(deletes) != 1 || !strings.HasPrefix(deletes[0], "DELETE "+dcKeysPath+"/") {
		t.Errorf("deletes = %q, want one DELETE %s/{id}", deletes, dcKeysPath)
	}
	if st := fx.state(); len(st.Servers) != 0 {
		t.Errorf("state records the server: %+v", st.Servers)
	}
	for _, f := range []string{filepath.Join(fx.home.SSHDir, "bbkey", "known_hosts"), filepath.Join(fx.home.SSHDir, "bbkey", "config")} {
		if _, err := os.Stat(f); err == nil {
			t.Errorf("%s was left", f)
		}
	}
	if !strings.Contains(strings.Join(apierr.Hints(err), "\n"), "removed from Bitbucket again") {
		t.Errorf("hints %q", apierr.Hints(err))
	}
}
