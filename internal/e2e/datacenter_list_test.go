package e2e

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/bbapi/dc"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/keys"
)

// dcIDOnlyDelete is every DELETE bbkey may send a Data Center server: one key by its id.
var dcIDOnlyDelete = regexp.MustCompile(`^/rest/(ssh/latest/keys/[1-9][0-9]*|keys/latest/projects/[^/]+(/repos/[^/]+)?/ssh/[1-9][0-9]*)$`)

// TestCloudAndDataCenterListRemove runs the real binary on a machine holding a Cloud
// identity (setup against the Cloud emulator) and a Data Center one (a key of this
// machine on the Data Center emulator, its token stored by `auth login --server` in the
// opt-in credentials file, the server's entry in bbkey's state as setup records it):
// list shows both, each on its server; remove deletes Data Center keys by id only and
// leaves Cloud alone.
func TestCloudAndDataCenterListRemove(t *testing.T) {
	d := newDoctorEnv(t)
	srv := bbapitest.Start(t, bbapitest.WithDataCenter(), bbapitest.WithSpecValidation(t))
	t.Cleanup(func() {
		for _, r := range srv.Requests() {
			if r.Method == http.MethodDelete && !dcIDOnlyDelete.MatchString(r.Path) {
				t.Errorf("bbkey sent DELETE %s: on Data Center only a key by its id may be deleted (a DELETE of /rest/ssh/latest/keys deletes every key of the user)", r.Path)
			}
		}
	})
	server := srv.DataCenter().ServerURL()
	token := srv.DataCenter().DefaultToken()

	// The token goes in the opt-in credentials file (no keychain here), one entry per
	// server beside the Cloud credential.
	d.Setenv("BITBUCKET_SERVER_TOKEN", token)
	d.MustRun("", "auth", "login", "--server", server, "--insecure-storage")
	d.Unsetenv("BITBUCKET_SERVER_TOKEN")
	st := authReadStatus(t, d.MustRun("", "auth", "status", "--server", server, "--json"))
	if !st.LoggedIn || st.Source != "file" {
		t.Fatalf("auth status --server: %+v", st)
	}

	// This machine's key on the server, and another machine's.
	work := filepath.Join(d.Home.SSHDir, "bbkey_work_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bbkey:work", "-f", work).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	pub := mustRead(t, work+".pub")
	c, err := dc.NewClient(server, dc.Token{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	wk, _, err := c.SSHKeys.Add(ctx, dc.AddSSHKeyOptions{Text: pub, Label: "bbkey:work:2026-12-06"})
	if err != nil {
		t.Fatal(err)
	}
	otherPath := filepath.Join(t.TempDir(), "old_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bbkey:old", "-f", otherPath).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	old, _, err := c.SSHKeys.Add(ctx, dc.AddSSHKeyOptions{Text: mustRead(t, otherPath+".pub"), Label: "bbkey:old:2025-01-01"})
	if err != nil {
		t.Fatal(err)
	}
	set, _, err := c.SSH.Settings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	host, port, err := set.Endpoint()
	if err != nil {
		t.Fatal(err)
	}
	sdir := state.Dir{Path: filepath.Join(d.Home.ConfigDir, "bbkey")}
	s, err := sdir.Load()
	if err != nil {
		t.Fatal(err)
	}
	v := s.EnsureServer(server)
	v.SSHHost, v.SSHPort, v.SSHEndpoint = host, port, net.JoinHostPort(host, strconv.Itoa(port))
	v.HostKeys = []string{strings.TrimSpace(string(ssh.MarshalAuthorizedKey(srv.HostPublicKey())))}
	k, err := keys.ParseAuthorizedKey([]byte(pub))
	if err != nil {
		t.Fatal(err)
	}
	v.Accounts["work"] = &state.Account{UUID: bbapitest.DCDefaultUser, KeyName: "work", KeyPath: work, Fingerprint: k.Fingerprint, KeyID: strconv.Itoa(wk.ID), Label: "bbkey:work:2026-12-06"}
	if err := sdir.Save(s); err != nil {
		t.Fatal(err)
	}

	// list: Cloud (selected, from the environment) and the server (from the state, its
	// token from the credentials file), each key on its own.
	r := d.MustRun("", "list", "--json")
	var doc struct {
		Accounts []struct {
			Server, Account string
		} `json:"accounts"`
		Keys []struct {
			Fingerprint string   `json:"fingerprint"`
			Servers     []string `json:"servers"`
			Status      []string `json:"status"`
		} `json:"keys"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatalf("%v\n%s", err, r)
	}
	if len(doc.Accounts) != 2 || doc.Accounts[0].Server != "cloud" || doc.Accounts[0].Account != "ada" || doc.Accounts[1].Server != server || doc.Accounts[1].Account != bbapitest.DCDefaultUser {
		t.Fatalf("accounts: %+v\n%s", doc.Accounts, r)
	}
	servers := map[string][]string{}
	status := map[string][]string{}
	for _, key := range doc.Keys {
		servers[key.Fingerprint], status[key.Fingerprint] = key.Servers, key.Status
	}
	oldFP, _ := keys.ParseAuthorizedKey([]byte(mustRead(t, otherPath+".pub")))
	for fp, want := range map[string][]string{d.FP: {"cloud"}, k.Fingerprint: {server}, oldFP.Fingerprint: {server}} {
		if !slices.Equal(servers[fp], want) {
			t.Errorf("key %s on %v, want %v\n%s", fp, servers[fp], want, r)
		}
	}
	if !slices.Equal(status[k.Fingerprint], []string{"ok"}) || !slices.Equal(status[oldFP.Fingerprint], []string{"older than policy", "on Bitbucket but no local file"}) {
		t.Errorf("statuses: %v", status)
	}
	table := d.MustRun("", "list")
	hostName := strings.TrimPrefix(server, "http://")
	if !strings.Contains(table.Stdout, "account on "+hostName) || !strings.Contains(table.Stdout, "\tcloud\n") {
		t.Errorf("table:\n%s", table.Stdout)
	}

	// remove on the server: the other machine's key, by name, by its id; Cloud untouched.
	cloudKeys := len(d.Emu.UserKeys(bbapitest.DefaultUUID))
	r = d.MustRun("", "remove", "old", "--server", server, "--yes", "--json")
	var rm struct {
		Removed []struct{ Server, Kind, ID string } `json:"removed"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &rm); err != nil {
		t.Fatalf("%v\n%s", err, r)
	}
	if len(rm.Removed) != 1 || rm.Removed[0].Server != server || rm.Removed[0].ID != strconv.Itoa(old.ID) {
		t.Errorf("removed: %+v", rm.Removed)
	}
	left := srv.DataCenter().UserKeys(bbapitest.DCDefaultUser)
	if len(left) != 1 || left[0].ID != wk.ID {
		t.Errorf("keys left on the server: %+v", left)
	}
	if n := len(d.Emu.UserKeys(bbapitest.DefaultUUID)); n != cloudKeys {
		t.Errorf("Cloud keys %d → %d", cloudKeys, n)
	}
	var deletes []string
	for _, q := range srv.Requests() {
		if q.Method == http.MethodDelete {
			deletes = append(deletes, q.Path)
		}
	}
	if want := []string{"/rest/ssh/latest/keys/" + strconv.Itoa(old.ID)}; !slices.Equal(deletes, want) {
		t.Errorf("DELETEs %v, want %v", deletes, want)
	}
	// The last key this machine can use on the server is refused, even with --yes.
	r = d.Run("", "remove", "work", "--server", server, "--yes")
	if r.Code != 1 || !strings.Contains(r.Stderr, "last account key this machine can use") {
		t.Errorf("last key: %s", r)
	}
	if len(srv.DataCenter().UserKeys(bbapitest.DCDefaultUser)) != 1 {
		t.Error("the last key was deleted")
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestCloudAndDataCenterDoctor: a machine set up on Bitbucket Cloud and then, with the
// real binary, on a Data Center server (setup --server): git works over SSH on both,
// list shows each key on its Bitbucket, and doctor checks the server's identity (its
// token from the credentials file, the host key its settings vouch for, the Host block
// through the real ssh, an SSH proof) beside Cloud's.
func TestCloudAndDataCenterDoctor(t *testing.T) {
	d := newDoctorEnv(t)
	srv := bbapitest.Start(t, bbapitest.WithDataCenter(), bbapitest.WithSpecValidation(t))
	server := srv.DataCenter().ServerURL()

	d.Setenv("BITBUCKET_SERVER_TOKEN", srv.DataCenter().DefaultToken())
	d.MustRun("", "auth", "login", "--server", server, "--insecure-storage")
	// The Cloud endpoint (the test's proxy) and host keys are in the environment: they are
	// Cloud's, not the server's, which takes its SSH side from its own settings.
	cloudEndpoint, cloudKeys := envOf(d.Env, "BBKEY_SSH_ENDPOINT"), envOf(d.Env, "BBKEY_SSH_HOST_KEYS")
	d.Unsetenv("BBKEY_SSH_ENDPOINT")
	d.Unsetenv("BBKEY_SSH_HOST_KEYS")
	d.MustRun("", "setup", "--server", server, "--no-remotes", "--passphrase-file", d.PassFile)
	d.Unsetenv("BITBUCKET_SERVER_TOKEN")
	d.Setenv("BBKEY_SSH_ENDPOINT", cloudEndpoint)
	d.Setenv("BBKEY_SSH_HOST_KEYS", cloudKeys)

	// git over SSH works on both, through the config bbkey wrote.
	dcRepo := filepath.Join(d.Home.Dir, "src", "dc-api")
	d.MustGit(d.Home.Dir, "clone", "-q", srv.DataCenter().SSHCloneURL(bbapitest.DCDefaultProject, "api"), dcRepo)
	d.MustGit(d.Repo, "fetch", "-q", "origin")

	r := d.MustRun("", "list", "--server", "cloud", "--json")
	var doc struct {
		Keys []struct {
			Fingerprint string   `json:"fingerprint"`
			Servers     []string `json:"servers"`
			Status      []string `json:"status"`
		} `json:"keys"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatalf("%v\n%s", err, r)
	}
	var onCloud, onServer int
	for _, k := range doc.Keys {
		if !slices.Equal(k.Status, []string{"ok"}) {
			t.Errorf("key %+v", k)
		}
		switch {
		case slices.Equal(k.Servers, []string{"cloud"}):
			onCloud++
		case slices.Equal(k.Servers, []string{server}):
			onServer++
		}
	}
	if onCloud != 1 || onServer != 1 {
		t.Errorf("%d keys on Cloud, %d on the server, want 1 and 1\n%s", onCloud, onServer, r)
	}

	// setup --server recorded the server in config.json, selecting it; the environment's
	// BBKEY_SSH_* are Cloud's here, so Cloud is selected for this run: the server is
	// checked as one the state records.
	r = d.Run("", "doctor", "--server", "cloud", "--json")
	var rep doctorDoc
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatalf("%v\n%s", err, r)
	}
	seen := map[string]doctorCheck{}
	for _, c := range rep.Checks {
		seen[c.ID] = c
	}
	for _, id := range []string{"dc-token", "dc-host-key", "dc-ssh-host", "dc-proof", "proof"} {
		if c, ok := seen[id]; !ok || c.Status != "ok" {
			t.Errorf("%s: %+v\n%s", id, c, r)
		}
	}
	if c := seen["dc-proof"]; !strings.Contains(strings.Join(c.Details, "\n"), server) {
		t.Errorf("dc-proof does not name the server: %+v", c)
	}
}

func envOf(env []string, key string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			return v
		}
	}
	return ""
}
