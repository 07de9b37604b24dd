package cmdutil

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/bbkey/bbkey/internal/settings"
)

// RememberServer adds a server to config.json's "servers" and keeps everything else the
// file says (the selected server, other servers' SSH settings); a second call changes
// nothing; a file it cannot read is left as it is. ConfiguredServers reads them back.
func TestRememberServer(t *testing.T) {
	f := testFactory(t, nil)
	p, _ := f.Paths()
	path := settings.SettingsFile(p)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	const selected, known, fresh = "https://git.example.com", "https://bb.example.org:8443", "https://new.example.net"
	if err := os.WriteFile(path, []byte(`{"ssh_endpoint": "altssh.bitbucket.org:443", "server": "`+selected+`", "servers": {"`+known+`": {"ssh_endpoint": "bb.example.org:7999"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	changed, err := f.RememberServer(fresh)
	if err != nil || changed != path {
		t.Fatalf("RememberServer = %q, %v", changed, err)
	}
	file, err := readSettingsFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if file.Server != selected || file.SSHEndpoint != "altssh.bitbucket.org:443" || file.Servers[known].SSHEndpoint != "bb.example.org:7999" {
		t.Errorf("config.json lost what it said: %+v", file)
	}
	if _, ok := file.Servers[fresh]; !ok {
		t.Errorf("servers lacks %s: %+v", fresh, file.Servers)
	}
	got, err := f.ConfiguredServers()
	if want := []string{known, selected, fresh}; err != nil || !slices.Equal(got, want) {
		t.Errorf("ConfiguredServers = %q, %v; want %q", got, err, want)
	}
	before, _ := os.ReadFile(path)
	if changed, err := f.RememberServer(fresh); err != nil || changed != "" {
		t.Errorf("second RememberServer = %q, %v; want no change", changed, err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Errorf("a second call rewrote config.json:\n%s\n%s", before, after)
	}

	if err := os.WriteFile(path, []byte("{cut"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := f.RememberServer(fresh); err == nil {
		t.Error("a config.json that is not JSON was not reported")
	}
	if b, _ := os.ReadFile(path); string(b) != "{cut" {
		t.Errorf("an unreadable config.json was replaced: %q", b)
	}
}
