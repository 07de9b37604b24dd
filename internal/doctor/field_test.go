package doctor

import (
	"context"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bbkey/bbkey/agent"
	"github.com/bbkey/bbkey/internal/credstore"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/settings"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/keys"
)

// recordKey makes a key (encrypted unless plain) and records it in the state as account
// key name.
func recordKey(t *testing.T, e *Env, name string, plain bool) string {
	t.Helper()
	path := filepath.Join(e.Paths.SSHDir, "bbkey_"+name+"_ed25519")
	opts := keys.GenerateOptions{Path: path, NoPassphrase: plain}
	if !plain {
		opts.Passphrase = []byte("correct horse battery")
	}
	k, err := keys.Generate(opts)
	if err != nil {
		t.Fatal(err)
	}
	k.Wipe()
	if err := (state.Dir{Path: e.Paths.ConfigDir}).Save(&state.State{Version: state.Version, Accounts: map[string]*state.Account{
		name: {KeyName: name, KeyPath: path, Fingerprint: k.Fingerprint}}}); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCorruptPrivateKey: a private key file whose OpenSSH header is intact but whose body
// is cut short is read through package keys, as ssh would read it: key-files fails with
// what to do, and key-passphrase does not call the unreadable key passphrase-protected.
func TestCorruptPrivateKey(t *testing.T) {
	e := newEnv(t)
	path := recordKey(t, e, "ada", false)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	block.Bytes = block.Bytes[:60] // the magic, the cipher and KDF names: no key
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	res := runOnly(t, e, "key-files", "key-passphrase")
	if r := res["key-files"]; r.Status != Fail || !strings.Contains(r.Summary, path) || r.Fix == "" {
		t.Errorf("key-files = %+v", r)
	}
	if r := res["key-passphrase"]; r.Status == OK || r.Status == Warn && strings.Contains(r.Summary, "no passphrase") {
		t.Errorf("key-passphrase = %+v", r)
	}
}

// TestCorruptState: a state.json that is not JSON is one failure with what to do (the
// state's own hint), not a cascade of failures without a fix; the timer check does not
// claim that none is installed.
func TestCorruptState(t *testing.T) {
	e := newEnv(t)
	recordKey(t, e, "ada", false)
	if err := os.WriteFile(filepath.Join(e.Paths.ConfigDir, state.StateFile), []byte(`{"accounts": [1,2`), 0o600); err != nil {
		t.Fatal(err)
	}
	res := runOnly(t, e, "key-files", "key-permissions", "ssh-include", "ssh-hosts", "ssh-resolve", "pinned-host-keys", "schedule")
	if r := res["key-files"]; r.Status != Fail || !strings.Contains(r.Fix, "aside") {
		t.Errorf("key-files = %+v", r)
	}
	for id, r := range res {
		if id != "key-files" && r.Status != Skipped {
			t.Errorf("%s = %+v, want skipped", id, r)
		}
	}
}

// TestHungAgent: an agent that accepts the connection and never answers (a wedged
// ssh-agent) is the agent check's finding, with what to do, within the check's own timeout, and
// the proof does not wait for it.
func TestHungAgent(t *testing.T) {
	e := newEnv(t)
	recordKey(t, e, "ada", true)
	sock := filepath.Join(t.TempDir(), "hung.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Skipf("no unix sockets here (%v): the hung agent is one", err)
	}
	defer ln.Close()
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	e.Getenv = func(k string) string { return map[string]string{"SSH_AUTH_SOCK": sock}[k] }
	e.Agent = func() (agent.Agent, error) {
		return agent.Connect(func(k string) (string, bool) { return e.Getenv(k), k == "SSH_AUTH_SOCK" })
	}
	res := runOnly(t, e, "agent", "agent-key", "proof")
	r := res["agent"]
	if r.Status == OK || !strings.Contains(r.Summary, "does not answer: "+sock) || r.Fix == "" {
		t.Errorf("agent = %+v", r)
	}
	if p := res["proof"]; strings.Contains(p.Summary, "no answer within") {
		t.Errorf("proof waited for the agent: %+v", p)
	}
}

// TestCredentialNoKeychain: not logged in through the environment, and no OS keychain to
// read a stored credential from (no D-Bus session): the check says the keychain cannot
// be read here and what works without one, not only "bbkey auth login", which fails too.
func TestCredentialNoKeychain(t *testing.T) {
	e := newEnv(t)
	e.Credential = func(context.Context) (settings.ResolvedCredential, error) {
		return settings.ResolvedCredential{}, errkind.AuthError(settings.ErrNoCredential)
	}
	e.CredStore = func(ctx context.Context) (credstore.Store, error) {
		return credstore.Open(ctx, credstore.Options{ConfigDir: e.Paths.ConfigDir, GOOS: "linux",
			LookupEnv: func(string) (string, bool) { return "", false }})
	}
	r := runOnly(t, e, "credential")["credential"]
	if r.Status != Fail || !strings.Contains(r.Summary, "keychain") || !strings.Contains(r.Fix, "BITBUCKET_API_TOKEN") || !strings.Contains(r.Fix, "--insecure-storage") {
		t.Errorf("credential = %+v", r)
	}
}
