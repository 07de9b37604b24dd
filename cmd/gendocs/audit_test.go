package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bbkey/bbkey/internal/testutil"
)

// TestDocLibrariesStayOutOfTheBinary: the man page generator and the emulator are separate
// programs, so neither the doc libraries nor the emulator (nor package testing) are linked
// into bbkey (issue 2, DESIGN.md "Offline sandbox").
func TestDocLibrariesStayOutOfTheBinary(t *testing.T) {
	testutil.RequireBinary(t, "go")
	out, err := exec.Command("go", "list", "-deps", "github.com/bbkey/bbkey").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 20 {
		t.Fatalf("go list -deps listed %d packages", len(deps))
	}
	for _, d := range deps {
		for _, banned := range []string{"github.com/spf13/cobra/doc", "github.com/cpuguy83/go-md2man", "github.com/bbkey/bbkey/bbapi/bbapitest", "github.com/bbkey/bbkey/keys/keystest", "testing"} {
			if d == banned || strings.HasPrefix(d, banned+"/") {
				t.Errorf("bbkey links %s", d)
			}
		}
	}
}

// TestManPageForEveryCommand: one page per command, each with its flags.
func TestManPageForEveryCommand(t *testing.T) {
	dir := t.TempDir()
	if err := run(dir); err != nil {
		t.Fatal(err)
	}
	for page, flag := range map[string]string{
		"bbkey-setup.1": "--passphrase-file", "bbkey-add-access-key.1": "--write-ssh-config", "bbkey-rotate.1": "--if-older-than",
		"bbkey-remote.1": "--scrub", "bbkey-list.1": "--repo", "bbkey-remove.1": "--everywhere", "bbkey-doctor.1": "--fix",
		"bbkey-auth-login.1": "--insecure-storage", "bbkey-auth-logout.1": "", "bbkey-auth-status.1": "",
	} {
		b, err := os.ReadFile(filepath.Join(dir, "man1", page))
		if err != nil {
			t.Errorf("%s: %v", page, err)
			continue
		}
		if flag != "" && !strings.Contains(string(b), `\fB`+flag+`\fP`) {
			t.Errorf("%s does not document %s", page, flag)
		}
	}
}
