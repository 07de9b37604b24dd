package cmdutil

import (
	"path/filepath"
	"testing"

	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/testutil"
)

func testFactory(t *testing.T, env map[string]string) *Factory {
	dir := t.TempDir()
	ios, _, _, _ := iostreams.Test()
	return &Factory{
		IOStreams: ios,
		Globals:   &GlobalOptions{},
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		Paths: func() (Paths, error) {
			return Paths{Home: dir, SSHDir: filepath.Join(dir, ".ssh"), ConfigDir: filepath.Join(dir, ".config", "bbkey")}, nil
		},
	}
}

func TestSettingsPrecedence(t *testing.T) {
	f := testFactory(t, map[string]string{"BBKEY_SSH_ENDPOINT": "altssh.bitbucket.org:443", "BBKEY_SSH_HOST": "env.example"})
	f.Globals.SSHHost = "flag.example"
	s, err := f.Settings()
	if err != nil {
		t.Fatal(err)
	}
	if s.SSHHost != "flag.example" || s.SSHEndpoint != "altssh.bitbucket.org:443" || s.APIURL != DefaultAPIURL {
		t.Errorf("settings = %+v", s)
	}
}

// A scheduled run without the flags of the setup that preceded it must reach the same
// endpoint: PersistSettings writes them, Settings reads them back below env and flags.
func TestPersistSettingsRoundTrip(t *testing.T) {
	f := testFactory(t, map[string]string{"BBKEY_SSH_ENDPOINT": "127.0.0.1:2222"})
	s, _ := f.Settings()
	path, err := f.PersistSettings(s)
	if err != nil || path == "" {
		t.Fatalf("PersistSettings = %q, %v", path, err)
	}
	testutil.AssertPrivate(t, path)
	if again, _ := f.PersistSettings(s); again != "" {
		t.Errorf("second PersistSettings rewrote %s", again)
	}
	later := testFactory(t, nil)
	later.Paths = f.Paths
	got, err := later.Settings()
	if err != nil {
		t.Fatal(err)
	}
	if got.SSHEndpoint != "127.0.0.1:2222" || got.SSHHost != DefaultSSHHost {
		t.Errorf("later run settings = %+v", got)
	}
	// Defaults alone write no file.
	fresh := testFactory(t, nil)
	d, _ := fresh.Settings()
	if p, err := fresh.PersistSettings(d); p != "" || err != nil {
		t.Errorf("defaults wrote %q, %v", p, err)
	}
}

func TestSplitEndpoint(t *testing.T) {
	for in, want := range map[string]int{"ssh.bitbucket.org": 22, "altssh.bitbucket.org:443": 443, "127.0.0.1:2222": 2222, "[::1]:22": 22} {
		if _, p, err := SplitEndpoint(in); err != nil || p != want {
			t.Errorf("SplitEndpoint(%q) = %d, %v", in, p, err)
		}
	}
	for _, bad := range []string{"", "host:", "host:0", "host:99999", ":22", "::1"} {
		if _, _, err := SplitEndpoint(bad); err == nil {
			t.Errorf("SplitEndpoint(%q) accepted", bad)
		}
	}
}
