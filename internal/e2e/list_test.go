package e2e

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

type listKey struct {
	Fingerprint string   `json:"fingerprint"`
	Files       []string `json:"files"`
	Agent       bool     `json:"agent"`
	AccountKey  *struct {
		Label string `json:"label"`
	} `json:"account_key"`
	AccessKeys []struct {
		Kind   string `json:"kind"`
		Target string `json:"target"`
	} `json:"access_keys"`
	Label  string   `json:"label"`
	Status []string `json:"status"`
}

// TestListEverywhere: after setup and add-access-key (real binaries, real agent), plus a
// key of the user's own made by ssh-keygen, list joins each key's sightings by
// fingerprint: the account key in its file, the agent and the account; the access key in
// its file and on the repository and project; the user's key as local only.
func TestListEverywhere(t *testing.T) {
	d := newDoctorEnv(t)
	d.MustRun("", "add-access-key", "--repo", "acme/api", "--project", "acme/OPS", "--name", "ci", "--passphrase-file", d.PassFile)
	own := filepath.Join(d.Home.SSHDir, "id_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "me@desk", "-f", own).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}

	r := d.MustRun("", "list", "--repo", "acme/api", "--project", "acme/OPS", "--json")
	var doc struct {
		Account        string    `json:"account"`
		AccountChecked bool      `json:"account_checked"`
		Keys           []listKey `json:"keys"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatalf("%v\n%s", err, r)
	}
	if doc.Account != "ada" || !doc.AccountChecked || len(doc.Keys) != 3 {
		t.Fatalf("%s", r)
	}
	acct, access, mine := doc.Keys[0], doc.Keys[1], doc.Keys[2]
	if acct.Fingerprint != d.FP || !slices.Equal(acct.Files, []string{d.Key}) || !acct.Agent || acct.AccountKey == nil ||
		!strings.HasPrefix(acct.Label, "bbkey:ada:") || !slices.Equal(acct.Status, []string{"ok"}) {
		t.Errorf("account key row: %+v", acct)
	}
	if !slices.Equal(access.Files, []string{filepath.Join(d.Home.SSHDir, "bbkey_access_ci_ed25519")}) || access.AccountKey != nil ||
		len(access.AccessKeys) != 2 || access.AccessKeys[0].Target != "acme/api" || access.AccessKeys[1].Kind != "project" ||
		!strings.HasSuffix(access.Label, ":ttl=90d") || !slices.Equal(access.Status, []string{"ok"}) {
		t.Errorf("access key row: %+v", access)
	}
	if !slices.Equal(mine.Files, []string{own}) || !slices.Equal(mine.Status, []string{"local only"}) || mine.Label != "" {
		t.Errorf("own key row: %+v", mine)
	}

	// The plain table: one tab-separated line per key, in the same order.
	plain := d.MustRun("", "list", "--repo", "acme/api", "--project", "acme/OPS")
	lines := strings.Split(strings.TrimSpace(plain.Stdout), "\n")
	if len(lines) != 3 {
		t.Fatalf("%s", plain)
	}
	want := []string{
		d.FP + "\t~/.ssh/" + filepath.Base(d.Key) + ", agent, account\t" + acct.Label + "\t0d\t",
		access.Fingerprint + "\t~/.ssh/bbkey_access_ci_ed25519, access acme/api, access project acme/OPS\t" + access.Label + "\t0d\t",
		mine.Fingerprint + "\t~/.ssh/id_ed25519\t-\t-\t-\tlocal only",
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d = %q, want prefix %q", i, lines[i], w)
		}
	}
	// Without --repo Bitbucket is not asked about the access key's targets: its label
	// comes from bbkey's state and it shows as a local key only.
	r = d.MustRun("", "list")
	if w := access.Fingerprint + "\t~/.ssh/bbkey_access_ci_ed25519\t" + access.Label + "\t0d\t-\tlocal only\t-\n"; !strings.Contains(r.Stdout, w) {
		t.Errorf("want line %q in\n%s", w, r)
	}
}
