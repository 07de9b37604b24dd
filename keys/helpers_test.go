package keys

import (
	"bytes"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/internal/testutil"
)

const testPass = "correct horse battery"

var testNow = time.Date(2026, 11, 22, 10, 11, 12, 0, time.UTC)

// askpassEnv returns the environment that makes OpenSSH tools read pass through
// SSH_ASKPASS, from a 0600 file: the passphrase never appears in argv.
func askpassEnv(t testing.TB, pass string) []string {
	t.Helper()
	dir := t.TempDir()
	pf := filepath.Join(dir, "pass")
	if err := os.WriteFile(pf, []byte(pass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "askpass")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nexec cat '"+pf+"'\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	return []string{"SSH_ASKPASS=" + script, "SSH_ASKPASS_REQUIRE=force", "DISPLAY=:0"}
}

// sshKeygen runs the real ssh-keygen with stdin from /dev/null and returns its stdout.
func sshKeygen(t testing.TB, env []string, args ...string) (string, error) {
	t.Helper()
	bin := testutil.RequireBinary(t, "ssh-keygen")[0]
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String(), &runError{err: err, stderr: stderr.String()}
	}
	return stdout.String(), nil
}

type runError struct {
	err    error
	stderr string
}

func (e *runError) Error() string { return e.err.Error() + ": " + strings.TrimSpace(e.stderr) }

// keyFileHeader decodes the clear header of an OpenSSH private key file.
type keyFileHeader struct {
	CipherName, KdfName, KdfOpts string
	NumKeys                      uint32
	PubKey                       []byte
	PrivKeyBlock                 []byte
	Rest                         []byte `ssh:"rest"`
}

func readHeader(t *testing.T, path string) (keyFileHeader, uint32) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "OPENSSH PRIVATE KEY" {
		t.Fatalf("%s is not an OpenSSH private key", path)
	}
	const magic = "openssh-key-v1\x00"
	if !bytes.HasPrefix(block.Bytes, []byte(magic)) {
		t.Fatalf("%s: no openssh-key-v1 magic", path)
	}
	var h keyFileHeader
	if err := ssh.Unmarshal(block.Bytes[len(magic):], &h); err != nil {
		t.Fatal(err)
	}
	var rounds uint32
	if h.KdfName == "bcrypt" {
		var opts struct {
			Salt   []byte
			Rounds uint32
		}
		if err := ssh.Unmarshal([]byte(h.KdfOpts), &opts); err != nil {
			t.Fatal(err)
		}
		rounds = opts.Rounds
	}
	return h, rounds
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func mustGenerate(t testing.TB, path string, pass string) *Key {
	t.Helper()
	opts := GenerateOptions{Path: path, Comment: "bbkey:test@host 2026-11-22"}
	if pass == "" {
		opts.NoPassphrase = true
	} else {
		opts.Passphrase = []byte(pass)
	}
	k, err := Generate(opts)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
