package sshproof

import (
	"context"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/internal/hostkeys"
	"github.com/bbkey/bbkey/internal/sshconfig"
	"github.com/bbkey/bbkey/internal/testutil"
)

// TestRealSSHWithBbkeyFiles: the files bbkey writes (the Include in ~/.ssh/config, the
// managed Host block, the pinned known_hosts) make the real ssh client reach the server
// as `ssh ssh.bitbucket.org`, with the host key checked under the alias although the
// endpoint is 127.0.0.1 on a random port; and the same ssh refuses a server whose key is
// not pinned.
func TestRealSSHWithBbkeyFiles(t *testing.T) {
	sshBin := testutil.RequireBinary(t, "ssh")[0]
	key, priv := newKeyPair(t)
	srv := startServer(t, key.PublicKey())
	impostor := startServer(t, key.PublicKey())

	home := testutil.NewHome(t)
	keyFile := filepath.Join(home.SSHDir, "bbkey_ada_ed25519")
	// Unencrypted only because BatchMode cannot ask for a passphrase; bbkey's keys have one.
	pemBlock, err := ssh.MarshalPrivateKey(priv, "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(pemBlock), 0o600); err != nil {
		t.Fatal(err)
	}
	khPath := hostkeys.Path(home.SSHDir)
	if _, err := hostkeys.Write(context.Background(), khPath, hostkeys.Pins{Alias: alias, Keys: []ssh.PublicKey{srv.HostKey.PublicKey()}, Source: "test"}, false); err != nil {
		t.Fatal(err)
	}
	block := func(alias, addr string) sshconfig.HostBlock {
		host, portStr, _ := strings.Cut(addr, ":")
		port, _ := strconv.Atoi(portStr)
		return sshconfig.HostBlock{Alias: alias, HostName: host, Port: port, IdentityFile: keyFile, KnownHostsFile: khPath, HostKeyAlias: "ssh.bitbucket.org"}
	}
	blocks := []sshconfig.HostBlock{block(alias, srv.Addr), block(alias+"-impostor", impostor.Addr)}
	if _, err := sshconfig.Apply(context.Background(), home.SSHDir, blocks, sshconfig.Options{}); err != nil {
		t.Fatal(err)
	}

	run := func(host string) (string, string, error) {
		cmd := exec.Command(sshBin, "-F", filepath.Join(home.SSHDir, "config"),
			"-o", "BatchMode=yes", "-o", "IdentityAgent=none", "-o", "GlobalKnownHostsFile=/dev/null", "-T", host)
		cmd.Env = append(os.Environ(), home.Env()...)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return stdout.String(), stderr.String(), err
	}
	stdout, stderr, _ := run(alias) // the exit status is the server's (1), as on Bitbucket
	if stdout != testGreeting {
		t.Fatalf("ssh %s: stdout %q, stderr %q", alias, stdout, stderr)
	}
	if n := srv.authTries.Load(); n == 0 {
		t.Error("the server saw no authentication")
	}

	stdout, stderr, err = run(alias + "-impostor")
	if err == nil || stdout != "" || !strings.Contains(stderr, "Host key verification failed") {
		t.Errorf("impostor: err %v, stdout %q, stderr %q; want ssh to refuse the host key", err, stdout, stderr)
	}
	if n := impostor.authTries.Load(); n != 0 {
		t.Errorf("ssh offered the key to the impostor (%d attempts)", n)
	}
}
