package e2e

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/internal/state"
)

// removeOtherKey adds a key made elsewhere (no local file) to Ada's account.
func removeOtherKey(t *testing.T, emu *bbapitest.Server, label string) *bbapi.SSHKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := ssh.NewPublicKey(priv.Public())
	k, _, err := doctorClient(t, emu).SSHKeys.Add(context.Background(), bbapitest.DefaultUUID, bbapi.AddSSHKeyOptions{
		Key: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))) + " other@machine", Label: label})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func removeHasKey(emu *bbapitest.Server, fp string) bool {
	for _, k := range emu.UserKeys(bbapitest.DefaultUUID) {
		if "SHA256:"+k.Fingerprint == fp {
			return true
		}
	}
	return false
}

type removeDoc struct {
	DryRun  bool `json:"dry_run"`
	Removed []struct {
		Kind        string `json:"kind"`
		Fingerprint string `json:"fingerprint"`
		Label       string `json:"label"`
		ID          string `json:"id"`
		Target      string `json:"target"`
		TargetKind  string `json:"target_kind"`
	} `json:"removed"`
	AgentRemoved []string `json:"agent_removed"`
	FilesMoved   []struct {
		From string `json:"from"`
		To   string `json:"to"`
	} `json:"files_moved"`
	ChangedFiles []string `json:"changed_files"`
}

func removeJSON(t *testing.T, r Result) removeDoc {
	t.Helper()
	var doc removeDoc
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatalf("%v\n%s", err, r)
	}
	return doc
}

// TestRemoveAccountKeyBySelector removes another machine's account key by each way of
// naming it; this machine's key stays, and nothing local changes.
func TestRemoveAccountKeyBySelector(t *testing.T) {
	for _, sel := range []string{"fingerprint", "label", "name", "bbkey-name", "uuid", "uuid-bare"} {
		t.Run(sel, func(t *testing.T) {
			d := newDoctorEnv(t)
			k := removeOtherKey(t, d.Emu, "bbkey:old-desk:2025-02-01")
			fp := k.SHA256()
			arg := map[string]string{
				"fingerprint": fp, "label": "bbkey:old-desk:2025-02-01", "name": "old-desk",
				"bbkey-name": "bbkey:old-desk", "uuid": k.UUID, "uuid-bare": strings.Trim(k.UUID, "{}"),
			}[sel]
			before := d.Snapshot()
			r := d.Run("", "remove", arg, "--yes", "--json")
			if r.Code != 0 {
				t.Fatalf("%s", r)
			}
			doc := removeJSON(t, r)
			if len(doc.Removed) != 1 || doc.Removed[0].Fingerprint != fp || doc.Removed[0].Kind != "account" || doc.Removed[0].ID != k.UUID {
				t.Fatalf("removed: %+v", doc.Removed)
			}
			if removeHasKey(d.Emu, fp) || !removeHasKey(d.Emu, d.FP) {
				t.Fatalf("account keys after removal: %+v", d.Emu.UserKeys(bbapitest.DefaultUUID))
			}
			if diff := DiffSnapshots(before, d.Snapshot()); diff != "" {
				t.Errorf("remove without --everywhere changed local files:\n%s", diff)
			}
		})
	}
}

// TestRemoveNeverGuessesOtherKeys: a bare name matches bbkey labels only; a key bbkey did
// not label is removed only when named exactly.
func TestRemoveNeverGuessesOtherKeys(t *testing.T) {
	d := newDoctorEnv(t)
	k := removeOtherKey(t, d.Emu, "old-desk key")
	r := d.Run("", "remove", "old-desk", "--yes")
	if r.Code != 1 || !strings.Contains(r.Stderr, "no key matches old-desk") || !removeHasKey(d.Emu, k.SHA256()) {
		t.Fatalf("%s", r)
	}
	d.MustRun("", "remove", "old-desk key", "--yes")
	if removeHasKey(d.Emu, k.SHA256()) {
		t.Fatal("the exactly named key is still there")
	}
	// Two bbkey keys of one name: ambiguous, nothing removed.
	a, b := removeOtherKey(t, d.Emu, "bbkey:twin:2025-01-01"), removeOtherKey(t, d.Emu, "bbkey:twin:2025-06-01")
	r = d.Run("", "remove", "twin", "--yes")
	if r.Code != 2 || !strings.Contains(r.Stderr, "matches 2 different keys") || !removeHasKey(d.Emu, a.SHA256()) || !removeHasKey(d.Emu, b.SHA256()) {
		t.Fatalf("%s", r)
	}
}

// TestRemoveLastKeyRefused: this machine's only key (and the account's) is not removed,
// even with --yes; --force removes it.
func TestRemoveLastKeyRefused(t *testing.T) {
	d := newDoctorEnv(t)
	before := d.Snapshot()
	r := d.Run("", "remove", d.FP, "--yes")
	if r.Code != 1 || !strings.Contains(r.Stderr, "git over SSH would stop working") || !strings.Contains(r.Stderr, "--force") {
		t.Fatalf("%s", r)
	}
	if !removeHasKey(d.Emu, d.FP) || DiffSnapshots(before, d.Snapshot()) != "" {
		t.Fatal("the refused removal changed something")
	}
	// Another machine's key on the account does not make this machine's key removable.
	removeOtherKey(t, d.Emu, "bbkey:desk:2026-01-01")
	if r := d.Run("", "remove", d.FP, "--yes"); r.Code != 1 || !strings.Contains(r.Stderr, "last account key this machine can use") {
		t.Fatalf("%s", r)
	}
	d.MustRun("", "remove", d.FP, "--yes", "--force")
	if removeHasKey(d.Emu, d.FP) {
		t.Fatal("--force did not remove the key")
	}
}

// TestRemoveNeedsConfirmation: without a terminal and without --yes nothing changes and
// the exit code is 2; --dry-run says what would go.
func TestRemoveNeedsConfirmation(t *testing.T) {
	d := newDoctorEnv(t)
	k := removeOtherKey(t, d.Emu, "bbkey:old-desk:2025-02-01")
	before := d.Snapshot()
	r := d.Run("", "remove", k.SHA256())
	if r.Code != 2 || !strings.Contains(r.Stderr, "--yes") || !removeHasKey(d.Emu, k.SHA256()) {
		t.Fatalf("%s", r)
	}
	r = d.Run("", "remove", k.SHA256(), "--dry-run", "--json")
	if doc := removeJSON(t, r); r.Code != 0 || !doc.DryRun || len(doc.Removed) != 1 || !removeHasKey(d.Emu, k.SHA256()) {
		t.Fatalf("%s", r)
	}
	if diff := DiffSnapshots(before, d.Snapshot()); diff != "" {
		t.Fatalf("changed:\n%s", diff)
	}
}

// TestRemoveEverywhereAccountKey: the account key goes from Bitbucket, the agent, the
// state and the ssh config, and its files move to ~/.ssh/bbkey/retired/.
func TestRemoveEverywhereAccountKey(t *testing.T) {
	d := newDoctorEnv(t)
	r := d.Run("", "remove", d.FP, "--everywhere", "--force", "--yes", "--json")
	if r.Code != 0 {
		t.Fatalf("%s", r)
	}
	doc := removeJSON(t, r)
	if len(doc.Removed) != 1 || len(doc.AgentRemoved) != 1 || len(doc.FilesMoved) != 2 {
		t.Fatalf("%+v", doc)
	}
	if removeHasKey(d.Emu, d.FP) {
		t.Error("still on Bitbucket")
	}
	if strings.Contains(d.AgentList(), d.FP) {
		t.Errorf("still in the agent: %s", d.AgentList())
	}
	if _, err := os.Stat(d.Key); !os.IsNotExist(err) {
		t.Errorf("key file still there: %v", err)
	}
	retired, _ := filepath.Glob(filepath.Join(d.Home.SSHDir, "bbkey", "retired", filepath.Base(d.Key)+"*"))
	if len(retired) != 2 {
		t.Errorf("retired files: %v", retired)
	}
	for _, f := range retired {
		if fi, err := os.Stat(f); err != nil || (!strings.Contains(f, ".pub.") && fi.Mode().Perm() != 0o600) {
			t.Errorf("%s: %v %v", f, fi.Mode(), err)
		}
	}
	st, err := state.Dir{Path: filepath.Join(d.Home.ConfigDir, "bbkey")}.Load()
	if err != nil || len(st.Accounts) != 0 {
		t.Errorf("state still has accounts: %+v %v", st, err)
	}
	cfg, _ := os.ReadFile(filepath.Join(d.Home.SSHDir, "bbkey", "config"))
	if strings.Contains(string(cfg), "Host ") {
		t.Errorf("ssh config still has a Host block:\n%s", cfg)
	}
}

// TestRemoveAccessKey: by id on one repository, and --everywhere from every target bbkey
// recorded for it (repository and project), with its files retired.
func TestRemoveAccessKey(t *testing.T) {
	d := newDoctorEnv(t)
	d.MustRun("", "add-access-key", "--repo", "acme/api", "--repo", "acme/web", "--project", "acme/OPS", "--name", "ci", "--passphrase-file", d.PassFile)
	keys := d.Emu.RepoDeployKeys("acme", "web")
	if len(keys) != 1 {
		t.Fatalf("web access keys: %+v", keys)
	}
	fp := "SHA256:" + keys[0].Fingerprint

	// An id needs a place.
	if r := d.Run("", "remove", strconv.Itoa(keys[0].ID), "--yes"); r.Code != 2 || !strings.Contains(r.Stderr, "--repo") {
		t.Fatalf("%s", r)
	}
	d.MustRun("", "remove", strconv.Itoa(keys[0].ID), "--repo", "acme/web", "--yes")
	if n := len(d.Emu.RepoDeployKeys("acme", "web")); n != 0 || len(d.Emu.RepoDeployKeys("acme", "api")) != 1 {
		t.Fatalf("web has %d access keys after removal by id; api has %d", n, len(d.Emu.RepoDeployKeys("acme", "api")))
	}
	st, _ := state.Dir{Path: filepath.Join(d.Home.ConfigDir, "bbkey")}.Load()
	if ak := st.AccessKeys["ci"]; ak == nil || len(ak.Targets) != 2 {
		t.Fatalf("state after removing one target: %+v", ak)
	}

	r := d.Run("", "remove", "ci", "--everywhere", "--yes", "--json")
	if r.Code != 0 {
		t.Fatalf("%s", r)
	}
	doc := removeJSON(t, r)
	if len(doc.Removed) != 2 || doc.Removed[0].Fingerprint != fp || len(doc.FilesMoved) != 2 {
		t.Fatalf("%+v", doc)
	}
	if len(d.Emu.RepoDeployKeys("acme", "api")) != 0 || len(d.Emu.ProjectDeployKeys("acme", "OPS")) != 0 {
		t.Error("access key still on a target")
	}
	st, _ = state.Dir{Path: filepath.Join(d.Home.ConfigDir, "bbkey")}.Load()
	if _, ok := st.AccessKeys["ci"]; ok || len(st.Accounts) != 1 {
		t.Errorf("state: %+v", st)
	}
	// The account key and its ssh config are untouched: git over SSH still works.
	if !removeHasKey(d.Emu, d.FP) {
		t.Error("the account key went too")
	}
	d.MustGit(d.Repo, "fetch", "-q")
}

// TestRemoveEverywhereAfterBitbucketGone: once `remove` (without --everywhere) took a key
// from its last place on Bitbucket, `remove NAME --everywhere` still retires what bbkey
// made for it on this machine (files, agent entry, state, ssh config), with the usual
// confirmation: without a terminal it needs --yes and changes nothing without it.
func TestRemoveEverywhereAfterBitbucketGone(t *testing.T) {
	t.Run("access key", func(t *testing.T) {
		d := newDoctorEnv(t)
		d.MustRun("", "add-access-key", "--repo", "acme/api", "--name", "ci", "--passphrase-file", d.PassFile)
		d.MustRun("", "remove", "ci", "--repo", "acme/api", "--yes")
		if n := len(d.Emu.RepoDeployKeys("acme", "api")); n != 0 {
			t.Fatalf("api has %d access keys", n)
		}
		st, _ := state.Dir{Path: filepath.Join(d.Home.ConfigDir, "bbkey")}.Load()
		ak := st.AccessKeys["ci"]
		if ak == nil {
			t.Fatalf("state lost the key: %+v", st.AccessKeys)
		}
		removeLocalOnly(t, d, "ci", ak.Path)
		st, _ = state.Dir{Path: filepath.Join(d.Home.ConfigDir, "bbkey")}.Load()
		if _, ok := st.AccessKeys["ci"]; ok || len(st.Accounts) != 1 {
			t.Errorf("state: %+v", st)
		}
		d.MustGit(d.Repo, "fetch", "-q") // the account key still works
	})
	t.Run("account key", func(t *testing.T) {
		d := newDoctorEnv(t)
		d.MustRun("", "remove", d.FP, "--force", "--yes")
		if removeHasKey(d.Emu, d.FP) {
			t.Fatal("still on Bitbucket")
		}
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(d.Key), "bbkey_"), "_ed25519")
		doc := removeLocalOnly(t, d, name, d.Key)
		if len(doc.AgentRemoved) != 1 || strings.Contains(d.AgentList(), d.FP) {
			t.Errorf("agent: %v\n%s", doc.AgentRemoved, d.AgentList())
		}
		st, _ := state.Dir{Path: filepath.Join(d.Home.ConfigDir, "bbkey")}.Load()
		if len(st.Accounts) != 0 {
			t.Errorf("state still has accounts: %+v", st.Accounts)
		}
		cfg, _ := os.ReadFile(filepath.Join(d.Home.SSHDir, "bbkey", "config"))
		if strings.Contains(string(cfg), "Host ") {
			t.Errorf("ssh config still has a Host block:\n%s", cfg)
		}
	})
}

// removeLocalOnly runs `remove name --everywhere` for a key no longer on Bitbucket: first
// without --yes (refused, exit 2, nothing changed), then with it; the key's files move to
// retired/.
func removeLocalOnly(t *testing.T, d *doctorEnv, name, key string) removeDoc {
	t.Helper()
	before := d.Snapshot()
	if r := d.Run("", "remove", name, "--everywhere"); r.Code != 2 || !strings.Contains(r.Stderr, "--yes") || !strings.Contains(r.Stderr, "from this machine") {
		t.Fatalf("without --yes: want exit 2 naming --yes\n%s", r)
	}
	if diff := DiffSnapshots(before, d.Snapshot()); diff != "" {
		t.Fatalf("the refused removal changed files:\n%s", diff)
	}
	r := d.Run("", "remove", name, "--everywhere", "--yes", "--json")
	if r.Code != 0 {
		t.Fatalf("%s", r)
	}
	doc := removeJSON(t, r)
	if len(doc.Removed) != 0 || len(doc.FilesMoved) != 2 {
		t.Fatalf("%+v", doc)
	}
	if _, err := os.Stat(key); !os.IsNotExist(err) {
		t.Errorf("key file still there: %v", err)
	}
	for _, m := range doc.FilesMoved {
		if filepath.Base(filepath.Dir(m.To)) != "retired" {
			t.Errorf("moved to %s", m.To)
		}
	}
	return doc
}
