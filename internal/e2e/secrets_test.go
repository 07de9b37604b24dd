package e2e

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/internal/credstore"
)

// proofSecret is one form of a secret value that must never show.
type proofSecret struct {
	name  string
	value []byte
}

// TestSecretsScan runs every command, with --debug, under a throw-away home with known
// secret values (an API token, an OAuth client secret, an access token, the passphrase,
// and the private keys bbkey generates), then looks for each of them, in every encoding
// that could carry it, in: stdout and stderr; every file under $HOME except the
// passphrase-protected private keys and the opt-in credentials file; the argv and
// environment of every program bbkey started (recorded by wrappers on PATH); and what the
// emulator logged of each request (path and query; it never stores Authorization, and
// keeps no bodies: the --debug trace shows those, and is scanned as stderr).
func TestSecretsScan(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the recording wrappers are sh scripts")
	}
	w := NewWorld(t)
	binDir, logDir := proofWrappers(t)
	w.Setenv("PATH", binDir+string(os.PathListSeparator)+os.Getenv("PATH"))

	token := w.Emu.DefaultAPIToken()
	clientID, clientSecret, err := w.Emu.AddOAuthConsumer(bbapitest.DefaultEmail, "account", "account:write", "repository", "repository:admin")
	if err != nil {
		t.Fatal(err)
	}
	accessToken, err := w.Emu.AddRepoAccessToken(bbapitest.DefaultWorkspace, "api", "repository", "repository:admin")
	if err != nil {
		t.Fatal(err)
	}
	secrets := []proofSecret{
		{"API token", []byte(token)},
		{"API token as Basic", []byte(base64.StdEncoding.EncodeToString([]byte(bbapitest.DefaultEmail + ":" + token)))},
		{"OAuth client secret", []byte(clientSecret)},
		{"OAuth client secret as Basic", []byte(base64.StdEncoding.EncodeToString([]byte(clientID + ":" + clientSecret)))},
		{"access token", []byte(accessToken)},
		{"passphrase", []byte(w.Passphrase)},
	}

	repo := setupRepo(t, w, "api", "https://ada@bitbucket.org/acme/api.git")
	var outputs []Result
	run := func(dir string, args ...string) Result {
		t.Helper()
		r := w.Run(dir, append(args, "--debug")...)
		if r.Code != 0 {
			t.Fatalf("%s", r)
		}
		outputs = append(outputs, r)
		return r
	}

	// The account credential: checked and stored (in the 0600 file: no keychain here).
	run("", "auth", "login", "--insecure-storage")
	run("", "auth", "status")
	// A new machine, this repository's remote switched.
	run(repo, "setup", "--passphrase-file", w.PassFile)
	run("", "list")
	// A build server's access key, its passphrase from the environment this time, proven
	// over SSH with git.
	w.Setenv("BBKEY_PASSPHRASE", w.Passphrase)
	run("", "add-access-key", "--name", "ci", "--repo", "acme/api", "--agent", "--write-ssh-config", "--verify")
	w.Unsetenv("BBKEY_PASSPHRASE")
	// The same listing with an OAuth consumer, then with a repository access token.
	w.Unsetenv("BITBUCKET_EMAIL")
	w.Unsetenv("BITBUCKET_API_TOKEN")
	w.Setenv("BITBUCKET_CLIENT_ID", clientID)
	w.Setenv("BITBUCKET_CLIENT_SECRET", clientSecret)
	run("", "list", "--repo", "acme/api")
	w.Unsetenv("BITBUCKET_CLIENT_ID")
	w.Unsetenv("BITBUCKET_CLIENT_SECRET")
	w.Setenv("BITBUCKET_ACCESS_TOKEN", accessToken)
	run("", "list", "--repo", "acme/api")
	w.Unsetenv("BITBUCKET_ACCESS_TOKEN")
	w.Setenv("BITBUCKET_EMAIL", bbapitest.DefaultEmail)
	w.Setenv("BITBUCKET_API_TOKEN", token)
	// Diagnosis, remotes, rotation (and its timer, through the stand-in systemctl), removal.
	run(repo, "doctor", "--passphrase-file", w.PassFile)
	run(repo, "remote")
	run("", "rotate", "--passphrase-file", w.PassFile)
	run("", "rotate", "--access-keys", "--passphrase-file", w.PassFile)
	run("", "rotate", "--schedule", "weekly", "--passphrase-file", w.PassFile)
	run("", "rotate", "--status")
	run("", "rotate", "--unschedule")
	ak := w.Emu.RepoDeployKeys(bbapitest.DefaultWorkspace, "api")
	if len(ak) != 1 {
		t.Fatalf("access keys of acme/api: %+v", ak)
	}
	run("", "remove", "SHA256:"+strings.TrimPrefix(ak[0].Fingerprint, "SHA256:"), "--repo", "acme/api", "--yes")
	run("", "auth", "logout")

	// Every private key bbkey wrote (current and retired): encrypted, and its seed a secret.
	keyFiles := proofPrivateKeys(t, w, &secrets)
	if len(keyFiles) < 4 {
		t.Errorf("found %d private keys (account, access, and their rotated successors expected): %q", len(keyFiles), keyFiles)
	}

	skip := map[string]bool{w.PassFile: true, filepath.Join(w.Home.ConfigDir, "bbkey", credstore.FileName): true}
	for _, k := range keyFiles {
		skip[k] = true
	}
	files, requests := proofScan(t, w, secrets, outputs, skip, logDir, "git", "ssh", "systemctl")
	if !strings.Contains(outputs[2].Stderr, "> POST ") {
		t.Errorf("--debug printed no HTTP trace, so the scan proves little:\n%s", outputs[2].Stderr)
	}
	if files < 5 {
		t.Errorf("only %d files scanned under the home", files)
	}
	if requests < 10 {
		t.Errorf("only %d requests reached the emulator", requests)
	}
}

// proofScan looks for each secret in what the runs printed, in every file under the home
// but those in skip, in the argv and environment the wrappers in logDir recorded, and in
// the emulator's request log. Each program in ran must have been started by bbkey. It
// returns how many files and requests it scanned.
func proofScan(t *testing.T, w *World, secrets []proofSecret, outputs []Result, skip map[string]bool, logDir string, ran ...string) (files, requests int) {
	t.Helper()
	scan := func(where string, data []byte) {
		t.Helper()
		for _, s := range secrets {
			if i := bytes.Index(data, s.value); i >= 0 {
				t.Errorf("%s shows the %s: …%s…", where, s.name, proofContext(data, i, len(s.value)))
			}
		}
	}
	for _, r := range outputs {
		scan("stdout of bbkey "+strings.Join(r.Args, " "), []byte(r.Stdout))
		scan("stderr of bbkey "+strings.Join(r.Args, " "), []byte(r.Stderr))
	}
	err := filepath.WalkDir(w.Home.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || skip[p] {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files++
		scan("file "+p, b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for name, b := range proofRecords(t, logDir) {
		seen[strings.SplitN(name, ".", 2)[0]] = true
		scan("argv/environment of "+name, b)
	}
	for _, want := range ran {
		if !seen[want] {
			t.Errorf("bbkey never ran %s, so its argv and environment were not checked", want)
		}
	}
	reqs := w.Emu.Requests()
	for _, r := range reqs {
		scan("the request log ("+r.Method+" "+r.Path+")", []byte(r.Method+" "+r.Path+"?"+r.RawQuery))
	}
	return files, len(reqs)
}

// proofPrivateKeys finds every OpenSSH private key under the home, checks it cannot be
// read without the passphrase, and adds its seed, in every encoding a leak could take, to
// the secrets.
func proofPrivateKeys(t *testing.T, w *World, secrets *[]proofSecret) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(w.Home.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if !bytes.Contains(b, []byte("PRIVATE KEY-----")) {
			return nil
		}
		files = append(files, p)
		if _, err := ssh.ParseRawPrivateKey(b); !errors.As(err, new(*ssh.PassphraseMissingError)) {
			t.Errorf("%s can be read without the passphrase (%v)", p, err)
		}
		raw, err := ssh.ParseRawPrivateKeyWithPassphrase(b, []byte(w.Passphrase))
		if err != nil {
			t.Errorf("%s: %v", p, err)
			return nil
		}
		var priv ed25519.PrivateKey
		switch k := raw.(type) {
		case ed25519.PrivateKey:
			priv = k
		case *ed25519.PrivateKey:
			priv = *k
		default:
			t.Errorf("%s is a %T, not ed25519", p, raw)
			return nil
		}
		rel, _ := filepath.Rel(w.Home.Dir, p)
		for _, form := range []struct {
			name string
			b    []byte
		}{{"seed", priv.Seed()}, {"private key", priv}} {
			for _, enc := range []struct {
				name string
				v    []byte
			}{
				{"raw", form.b},
				{"base64", []byte(base64.StdEncoding.EncodeToString(form.b))},
				{"unpadded base64", []byte(base64.RawStdEncoding.EncodeToString(form.b))},
				{"base64url", []byte(base64.RawURLEncoding.EncodeToString(form.b))},
				{"hex", []byte(hex.EncodeToString(form.b))},
				{"HEX", []byte(strings.ToUpper(hex.EncodeToString(form.b)))},
			} {
				*secrets = append(*secrets, proofSecret{name: form.name + " of " + rel + " (" + enc.name + ")", value: enc.v})
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// proofContext shows where a secret was found without repeating it.
func proofContext(data []byte, i, n int) string {
	from, to := max(i-40, 0), min(i+n+40, len(data))
	return strings.ToValidUTF8(string(data[from:i])+"<SECRET>"+string(data[i+n:to]), "?")
}
