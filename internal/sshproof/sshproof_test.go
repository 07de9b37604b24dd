package sshproof

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/hostkeys"
	"github.com/bbkey/bbkey/internal/testutil"
)

const alias = "ssh.bitbucket.org"

// pin writes bbkey's known_hosts pinning keys for the alias and returns its verifier.
func pin(t testing.TB, keys ...ssh.PublicKey) *hostkeys.Verifier {
	t.Helper()
	path := hostkeys.Path(filepath.Join(t.TempDir(), ".ssh"))
	p := hostkeys.Pins{Alias: alias, Keys: keys, Source: "the test server"}
	if _, err := hostkeys.Write(context.Background(), path, p, false); err != nil {
		t.Fatal(err)
	}
	v, err := hostkeys.NewVerifier(path, alias)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func options(srv *testServer, v *hostkeys.Verifier, signer ssh.Signer) Options {
	return Options{
		Endpoint:          srv.Addr,
		HostKeyAlias:      alias,
		HostKeyCallback:   v.HostKeyCallback(),
		HostKeyAlgorithms: v.HostKeyAlgorithms(),
		Signer:            signer,
		Timeout:           20 * time.Second,
	}
}

func TestProveRegisteredKey(t *testing.T) {
	registered := newSigner(t)
	srv := startServer(t, registered.PublicKey())
	var trace strings.Builder
	opts := options(srv, pin(t, srv.HostKey.PublicKey()), registered)
	opts.Trace = &trace
	res, err := Prove(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Fingerprint != ssh.FingerprintSHA256(registered.PublicKey()) {
		t.Errorf("Fingerprint = %s, want the registered key %s", res.Fingerprint, ssh.FingerprintSHA256(registered.PublicKey()))
	}
	if res.HostKeyFingerprint != ssh.FingerprintSHA256(srv.HostKey.PublicKey()) {
		t.Errorf("HostKeyFingerprint = %s", res.HostKeyFingerprint)
	}
	if res.Greeting != strings.TrimSpace(testGreeting)+"\nnote on stderr" {
		t.Errorf("Greeting = %q", res.Greeting)
	}
	for _, want := range []string{"dialing " + srv.Addr, "matches the pins", "authenticated as git with " + res.Fingerprint} {
		if !strings.Contains(trace.String(), want) {
			t.Errorf("trace lacks %q:\n%s", want, trace.String())
		}
	}
}

func TestProveUnregisteredKey(t *testing.T) {
	key := newSigner(t)
	srv := startServer(t)
	_, err := Prove(context.Background(), options(srv, pin(t, srv.HostKey.PublicKey()), key))
	var refused *RefusedError
	if !errors.As(err, &refused) {
		t.Fatalf("err = %v, want *RefusedError", err)
	}
	if !strings.Contains(err.Error(), ssh.FingerprintSHA256(key.PublicKey())) || !strings.Contains(err.Error(), "permission denied (publickey)") {
		t.Errorf("message = %q", err)
	}
	if apierr.ExitCode(err) != errkind.ExitVerify {
		t.Errorf("exit code %d, want 5", apierr.ExitCode(err))
	}
	// Registered afterwards, the same key proves.
	srv.Register(key.PublicKey())
	if _, err := Prove(context.Background(), options(srv, pin(t, srv.HostKey.PublicKey()), key)); err != nil {
		t.Fatalf("after registering: %v", err)
	}
}

// TestProveHostKeyMismatch: a server presenting another key is refused with both
// fingerprints, before any key is offered to it.
func TestProveHostKeyMismatch(t *testing.T) {
	key := newSigner(t)
	srv := startServer(t, key.PublicKey())
	pinned := newSigner(t).PublicKey()
	_, err := Prove(context.Background(), options(srv, pin(t, pinned), key))
	var m *hostkeys.MismatchError
	if !errors.As(err, &m) {
		t.Fatalf("err = %v, want *hostkeys.MismatchError", err)
	}
	for _, want := range []string{ssh.FingerprintSHA256(srv.HostKey.PublicKey()), ssh.FingerprintSHA256(pinned)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %s", err, want)
		}
	}
	if apierr.ExitCode(err) != errkind.ExitVerify || len(apierr.Hints(err)) == 0 {
		t.Errorf("exit %d hints %q", apierr.ExitCode(err), apierr.Hints(err))
	}
	if n := srv.authTries.Load(); n != 0 {
		t.Errorf("the key was offered to a server with the wrong host key (%d attempts)", n)
	}

	if _, err := CheckHostKey(context.Background(), options(srv, pin(t, pinned), nil)); !errors.As(err, &m) {
		t.Errorf("CheckHostKey err = %v, want a mismatch", err)
	}
}

func TestCheckHostKey(t *testing.T) {
	srv := startServer(t)
	// The pins list an RSA key first: negotiation must still pick the pinned ed25519 type.
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaPub, _ := ssh.NewPublicKey(&rsaKey.PublicKey)
	key, err := CheckHostKey(context.Background(), options(srv, pin(t, rsaPub, srv.HostKey.PublicKey()), nil))
	if err != nil {
		t.Fatal(err)
	}
	if fp := ssh.FingerprintSHA256(key); fp != ssh.FingerprintSHA256(srv.HostKey.PublicKey()) {
		t.Errorf("Fingerprint = %s", fp)
	}
	if n := srv.authTries.Load(); n != 0 {
		t.Errorf("CheckHostKey offered keys (%d)", n)
	}
}

func TestProveNetworkErrors(t *testing.T) {
	v := pin(t, newSigner(t).PublicKey())
	key := newSigner(t)

	// A closed port on loopback: connection refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	_, err = Prove(context.Background(), Options{Endpoint: closed, HostKeyCallback: v.HostKeyCallback(), Signer: key})
	var ne *NetworkError
	if !errors.As(err, &ne) || apierr.ExitCode(err) != errkind.ExitFailure || !strings.Contains(err.Error(), closed) {
		t.Fatalf("refused port: err = %v (exit %d), want a *NetworkError naming the endpoint, exit 1", err, apierr.ExitCode(err))
	}

	// Port 22 refused (a dialer standing in for a firewall): the hint offers altssh on 443.
	refuse := func(context.Context, string, string) (net.Conn, error) {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	}
	_, err = Prove(context.Background(), Options{Endpoint: "ssh.bitbucket.org:22", HostKeyCallback: v.HostKeyCallback(), Signer: key, Dial: refuse})
	if h := apierr.Hints(err); len(h) != 1 || !strings.Contains(h[0], "--ssh-endpoint altssh.bitbucket.org:443") {
		t.Errorf("port 22 hints = %q (err %v)", h, err)
	}

	// A peer that accepts and never speaks: the handshake times out as a network error.
	mute, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	go func() {
		for {
			c, err := mute.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	_, err = Prove(context.Background(), Options{Endpoint: mute.Addr().String(), HostKeyCallback: v.HostKeyCallback(), Signer: key, Timeout: 300 * time.Millisecond})
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("mute peer: err = %v, want a timed-out *NetworkError", err)
	}
}

func TestProveCancelled(t *testing.T) {
	srv := startServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Prove(ctx, options(srv, pin(t, srv.HostKey.PublicKey()), newSigner(t)))
	if !errors.Is(err, context.Canceled) || apierr.ExitCode(err) != errkind.ExitUsage {
		t.Errorf("err = %v (exit %d), want context.Canceled, exit 2", err, apierr.ExitCode(err))
	}
}

// TestProveWithAgentKeys: keys from a real ssh-agent, including RSA, which must be signed
// with rsa-sha2 (the server here, like Bitbucket, refuses SHA-1 signatures).
func TestProveWithAgentKeys(t *testing.T) {
	sock := testutil.StartAgent(t)
	conn, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ag := agent.NewClient(conn)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	if err := ag.Add(agent.AddedKey{PrivateKey: rsaKey, Comment: "rsa"}); err != nil {
		t.Fatal(err)
	}
	signers, err := ag.Signers()
	if err != nil || len(signers) != 1 {
		t.Fatalf("agent signers: %v %v", signers, err)
	}
	srv := startServer(t, signers[0].PublicKey())
	res, err := Prove(context.Background(), options(srv, pin(t, srv.HostKey.PublicKey()), signers[0]))
	if err != nil {
		t.Fatal(err)
	}
	if res.Fingerprint != ssh.FingerprintSHA256(signers[0].PublicKey()) {
		t.Errorf("Fingerprint = %s", res.Fingerprint)
	}
}

func TestProveNeedsAHostKeyCheckAndAKey(t *testing.T) {
	srv := startServer(t)
	if _, err := Prove(context.Background(), Options{Endpoint: srv.Addr, Signer: newSigner(t)}); err == nil {
		t.Error("no HostKeyCallback: no error")
	}
	if _, err := Prove(context.Background(), Options{Endpoint: srv.Addr}); err == nil {
		t.Error("no signers: no error")
	}
}
