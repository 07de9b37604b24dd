package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/internal/testutil"
	"github.com/bbkey/bbkey/internal/text"
)

func TestRunCommandInThrowAwayHome(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the command is a POSIX shell script")
	}
	testutil.RequireBinary(t, "git", "sh", "ssh-agent")
	t.Setenv("BBKEY_PASSPHRASE", "must-not-leak")
	script := `printf '%s\n' "origin=$(git remote get-url origin)" "api=$BITBUCKET_API_URL" "home=$HOME" "ssh=$BBKEY_SSH_DIR" "pass=$BBKEY_PASSPHRASE" "cwd=$(pwd)"
test -S "$SSH_AUTH_SOCK" || exit 9
test -f "$BBKEY_SSH_HOST_KEYS" || exit 10
exit 7`
	var out, errb bytes.Buffer
	code := run([]string{"--", "sh", "-c", script}, &out, &errb)
	if code != 7 {
		t.Fatalf("exit code %d, want the command's 7\nstdout: %s\nstderr: %s", code, out.String(), errb.String())
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		k, v, _ := strings.Cut(line, "=")
		got[k] = v
	}
	if got["origin"] != "https://ada@bitbucket.org/acme/api.git" {
		t.Errorf("origin %q", got["origin"])
	}
	if !regexp.MustCompile(`^http://127\.0\.0\.1:\d+/2\.0$`).MatchString(got["api"]) {
		t.Errorf("BITBUCKET_API_URL %q", got["api"])
	}
	if got["pass"] != "" {
		t.Error("BBKEY_PASSPHRASE reached the command")
	}
	if got["ssh"] != filepath.Join(got["home"], ".ssh") || !strings.HasPrefix(got["cwd"], got["home"]) {
		t.Errorf("home %q ssh %q cwd %q", got["home"], got["ssh"], got["cwd"])
	}
	if !strings.Contains(errb.String(), "passphrase file "+filepath.Join(got["home"], "passphrase")) || !strings.Contains(errb.String(), "the command exited with 7") {
		t.Errorf("stderr does not say where the passphrase is or how it ended:\n%s", errb.String())
	}
	if _, err := os.Stat(got["home"]); !os.IsNotExist(err) {
		t.Errorf("home not removed: %v", err)
	}
}

func TestKeep(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("POSIX shell")
	}
	testutil.RequireBinary(t, "git", "sh")
	var out, errb bytes.Buffer
	if code := run([]string{"-keep", "--", "sh", "-c", "touch kept-file"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	m := regexp.MustCompile(`kept the home at (\S+)`).FindStringSubmatch(errb.String())
	if m == nil {
		t.Fatalf("no kept home in %s", errb.String())
	}
	t.Cleanup(func() { os.RemoveAll(m[1]) })
	if _, err := os.Stat(filepath.Join(m[1], "work", "api", "kept-file")); err != nil {
		t.Fatal(err)
	}
}

func TestPrintExports(t *testing.T) {
	s := bbapitest.Start(t)
	var b bytes.Buffer
	printExports(s, &b)
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		if !strings.Contains(b.String(), "export "+k+"="+text.ShellQuote(v)+"\n") {
			t.Errorf("missing %s in\n%s", k, b.String())
		}
	}
	if text.ShellQuote("a b'c") != `'a b'\''c'` || text.ShellQuote("/tmp/x:1") != "/tmp/x:1" {
		t.Error("shellQuote")
	}
}

func TestPrepareCommand(t *testing.T) {
	var errb bytes.Buffer
	got, err := prepareCommand([]string{"./bbkey", "setup"}, "/src", "/bin", &errb)
	if err != nil || got[0] != filepath.Join("/src", "bbkey") || got[1] != "setup" {
		t.Fatalf("relative program: %v %v", got, err)
	}
	got, err = prepareCommand([]string{"bbkey", "list"}, "/src", "/bin", &errb)
	if err != nil || got[0] != "bbkey" {
		t.Fatalf("program on PATH: %v %v", got, err)
	}
	if _, err := prepareCommand([]string{"go", "run", "-race"}, "/src", "/bin", &errb); err == nil {
		t.Fatal("go run without a package accepted")
	}
}

func TestUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"-bogus"}, &out, &errb); code != 2 {
		t.Fatalf("bad flag exit %d", code)
	}
}
