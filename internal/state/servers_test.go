package state

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A state file written before Data Center (no "servers") loads as it was, and saving it
// again adds nothing for servers.
func TestStateWithoutServersLoads(t *testing.T) {
	d := Dir{Path: t.TempDir()}
	old := `{
  "version": 1,
  "accounts": {"ada": {"uuid": "{u}", "key_name": "ada", "key_path": "/k", "fingerprint": "SHA256:x", "created": "2026-11-01T00:00:00Z"}},
  "access_keys": {},
  "rotations": []
}
`
	if err := os.WriteFile(filepath.Join(d.Path, StateFile), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := d.Load()
	if err != nil {
		t.Fatal(err)
	}
	if st.Accounts["ada"] == nil || st.Servers != nil || st.AccountsOf("") == nil || st.AccountsOf("https://x") != nil {
		t.Fatalf("loaded %+v", st)
	}
	if err := d.Save(st); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(d.Path, StateFile))
	if strings.Contains(string(b), "servers") {
		t.Errorf("an empty servers entry was written:\n%s", b)
	}
}

// A server's entry round-trips, keeps its own accounts apart from Cloud's, and key names
// are found across both.
func TestStateServers(t *testing.T) {
	d := Dir{Path: t.TempDir()}
	const url = "https://git.example.com"
	err := d.Update(t.Context(), func(s *State) error {
		s.Accounts["ada"] = &Account{UUID: "{u}", KeyName: "ada"}
		v := s.EnsureServer(url)
		v.SSHHost, v.SSHPort, v.SSHEndpoint = "git.example.com", 7999, "git.example.com:7999"
		v.HostKeys = []string{"ssh-ed25519 AAAA"}
		v.Accounts["ada-git.example.com"] = &Account{UUID: "ada", KeyName: "ada-git.example.com", Created: time.Unix(0, 0).UTC()}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := d.Load()
	if err != nil {
		t.Fatal(err)
	}
	v := st.ServerOf(url)
	if v == nil || v.URL != url || v.SSHPort != 7999 || len(v.HostKeys) != 1 || v.AccessKeys == nil {
		t.Fatalf("server entry %+v", v)
	}
	if len(st.AccountsOf(url)) != 1 || len(st.AccountsOf("")) != 1 || st.AccessKeysOf(url) == nil {
		t.Errorf("accounts: cloud %v, server %v", st.AccountsOf(""), st.AccountsOf(url))
	}
	if srv, a, ok := st.AccountNamed("ada-git.example.com"); !ok || srv != url || a.UUID != "ada" {
		t.Errorf("AccountNamed(server's) = %q %+v %v", srv, a, ok)
	}
	if srv, _, ok := st.AccountNamed("ada"); !ok || srv != "" {
		t.Errorf("AccountNamed(cloud's) = %q %v", srv, ok)
	}
	if view := v.View(); len(view.Accounts) != 1 || view.Accounts["ada-git.example.com"] == nil {
		t.Errorf("view %+v", view)
	}
}

// A revocation records the Data Center server it was on; one written before the field
// (or on Cloud) has none and writes none.
func TestRevocationServer(t *testing.T) {
	d := Dir{Path: t.TempDir()}
	old := `{"version": 1, "revocations": [{"time": "2026-11-01T00:00:00Z", "fingerprint": "SHA256:x",
  "target": {"kind": "repo", "workspace": "acme", "slug": "api", "key_id": "7"}, "flags": ["unused"]}]}`
	if err := os.WriteFile(filepath.Join(d.Path, StateFile), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := d.Load()
	if err != nil {
		t.Fatalf("an older state file does not load: %v", err)
	}
	if len(st.Revocations) != 1 || st.Revocations[0].Server != "" || st.Revocations[0].Target.Ref() != "acme/api" {
		t.Fatalf("revocations from an older state: %+v", st.Revocations)
	}
	st.AddRevocation(Revocation{Time: time.Now(), Fingerprint: "SHA256:y", Server: "https://bb.example.com",
		Target: Target{Kind: TargetRepo, Workspace: "OPS", Slug: "web", KeyID: "9"}, Flags: []string{"past-ttl"}})
	if err := d.Save(st); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(d.Path, StateFile))
	if n := strings.Count(string(b), `"server"`); n != 1 || !strings.Contains(string(b), `"server": "https://bb.example.com"`) {
		t.Errorf("want one \"server\" (the Data Center revocation's), got %d:\n%s", n, b)
	}
	if st, err = d.Load(); err != nil || st.Revocations[1].Server != "https://bb.example.com" {
		t.Fatalf("after a round trip: %v %+v", err, st.Revocations)
	}
}
