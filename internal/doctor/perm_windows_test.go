//go:build windows

package doctor

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/internal/testutil"
	"github.com/bbkey/bbkey/keys"
)

// On Windows key-permissions reads the ACLs: a key bbkey wrote is private to the user;
// a key and a credentials file Everyone may read are named with the principal, the
// icacls lines are given, and --fix resets both ACLs.
func TestKeyPermissionsReadsACLs(t *testing.T) {
	e := newEnv(t)
	path := filepath.Join(e.Paths.SSHDir, "bbkey_ada_ed25519")
	k, err := keys.Generate(keys.GenerateOptions{Path: path, NoPassphrase: true})
	if err != nil {
		t.Fatal(err)
	}
	k.Wipe()
	if err := (state.Dir{Path: e.Paths.ConfigDir}).Save(&state.State{Version: state.Version, Accounts: map[string]*state.Account{
		"ada": {KeyPath: path, Fingerprint: k.Fingerprint}}}); err != nil {
		t.Fatal(err)
	}
	r := runOnly(t, e, "key-permissions")["key-permissions"]
	if r.Status != OK || !strings.Contains(r.Summary, "their ACLs let in no one but you, SYSTEM and Administrators") {
		t.Fatalf("a key bbkey wrote: %+v", r)
	}

	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	testutil.WriteOpenFile(t, path, b)
	creds := filepath.Join(e.Paths.ConfigDir, "credentials.json")
	testutil.WriteOpenFile(t, creds, []byte("{}"))
	r = runOnly(t, e, "key-permissions")["key-permissions"]
	if r.Status != Fail || !strings.Contains(r.Summary, path+" is open to Everyone") || !strings.Contains(r.Summary, creds+" is open to Everyone") ||
		!strings.Contains(r.Fix, `icacls "`+path+`" /inheritance:r`) {
		t.Fatalf("open files: %+v", r)
	}
	fixes := Fixes([]Result{r})
	if len(fixes) != 1 || fixes[0].Key != "acl" {
		t.Fatalf("fixes %+v", fixes)
	}
	changed, err := fixes[0].Apply(context.Background())
	if err != nil || len(changed) != 2 {
		t.Fatalf("fix: %v %v", changed, err)
	}
	testutil.AssertPrivate(t, path)
	testutil.AssertPrivate(t, creds)
	if r := runOnly(t, e, "key-permissions")["key-permissions"]; r.Status != OK {
		t.Fatalf("after --fix: %+v", r)
	}
}
