package doctor

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/bbapi/dc"
	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/identity"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/internal/testutil"
	"github.com/bbkey/bbkey/keys"
)

// dcDoctor is a machine with a Data Center identity as setup leaves it: a user key on the
// server (the emulator in Data Center mode, REST over HTTP and git over SSH on loopback),
// its file, the state's server entry with the SSH host, port and the pinned host key,
// and the ssh config and known_hosts written from the state.
type dcDoctor struct {
	e     *Env
	srv   *bbapitest.Server
	key   *keys.Key
	keyID int
	token string
}

func newDCDoctor(t *testing.T) *dcDoctor {
	t.Helper()
	testutil.RequireBinary(t, "ssh")
	e := newEnv(t)
	var d net.Dialer
	e.Dial = d.DialContext // loopback only: the emulator
	srv := bbapitest.Start(t, bbapitest.WithDataCenter(), bbapitest.WithSpecValidation(t))
	dd := &dcDoctor{e: e, srv: srv, token: srv.DataCenter().DefaultToken()}
	server := srv.DataCenter().ServerURL()
	e.Settings.Server = server
	e.ServerBackend = func(_ context.Context, url string) (backend.Backend, error) {
		c, err := dc.NewClient(url, dc.Token{Token: dd.token})
		if err != nil {
			return nil, err
		}
		return backend.NewDataCenter(c, backend.DataCenterOptions{Now: e.Now}), nil
	}
	c, err := dc.NewClient(server, dc.Token{Token: dd.token})
	if err != nil {
		t.Fatal(err)
	}
	k, err := keys.Generate(keys.GenerateOptions{Path: filepath.Join(e.Paths.SSHDir, "bbkey_work_ed25519"), Comment: "bbkey:work", NoPassphrase: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Wipe)
	dd.key = k
	added, _, err := c.SSHKeys.Add(t.Context(), dc.AddSSHKeyOptions{Text: k.AuthorizedKey(), Label: "bbkey:work:2026-11-20"})
	if err != nil {
		t.Fatal(err)
	}
	dd.keyID = added.ID
	set, _, err := c.SSH.Settings(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	host, port, err := set.Endpoint()
	if err != nil {
		t.Fatal(err)
	}
	st := &state.State{Version: state.Version, Accounts: map[string]*state.Account{}, AccessKeys: map[string]*state.AccessKey{}}
	v := st.EnsureServer(server)
	v.SSHHost, v.SSHPort, v.SSHEndpoint = host, port, net.JoinHostPort(host, strconv.Itoa(port))
	v.HostKeys = []string{strings.TrimSpace(string(ssh.MarshalAuthorizedKey(srv.HostPublicKey())))}
	v.Accounts["work"] = &state.Account{UUID: bbapitest.DCDefaultUser, KeyName: "work", KeyPath: k.Path, Fingerprint: k.Fingerprint, KeyID: strconv.Itoa(added.ID), Label: "bbkey:work:2026-11-20", Created: now}
	if err := (state.Dir{Path: e.Paths.ConfigDir}).Save(st); err != nil {
		t.Fatal(err)
	}
	if _, err := identity.Regenerate(t.Context(), e.Settings, e.Paths.SSHDir, st, false); err != nil {
		t.Fatal(err)
	}
	return dd
}

func (d *dcDoctor) run(t *testing.T) map[string]Result {
	t.Helper()
	return runOnly(t, d.e, "dc-token", "dc-host-key", "dc-ssh-host", "dc-proof")
}

// A healthy Data Center identity: the token is accepted, the pinned host key is the one
// the server's settings vouch for, ssh resolves the Host block as written, and the key
// proves itself over SSH.
func TestDCDoctorHealthy(t *testing.T) {
	d := newDCDoctor(t)
	res := d.run(t)
	// The local checks count the server's key as bbkey's (the state records it under
	// the server), naming the server.
	local := runOnly(t, d.e, "key-files", "key-age")
	if r := local["key-files"]; r.Status != OK || !strings.HasPrefix(r.Summary, "1 key: account key work on "+d.srv.DataCenter().ServerURL()) {
		t.Errorf("key-files: %+v", r)
	}
	// docs/doctor.md: the ok line counts the keys; the age line says they are within policy.
	if r := local["key-age"]; r.Status != OK || !strings.HasPrefix(r.Summary, "within policy: account key work on ") {
		t.Errorf("key-age: %+v", r)
	}
	for _, id := range []string{"dc-token", "dc-host-key", "dc-ssh-host", "dc-proof"} {
		if r := res[id]; r.Status != OK {
			t.Errorf("%s: %+v", id, r)
		}
	}
	server := d.srv.DataCenter().ServerURL()
	if r := res["dc-token"]; !strings.Contains(strings.Join(r.Details, "\n"), server) {
		t.Errorf("dc-token does not name the server: %+v", r)
	}
	if r := res["dc-proof"]; !strings.Contains(strings.Join(r.Details, "\n"), "Bitbucket Data Center") {
		t.Errorf("dc-proof: %+v", r)
	}
}

// Without any server the checks do not appear.
func TestDCDoctorNoServer(t *testing.T) {
	e := newEnv(t)
	if res := runOnly(t, e, "dc-token", "dc-host-key", "dc-ssh-host", "dc-proof"); len(res) != 0 {
		t.Errorf("results on a Cloud-only machine: %+v", res)
	}
}

// A refused token fails dc-token with the login hint; the host key cannot be compared
// without the server, and says so.
func TestDCDoctorRefusedToken(t *testing.T) {
	d := newDCDoctor(t)
	d.token = "revoked"
	res := d.run(t)
	r := res["dc-token"]
	if r.Status != Fail || !strings.Contains(r.Fix, "bbkey auth login --server "+d.srv.DataCenter().ServerURL()) {
		t.Errorf("dc-token: %+v", r)
	}
	if res["dc-host-key"].Status == OK {
		t.Errorf("dc-host-key: %+v", res["dc-host-key"])
	}
}

// The SSH server presenting a key its HTTPS settings do not vouch for fails dc-host-key
// (never trusted on first use), and the proof is skipped.
func TestDCDoctorHostKeyMismatch(t *testing.T) {
	d := newDCDoctor(t)
	d.srv.DataCenter().SetReportedHostKeyFingerprint("SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	res := d.run(t)
	if r := res["dc-host-key"]; r.Status != Fail || !strings.Contains(r.Summary, "not the key the server's HTTPS settings") {
		t.Errorf("dc-host-key: %+v", r)
	}
	if r := res["dc-proof"]; r.Status != Skipped {
		t.Errorf("dc-proof: %+v", r)
	}
}

// A pinned key that is not the server's (it changed since setup) fails dc-host-key,
// and the proof fails on it too: ssh would refuse the server.
func TestDCDoctorPinnedKeyChanged(t *testing.T) {
	d := newDCDoctor(t)
	sdir := state.Dir{Path: d.e.Paths.ConfigDir}
	st, err := sdir.Load()
	if err != nil {
		t.Fatal(err)
	}
	other, err := keys.Generate(keys.GenerateOptions{Path: filepath.Join(t.TempDir(), "other_ed25519"), NoPassphrase: true})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Wipe()
	st.ServerOf(d.srv.DataCenter().ServerURL()).HostKeys = []string{other.AuthorizedKey()}
	if err := sdir.Save(st); err != nil {
		t.Fatal(err)
	}
	res := d.run(t)
	if r := res["dc-host-key"]; r.Status != Fail || !strings.Contains(r.Summary, "now vouches for") || !strings.Contains(r.Fix, "bbkey setup --server") {
		t.Errorf("dc-host-key: %+v", r)
	}
}

// A key deleted on the server is refused over SSH: dc-proof fails naming it.
func TestDCDoctorKeyGone(t *testing.T) {
	d := newDCDoctor(t)
	c, err := dc.NewClient(d.srv.DataCenter().ServerURL(), dc.Token{Token: d.token})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SSHKeys.Delete(t.Context(), d.keyID); err != nil {
		t.Fatal(err)
	}
	res := d.run(t)
	if r := res["dc-proof"]; r.Status != Fail || !strings.Contains(r.Summary, d.key.Fingerprint) || !strings.Contains(r.Summary, "refused") {
		t.Errorf("dc-proof: %+v", r)
	}
}

// A hand edit that sends the server's Host block elsewhere is what ssh -G shows.
func TestDCDoctorHostBlockOverridden(t *testing.T) {
	d := newDCDoctor(t)
	cfg := filepath.Join(d.e.Paths.SSHDir, "config")
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := state.Dir{Path: d.e.Paths.ConfigDir}.Load()
	host := st.ServerOf(d.srv.DataCenter().ServerURL()).SSHHost
	if err := os.WriteFile(cfg, append([]byte("Host "+host+"\n  Port 2222\n\n"), b...), 0o600); err != nil {
		t.Fatal(err)
	}
	r := d.run(t)["dc-ssh-host"]
	if r.Status != Fail || !strings.Contains(r.Summary, "Port 2222") {
		t.Errorf("dc-ssh-host: %+v", r)
	}
}

// bbkey's ssh config lost the server's Host block (edited by hand): dc-ssh-host fails,
// and the sync fix writes it back from the state.
func TestDCDoctorHostBlockMissingFixed(t *testing.T) {
	d := newDCDoctor(t)
	managed := filepath.Join(d.e.Paths.SSHDir, "bbkey", "config")
	if err := os.WriteFile(managed, []byte("# emptied by hand\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	res := Run(context.Background(), d.e, []Check{findCheck(t, "dc-ssh-host")})
	if len(res) != 1 || res[0].Status != Fail || !res[0].Fixable || !strings.Contains(res[0].Summary, "differ from its state") {
		t.Fatalf("dc-ssh-host: %+v", res)
	}
	for _, f := range Fixes(res) {
		if _, err := f.Apply(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	d.e.syncResult, d.e.dc = nil, nil
	if r := runOnly(t, d.e, "dc-ssh-host", "dc-proof"); r["dc-ssh-host"].Status != OK || r["dc-proof"].Status != OK {
		t.Errorf("after the fix: %+v", r)
	}
}

func findCheck(t *testing.T, id string) Check {
	t.Helper()
	for _, c := range Checks(Timeouts{}) {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("no check %s", id)
	return Check{}
}
