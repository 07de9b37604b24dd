package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bbkey/bbkey/bbapi/bbapitest"
)

// `auth login --server URL` alone (no setup) makes the server one this machine knows
// (config.json "servers"), so plain `auth status` shows the Cloud credential and then the
// server's stored token, checked against the server; a --dry-run login records nothing.
// The real binary, the opt-in credentials file, the Cloud and Data Center emulators.
func TestAuthStatusListsServerAfterLogin(t *testing.T) {
	w := NewWorld(t)
	srv := bbapitest.Start(t, bbapitest.WithDataCenter())
	other := bbapitest.Start(t, bbapitest.WithDataCenter())
	server, otherURL := srv.DataCenter().ServerURL(), other.DataCenter().ServerURL()

	w.Setenv("BITBUCKET_SERVER_TOKEN", srv.DataCenter().DefaultToken())
	w.MustRun("", "auth", "login", "--server", server, "--insecure-storage")
	w.Setenv("BITBUCKET_SERVER_TOKEN", other.DataCenter().DefaultToken())
	w.MustRun("", "auth", "login", "--server", otherURL, "--insecure-storage", "--dry-run")
	w.Unsetenv("BITBUCKET_SERVER_TOKEN")
	cfg, err := os.ReadFile(filepath.Join(w.Home.ConfigDir, "bbkey", "config.json"))
	if err != nil || !strings.Contains(string(cfg), server) || strings.Contains(string(cfg), otherURL) || strings.Contains(string(cfg), `"server":`) {
		t.Errorf("config.json after the logins (%v):\n%s", err, cfg)
	}

	r := w.MustRun("", "auth", "status", "--json")
	var doc struct {
		LoggedIn bool   `json:"logged_in"`
		Server   string `json:"server"`
		Servers  []struct {
			LoggedIn bool   `json:"logged_in"`
			Server   string `json:"server"`
			Source   string `json:"source"`
			Kind     string `json:"kind"`
			User     *struct {
				Nickname string `json:"nickname"`
			} `json:"user"`
		} `json:"servers"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatalf("%v\n%s", err, r)
	}
	if !doc.LoggedIn || doc.Server != "" || len(doc.Servers) != 1 {
		t.Fatalf("auth status: %s", r)
	}
	s := doc.Servers[0]
	if !s.LoggedIn || s.Server != server || s.Source != "file" || s.Kind != "http-access-token" || s.User == nil || s.User.Nickname != bbapitest.DCDefaultUser {
		t.Errorf("server entry: %+v\n%s", s, r)
	}
	if len(other.Requests()) == 0 {
		t.Error("the dry-run login did not check its token")
	}
	other.ResetRequests()

	r = w.MustRun("", "auth", "status")
	if blocks := strings.Split(r.Stdout, "\n\n"); len(blocks) != 2 || !strings.Contains(blocks[1], server+" (Bitbucket Data Center)") {
		t.Errorf("text output:\n%s", r)
	}
	if strings.Contains(r.Stdout+r.Stderr, srv.DataCenter().DefaultToken()) {
		t.Error("the token was printed")
	}
	if len(other.Requests()) != 0 {
		t.Error("status called a server whose token was never stored")
	}
}
