package e2e

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestRemoteKeepsPort443Route: a clone behind a firewall that blocks port 22 reaches
// Bitbucket at ssh://git@altssh.bitbucket.org:443/…, while bbkey's Host block connects on
// another port. `bbkey remote` (and setup, through the same engine) leaves that remote
// alone and says which command routes the Host block over 443. With the endpoint on port
// 443 the remote is rewritten, and the clone fetches with the real git and ssh.
func TestRemoteKeepsPort443Route(t *testing.T) {
	w := NewWorld(t)
	const alt = "ssh://git@altssh.bitbucket.org:443/acme/api.git"
	const hint = "bbkey setup --ssh-endpoint altssh.bitbucket.org:443"
	repo := setupRepo(t, w, "api", alt)

	// setup, run in that clone, proves the key at the emulator's endpoint (not port 443)
	// and keeps the remote.
	r := w.MustRun(repo, "setup", "--passphrase-file", w.PassFile)
	if got := strings.TrimSpace(w.MustGit(repo, "remote", "get-url", "origin")); got != alt {
		t.Fatalf("setup rewrote origin to %q, a port-22 route\n%s", got, r)
	}
	if !strings.Contains(r.Stderr, hint) {
		t.Errorf("setup does not say how to route over 443:\n%s", r)
	}

	r = w.MustRun(repo, "remote", "--json")
	var doc struct {
		Changes   []json.RawMessage `json:"changes"`
		LeftAlone []struct {
			Remote, URL, Status, Reason string
		} `json:"left_alone"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatalf("stdout is not the JSON document: %v\n%s", err, r)
	}
	if got := strings.TrimSpace(w.MustGit(repo, "remote", "get-url", "origin")); got != alt {
		t.Fatalf("remote rewrote origin to %q, a port-22 route\n%s", got, r)
	}
	if len(doc.Changes) != 0 || len(doc.LeftAlone) != 1 || doc.LeftAlone[0].Status != "port-443" ||
		doc.LeftAlone[0].URL != alt || !strings.Contains(doc.LeftAlone[0].Reason, hint) {
		t.Errorf("--json: %+v\n%s", doc, r)
	}
	if !strings.Contains(r.Stderr, "left alone") || !strings.Contains(r.Stderr, hint) {
		t.Errorf("stderr does not warn with the command:\n%s", r)
	}

	// With Cloud's endpoint on port 443 the Host block keeps the route: rewritten.
	w.Setenv("BBKEY_SSH_ENDPOINT", "altssh.bitbucket.org:443")
	w.MustRun(repo, "remote")
	if got := strings.TrimSpace(w.MustGit(repo, "remote", "get-url", "origin")); got != "git@ssh.bitbucket.org:acme/api.git" {
		t.Errorf("with the endpoint on 443, origin = %q", got)
	}
	// Real git and ssh through bbkey's Host block (here the emulator's port).
	w.MustGit(repo, "fetch", "-q", "origin")
}
