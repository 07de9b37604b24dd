package setup

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/settings"
	"github.com/bbkey/bbkey/internal/testutil"
)

// A dry run reports what the real run then does: the same files (the repository's
// .git/config included) and the same key protection.
func TestSetupDryRunMatchesTheRealRun(t *testing.T) {
	t.Parallel()
	testutil.RequireBinary(t, "git")
	fx := newFixture(t)
	fx.globals.JSON = true
	testutil.Run(t, "", fx.home.Env(), "git", "init", "-q", fx.workDir)
	testutil.Run(t, fx.workDir, fx.home.Env(), "git", "remote", "add", "origin", "https://bitbucket.org/acme/api.git")

	results := make([]Result, 2)
	for i, args := range [][]string{{"--dry-run", "--passphrase-file", fx.passFile}, {"--passphrase-file", fx.passFile}} {
		fx.mustRun(args...)
		if err := json.Unmarshal([]byte(fx.stdout.String()), &results[i]); err != nil {
			t.Fatal(err)
		}
	}
	dry, real := results[0], results[1]
	// config.json is left out: whether it would change is cmdutil.PersistSettings' to
	// say, and it has no dry-run mode.
	settings := settings.SettingsFile(settings.Paths{ConfigDir: filepath.Join(fx.home.ConfigDir, "bbkey")})
	real.FilesChanged = slices.DeleteFunc(real.FilesChanged, func(p string) bool { return p == settings })
	slices.Sort(dry.FilesChanged)
	slices.Sort(real.FilesChanged)
	if !slices.Equal(dry.FilesChanged, real.FilesChanged) {
		t.Errorf("dry run would change %q\nthe run changed %q", dry.FilesChanged, real.FilesChanged)
	}
	if dry.Key.Encrypted != real.Key.Encrypted || !real.Key.Encrypted {
		t.Errorf("key encrypted: dry run %v, run %v", dry.Key.Encrypted, real.Key.Encrypted)
	}
	if len(dry.RemotesChanged) != 1 || len(real.RemotesChanged) != 1 {
		t.Errorf("remotes changed: dry run %d, run %d", len(dry.RemotesChanged), len(real.RemotesChanged))
	}
}

// A dry run without a passphrase source (no file, no variable, no terminal) fails as the
// run would, exit 2 naming the flag, instead of printing a plan the run cannot follow.
func TestSetupDryRunWithoutPassphraseSource(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	err := fx.run("--dry-run")
	if apierr.ExitCode(err) != errkind.ExitUsage || !strings.Contains(strings.Join(apierr.Hints(err), " "), "--passphrase-file") {
		t.Fatalf("err = %v (exit %d), want exit 2 naming --passphrase-file", err, apierr.ExitCode(err))
	}
	if err := fx.run("--dry-run", "--no-passphrase"); err != nil {
		t.Errorf("--no-passphrase dry run: %v", err)
	}
}
