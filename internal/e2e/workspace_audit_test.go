package e2e

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/bbapi/bbapitest"
)

type auditDoc struct {
	Complete bool `json:"complete"`
	Listed   int  `json:"listed"`
	Cached   int  `json:"cached"`
	Keys     []struct {
		Fingerprint string   `json:"fingerprint"`
		Label       string   `json:"label"`
		Managed     bool     `json:"managed"`
		Flags       []string `json:"flags"`
		Flagged     bool     `json:"flagged"`
	} `json:"keys"`
	Revocation *struct {
		Deleted []struct{ Target string } `json:"deleted"`
		Kept    []struct{ Target string } `json:"kept"`
	} `json:"revocation"`
}

func newAuthorizedKey(t *testing.T, comment string) (string, string) {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk))) + " " + comment, ssh.FingerprintSHA256(pk)
}

// TestAuditWorkspace runs the real binary: this machine's access key added by
// add-access-key (real key, state), a stale bbkey key and a foreign key seeded on the
// emulator. The audit flags the stale and foreign keys and marks this machine's; a run
// cut by the rate limit exits 3 and the re-run lists only the rest; --revoke-flagged needs
// --yes without a terminal, then deletes exactly the stale bbkey key, keeps the foreign
// one, and records the deletion in the state; CSV reads back.
func TestAuditWorkspace(t *testing.T) {
	w := NewWorld(t)
	w.MustRun("", "add-access-key", "--repo", "acme/api", "--name", "ci", "--passphrase-file", w.PassFile)
	now := time.Now().UTC()
	old := now.AddDate(-2, 0, 0)
	staleLabel := "bbkey:old-box:" + old.Format(time.DateOnly) + ":ttl=90d"
	stale, staleFP := newAuthorizedKey(t, "old-box")
	foreign, foreignFP := newAuthorizedKey(t, "jenkins@old-server")
	for _, k := range []bbapitest.DeployKey{
		{Workspace: "acme", RepoSlug: "web", Key: stale, Label: staleLabel, AddedOn: old},
		{Workspace: "acme", RepoSlug: "infra", Key: stale, Label: staleLabel, AddedOn: old},
		{Workspace: "acme", ProjectKey: "OPS", Key: foreign, Label: "Jenkins", AddedOn: old},
	} {
		if _, err := w.Emu.SeedAccessKey(k); err != nil {
			t.Fatal(err)
		}
	}

	// Cut by the hourly limit after the repository listing and one access-key listing.
	w.Emu.SetRateLimit(2)
	w.Emu.ResetRequests()
	r := w.Run("", "audit", "--workspace", "acme", "--json", "--max-wait", "1s", "--concurrency", "1")
	if r.Code != 3 || !strings.Contains(r.Stderr, "run the same command again") || !strings.Contains(r.Stderr, "429") {
		t.Fatalf("rate-limited run: %s", r)
	}
	w.Emu.SetRateLimit(0)
	r = w.Run("", "audit", "--workspace", "acme", "--json")
	if r.Code != 6 {
		t.Fatalf("%s", r)
	}
	var doc auditDoc
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatalf("%v\n%s", err, r)
	}
	if !doc.Complete || doc.Cached != 1 || doc.Listed != 3 || len(doc.Keys) != 3 {
		t.Fatalf("resumed audit: %s", r)
	}
	listed := map[string]int{}
	for _, q := range w.Emu.Requests() {
		if q.Method == http.MethodGet && strings.HasSuffix(q.Path, "/deploy-keys") && q.Status == http.StatusOK {
			listed[q.Path]++
		}
	}
	if len(listed) != 4 {
		t.Errorf("listed %v, want the 3 repositories and the project", listed)
	}
	for p, n := range listed {
		if n != 1 {
			t.Errorf("%s listed %d times over both runs", p, n)
		}
	}
	flags := map[string][]string{}
	for _, k := range doc.Keys {
		flags[k.Fingerprint] = k.Flags
	}
	if !slices.Equal(flags[staleFP], []string{"past-ttl", "unused", "older-than"}) || !slices.Equal(flags[foreignFP], []string{"unused", "older-than", "foreign"}) {
		t.Errorf("flags %v", flags)
	}
	var mine []string
	for fp, f := range flags {
		if fp != staleFP && fp != foreignFP {
			mine = f
		}
	}
	if !slices.Equal(mine, []string{"this-machine"}) {
		t.Errorf("this machine's key: flags %v", mine)
	}

	// Deleting needs --yes without a terminal, and says so before any call.
	w.Emu.ResetRequests()
	r = w.Run("", "audit", "--workspace", "acme", "--revoke-flagged")
	if r.Code != 2 || !strings.Contains(r.Stderr, "--yes") || len(w.Emu.Requests()) != 0 {
		t.Fatalf("%s (%d calls)", r, len(w.Emu.Requests()))
	}
	r = w.Run("", "audit", "--workspace", "acme", "--revoke-flagged", "--yes", "--json")
	if r.Code != 6 { // the foreign key stays flagged
		t.Fatalf("%s", r)
	}
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Revocation == nil || len(doc.Revocation.Deleted) != 2 || len(doc.Revocation.Kept) != 1 {
		t.Fatalf("revocation: %s", r)
	}
	if len(w.Emu.RepoDeployKeys("acme", "web")) != 0 || len(w.Emu.RepoDeployKeys("acme", "infra")) != 0 ||
		len(w.Emu.ProjectDeployKeys("acme", "OPS")) != 1 || len(w.Emu.RepoDeployKeys("acme", "api")) != 1 {
		t.Errorf("left on the emulator: web %d, infra %d, OPS %d, api %d", len(w.Emu.RepoDeployKeys("acme", "web")),
			len(w.Emu.RepoDeployKeys("acme", "infra")), len(w.Emu.ProjectDeployKeys("acme", "OPS")), len(w.Emu.RepoDeployKeys("acme", "api")))
	}
	b, err := os.ReadFile(filepath.Join(w.Home.ConfigDir, "bbkey", "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Revocations []struct {
			Fingerprint string `json:"fingerprint"`
			Target      struct{ Slug string }
		} `json:"revocations"`
	}
	if err := json.Unmarshal(b, &st); err != nil || len(st.Revocations) != 2 || st.Revocations[0].Fingerprint != staleFP {
		t.Errorf("state revocations: %v %s", err, b)
	}
	if _, err := os.Stat(filepath.Join(w.Home.CacheDir, "bbkey", "audit-acme.json")); err != nil {
		t.Errorf("cache: %v", err)
	}

	// CSV, read back: a header and one row per key and place (api, project OPS).
	r = w.Run("", "audit", "--workspace", "acme", "--format", "csv")
	rows, err := csv.NewReader(strings.NewReader(r.Stdout)).ReadAll()
	if r.Code != 6 || err != nil || len(rows) != 3 || rows[0][0] != "fingerprint" {
		t.Fatalf("csv: %v\n%s", err, r)
	}
}
