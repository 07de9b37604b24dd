package remote

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/iostreams/iostreamstest"
	"github.com/bbkey/bbkey/internal/settings"
	"github.com/bbkey/bbkey/internal/state"
)

const dcServer = "https://git.example.com/bb"

// serverOpts selects the Data Center server dcServer.
func (fx *fixture) serverOpts(ios *iostreams.IOStreams) *Options {
	o := fx.opts(ios)
	o.Settings = func() (settings.Settings, error) {
		return settings.Settings{SSHHost: settings.DefaultSSHHost, SSHEndpoint: settings.DefaultSSHEndpoint, Server: dcServer}, nil
	}
	return o
}

// recordServer writes the state entry setup --server leaves: the server's SSH side.
func (fx *fixture) recordServer() {
	fx.t.Helper()
	err := state.Dir{Path: filepath.Join(fx.home.ConfigDir, "bbkey")}.Update(context.Background(), func(s *state.State) error {
		v := s.EnsureServer(dcServer)
		v.SSHHost, v.SSHPort, v.SSHEndpoint = "git.example.com", 7999, "git.example.com:7999"
		v.Accounts["ada-git.example.com"] = &state.Account{KeyName: "ada-git.example.com"}
		return nil
	})
	if err != nil {
		fx.t.Fatal(err)
	}
}

func TestRemoteDataCenter(t *testing.T) {
	fx := newFixture(t)
	fx.recordServer()
	fx.repo("api",
		"origin", "https://ada:s3cret@git.example.com/bb/scm/OPS/api.git",
		"notes", "https://git.example.com/bb/scm/~ada/notes.git",
		"cloud", "https://bitbucket.org/acme/api.git",
		"other", "https://git.example.com/elsewhere/scm/OPS/api.git")
	creds := filepath.Join(fx.home.Dir, ".git-credentials")
	if err := os.WriteFile(creds, []byte("https://ada:s3cret@git.example.com\nhttps://ada:cloud@bitbucket.org\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ios, _, stdout, _ := iostreamstest.Test()
	o := fx.serverOpts(ios)
	o.Dirs, o.Scrub = []string{"api"}, true
	if err := runRemote(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"origin": "ssh://git@git.example.com:7999/ops/api.git",
		"notes":  "ssh://git@git.example.com:7999/~ada/notes.git",
		"cloud":  "https://bitbucket.org/acme/api.git",
		"other":  "https://git.example.com/elsewhere/scm/OPS/api.git",
	} {
		if got := fx.url("api", name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if strings.Contains(stdout.String(), "s3cret") {
		t.Errorf("the secret reached stdout:\n%s", stdout)
	}
	b, _ := os.ReadFile(creds)
	if strings.Contains(string(b), "s3cret") || !strings.Contains(string(b), "ada:cloud@bitbucket.org") {
		t.Errorf(".git-credentials after --scrub:\n%s", b)
	}
}

// Without setup --server's record the SSH host and port are not known: exit 2, nothing
// changed; --to https is Cloud's.
func TestRemoteDataCenterRefusals(t *testing.T) {
	fx := newFixture(t)
	fx.repo("api", "origin", "https://git.example.com/bb/scm/OPS/api.git")
	ios, _, _, _ := iostreamstest.Test()
	o := fx.serverOpts(ios)
	err := runRemote(context.Background(), o)
	if apierr.ExitCode(err) != errkind.ExitUsage || !strings.Contains(strings.Join(apierr.Hints(err), "\n"), "bbkey setup --server "+dcServer) {
		t.Errorf("no record: %v (exit %d, hints %q)", err, apierr.ExitCode(err), apierr.Hints(err))
	}
	fx.recordServer()
	o.To = "https"
	if err := runRemote(context.Background(), o); apierr.ExitCode(err) != errkind.ExitUsage {
		t.Errorf("--to https: %v", err)
	}
	if got := fx.url("api", "origin"); got != "https://git.example.com/bb/scm/OPS/api.git" {
		t.Errorf("origin changed: %q", got)
	}
}
