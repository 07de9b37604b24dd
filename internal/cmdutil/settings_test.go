package cmdutil

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/iostreams/iostreamstest"
	"github.com/bbkey/bbkey/internal/settings"
	"github.com/bbkey/bbkey/internal/testutil"
	"github.com/bbkey/bbkey/internal/text"
	"github.com/bbkey/bbkey/keys"
)

func testFactory(t *testing.T, env map[string]string) *Factory {
	dir := t.TempDir()
	ios, _, _, _ := iostreamstest.Test()
	return &Factory{
		IOStreams: ios,
		Globals:   &GlobalOptions{},
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		Paths: func() (settings.Paths, error) {
			return settings.Paths{Home: dir, SSHDir: filepath.Join(dir, ".ssh"), ConfigDir: filepath.Join(dir, ".config", "bbkey")}, nil
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
	if s.SSHHost != "flag.example" || s.SSHEndpoint != "altssh.bitbucket.org:443" || s.APIURL != settings.DefaultAPIURL {
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
	if got.SSHEndpoint != "127.0.0.1:2222" || got.SSHHost != settings.DefaultSSHHost {
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
		if _, p, err := settings.SplitEndpoint(in); err != nil || p != want {
			t.Errorf("settings.SplitEndpoint(%q) = %d, %v", in, p, err)
		}
	}
	for _, bad := range []string{"", "host:", "host:0", "host:99999", ":22", "::1"} {
		if _, _, err := settings.SplitEndpoint(bad); err == nil {
			t.Errorf("settings.SplitEndpoint(%q) accepted", bad)
		}
	}
}

// Issue 13, defect 14: every corruption of config.json (a cut file, a wrong type, null,
// a list, a bare string, an empty file) is an error with a hint naming the file and what
// to do, for the commands that read it and those that would rewrite it; the file is left
// as it was.
func TestCorruptSettingsFile(t *testing.T) {
	for name, content := range map[string]string{
		"cut":        `{"ssh_endpoint": "127.0.0.1:22`,
		"wrong type": `{"ssh_endpoint": 22}`,
		"null":       "null\n",
		"list":       `["ssh.bitbucket.org"]`,
		"string":     `"x"`,
		"empty":      "",
	} {
		t.Run(name, func(t *testing.T) {
			f := testFactory(t, map[string]string{"BBKEY_SSH_ENDPOINT": "127.0.0.1:2222"})
			p, _ := f.Paths()
			path := settings.SettingsFile(p)
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := f.Settings()
			if err == nil || !strings.Contains(err.Error(), path) || len(apierr.Hints(err)) != 1 || !strings.Contains(apierr.Hints(err)[0], "move it aside") {
				t.Errorf("settings.Settings = %v (hints %q), want an error naming %s with a hint", err, apierr.Hints(err), path)
			}
			_, err = f.PersistSettings(settings.Settings{SSHEndpoint: "127.0.0.1:2222", SSHHost: settings.DefaultSSHHost, APIURL: settings.DefaultAPIURL, OAuthTokenURL: settings.DefaultOAuthTokenURL})
			if err == nil || len(apierr.Hints(err)) != 1 {
				t.Errorf("PersistSettings = %v, want the same error", err)
			}
			if b, _ := os.ReadFile(path); string(b) != content {
				t.Errorf("the file was rewritten: %q", b)
			}
		})
	}
}

// A key generation that found its file taken says which flags get around it; the
// hint of keys itself names none.
func TestKeyExistsHint(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bbkey_x_ed25519")
	opts := keys.GenerateOptions{Path: path, NoPassphrase: true}
	if _, err := keys.Generate(opts); err != nil {
		t.Fatal(err)
	}
	_, err := keys.Generate(opts)
	hints := strings.Join(apierr.Hints(KeyExistsHint(err)), "\n")
	quoted := strings.Contains(hints, "--key "+text.CommandQuote(path)) // quoted for the user's own shell
	if !strings.Contains(hints, "--name") || !quoted || !strings.Contains(hints, "mv ") {
		t.Errorf("hints = %q", hints)
	}
	if other := errors.New("x"); KeyExistsHint(other) != other {
		t.Error("another error changed")
	}
}
