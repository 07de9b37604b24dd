package e2e

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/internal/credstore"
)

// The Data Center token (BITBUCKET_SERVER_TOKEN) never reaches what bbkey prints with
// --debug, the argv or environment of a program it starts (git, ssh, systemctl: recorded by
// wrappers on PATH), or the emulator's request log, through setup, add-access-key, list,
// doctor, remote and rotate with its timer.
func TestSecretsScanDataCenter(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the recording wrappers are sh scripts")
	}
	w := NewWorld(t, bbapitest.WithDataCenter())
	token := w.Emu.DataCenter().DefaultToken()
	if !slices.Contains(w.Env, "BITBUCKET_SERVER_TOKEN="+token) {
		t.Fatalf("the world does not carry the server token in BITBUCKET_SERVER_TOKEN")
	}
	binDir, logDir := proofWrappers(t)
	w.Setenv("PATH", binDir+string(os.PathListSeparator)+os.Getenv("PATH"))
	secrets := []proofSecret{
		{"server token", []byte(token)},
		{"server token as Bearer in base64", []byte(base64.StdEncoding.EncodeToString([]byte(token)))},
		{"passphrase", []byte(w.Passphrase)},
	}

	repo := setupRepo(t, w, "api", "http://ada@"+dcHostPort(w.Emu)+"/scm/ops/api.git")
	var outputs []Result
	run := func(dir string, args ...string) {
		t.Helper()
		r := w.Run(dir, append(args, "--debug")...)
		if r.Code != 0 {
			t.Fatalf("%s", r)
		}
		outputs = append(outputs, r)
	}
	run(repo, "setup", "--passphrase-file", w.PassFile)
	// The timer's job reads the token from the store: the 0600 file (no keychain here).
	run("", "auth", "login", "--insecure-storage")
	run("", "list")
	run("", "add-access-key", "--name", "ci", "--repo", "OPS/web", "--passphrase-file", w.PassFile, "--agent", "--write-ssh-config", "--verify")
	run(repo, "doctor", "--passphrase-file", w.PassFile)
	run(repo, "remote")
	run("", "rotate", "--passphrase-file", w.PassFile)
	run("", "rotate", "--schedule", "weekly", "--passphrase-file", w.PassFile)
	run("", "rotate", "--status")
	run("", "rotate", "--unschedule")

	keyFiles := proofPrivateKeys(t, w, &secrets)
	skip := map[string]bool{w.PassFile: true, filepath.Join(w.Home.ConfigDir, "bbkey", credstore.FileName): true}
	for _, k := range keyFiles {
		skip[k] = true
	}
	files, requests := proofScan(t, w, secrets, outputs, skip, logDir, "git", "ssh", "systemctl")
	if !strings.Contains(outputs[0].Stderr, "> POST ") {
		t.Errorf("--debug printed no HTTP trace, so the scan proves little:\n%s", outputs[0].Stderr)
	}
	if files < 5 || requests < 5 {
		t.Errorf("only %d files and %d requests scanned", files, requests)
	}
}
