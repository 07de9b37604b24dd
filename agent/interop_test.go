package agent_test

import (
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bbkey/bbkey/agent"
	"github.com/bbkey/bbkey/internal/testutil"
	"github.com/bbkey/bbkey/keys"
)

// The path setup takes: a key bbkey generates (encrypted on disk), added to the real
// agent straight from memory; then, as a later run would, loaded again with its
// passphrase and re-added. ssh-add sees one entry, with bbkey's fingerprint, comment and
// public key line.
func TestGeneratedKeyInRealAgent(t *testing.T) {
	testutil.RequireBinary(t, "ssh-agent", "ssh-add")
	h := testutil.NewHome(t)
	sock := testutil.StartAgent(t)
	path, _ := keys.AccountKeyPath(h.SSHDir, "laptop")
	k, err := keys.Generate(keys.GenerateOptions{
		Path:       path,
		Comment:    keys.Comment("laptop", "Build-01", time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)),
		Passphrase: []byte("correct horse battery"),
	})
	if err != nil {
		t.Fatal(err)
	}
	var c *agent.Client
	for range 100 { // see connect in agent_test.go
		if c, err = agent.Connect(func(k string) (string, bool) {
			return sock, k == "SSH_AUTH_SOCK"
		}); err == nil || !errors.Is(err, syscall.ECONNREFUSED) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Add(k.Private, k.Comment, 0, false); err != nil {
		t.Fatal(err)
	}
	k.Wipe()

	again, err := keys.LoadPrivate(path, []byte("correct horse battery"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Add(again.Private, again.Comment, time.Hour, false); err != nil {
		t.Fatal(err)
	}
	again.Wipe()

	env := []string{"SSH_AUTH_SOCK=" + sock}
	list := strings.TrimSpace(testutil.Run(t, "", env, "ssh-add", "-l"))
	if want := "256 " + again.Fingerprint + " bbkey:laptop@build-01 2026-11-22 (ED25519)"; list != want {
		t.Errorf("ssh-add -l = %q, want %q", list, want)
	}
	pubs := strings.TrimSpace(testutil.Run(t, "", env, "ssh-add", "-L"))
	if pubs != again.AuthorizedKey() {
		t.Errorf("ssh-add -L = %q, want %q", pubs, again.AuthorizedKey())
	}
	if filepath.Base(again.Path) != "bbkey_laptop_ed25519" {
		t.Errorf("path = %s", again.Path)
	}
}
