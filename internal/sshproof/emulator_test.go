package sshproof

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/hostkeys"
	"github.com/bbkey/bbkey/internal/settings"
)

// registerKey adds an account key over the emulator's REST API, as bbkey setup does.
func registerKey(t *testing.T, s *bbapitest.Server, pub ssh.PublicKey) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{
		"key":   strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))),
		"label": "bbkey:test:2026-11-22",
	})
	req, err := http.NewRequest("POST", s.APIURL()+"/users/"+bbapitest.DefaultAccountID+"/ssh-keys", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(bbapitest.DefaultEmail, s.DefaultAPIToken())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("registering the key: %s", resp.Status)
	}
}

// TestProveAgainstEmulator runs the whole local half the way setup will: pins from the
// emulator's host key file (--ssh-host-keys), bbkey's known_hosts written and read back
// by the verifier, and a proof against the emulator's SSH server.
func TestProveAgainstEmulator(t *testing.T) {
	s := bbapitest.Start(t)
	cfg := settings.Settings{SSHHost: settings.DefaultSSHHost, SSHEndpoint: s.SSHEndpoint(), SSHHostKeys: s.HostKeyFile()}
	pins, err := hostkeys.Pinned(cfg)
	if err != nil {
		t.Fatal(err)
	}
	kh := hostkeys.Path(filepath.Join(t.TempDir(), ".ssh"))
	if _, err := hostkeys.Write(context.Background(), kh, pins, false); err != nil {
		t.Fatal(err)
	}
	v, err := hostkeys.NewVerifier(kh, cfg.SSHHost)
	if err != nil {
		t.Fatal(err)
	}
	prove := func(signer ssh.Signer) (Result, error) {
		return Prove(context.Background(), Options{
			Endpoint: cfg.SSHEndpoint, HostKeyAlias: cfg.SSHHost,
			HostKeyCallback: v.HostKeyCallback(), HostKeyAlgorithms: v.HostKeyAlgorithms(),
			Signer: signer, Timeout: 20 * time.Second,
		})
	}

	registered, unregistered := newSigner(t), newSigner(t)
	registerKey(t, s, registered.PublicKey())

	res, err := prove(registered)
	if err != nil {
		t.Fatalf("registered key: %v", err)
	}
	if !strings.Contains(res.Greeting, "authenticated via ssh key.") {
		t.Errorf("greeting = %q", res.Greeting)
	}
	if res.Fingerprint != ssh.FingerprintSHA256(registered.PublicKey()) || res.HostKeyFingerprint != ssh.FingerprintSHA256(s.HostPublicKey()) {
		t.Errorf("result = %+v", res)
	}

	_, err = prove(unregistered)
	var refused *RefusedError
	if !errors.As(err, &refused) || apierr.ExitCode(err) != errkind.ExitVerify {
		t.Errorf("unregistered key: err = %v (exit %d), want *RefusedError, exit 5", err, apierr.ExitCode(err))
	}

	// A registered key the server refuses anyway (DenySSH) fails the proof too.
	s.DenySSH(ssh.FingerprintSHA256(registered.PublicKey()))
	if _, err := prove(registered); !errors.As(err, &refused) {
		t.Errorf("denied key: err = %v, want *RefusedError", err)
	}

	// The host key check: the emulator's key is not Bitbucket's published one.
	builtin, err := hostkeys.Pinned(settings.Settings{SSHHost: settings.DefaultSSHHost})
	if err != nil {
		t.Fatal(err)
	}
	kh2 := hostkeys.Path(filepath.Join(t.TempDir(), ".ssh"))
	if _, err := hostkeys.Write(context.Background(), kh2, builtin, false); err != nil {
		t.Fatal(err)
	}
	v2, err := hostkeys.NewVerifier(kh2, settings.DefaultSSHHost)
	if err != nil {
		t.Fatal(err)
	}
	_, err = CheckHostKey(context.Background(), Options{Endpoint: s.SSHEndpoint(), HostKeyAlias: settings.DefaultSSHHost,
		HostKeyCallback: v2.HostKeyCallback(), HostKeyAlgorithms: v2.HostKeyAlgorithms(), Timeout: 20 * time.Second})
	var m *hostkeys.MismatchError
	if !errors.As(err, &m) {
		t.Fatalf("emulator against Bitbucket's pins: err = %v, want a mismatch", err)
	}
	if m.Seen != "ssh-ed25519 "+ssh.FingerprintSHA256(s.HostPublicKey()) || !strings.Contains(err.Error(), "SHA256:ybgmFkzwOSotHTHLJgHO0QN8L0xErw6vd0VhFA9m3SM") {
		t.Errorf("mismatch = %v", err)
	}
	if h := apierr.Hints(err); len(h) == 0 || !strings.Contains(h[0], hostkeys.CheckURL) {
		t.Errorf("hints = %q", h)
	}
}
