package gitssh

import (
	"context"
	"testing"

	"github.com/bbkey/bbkey/internal/gitrun"
	"github.com/bbkey/bbkey/internal/testutil"
)

// Find asks in git's order, with the real git reading a throw-away home's config.
func TestFindInGitsOrder(t *testing.T) {
	testutil.RequireBinary(t, "git")
	h := testutil.NewHome(t)
	git := gitrun.Exec{Env: h.Env()}
	ctx := context.Background()
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	find := func() Which {
		t.Helper()
		w, err := Find(ctx, git, h.Dir, getenv)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	if w := find(); w != (Which{Source: FromDefault}) || w.IsWindowsOpenSSH() {
		t.Fatalf("nothing set: %+v", w)
	}
	env["GIT_SSH"] = "C:/Program Files/Git/usr/bin/ssh.exe"
	if w := find(); w != (Which{FromEnvSSH, env["GIT_SSH"]}) || w.IsWindowsOpenSSH() {
		t.Fatalf("GIT_SSH: %+v", w)
	}
	testutil.Run(t, h.Dir, h.Env(), "git", "config", "--global", "core.sshCommand", "C:/Windows/System32/OpenSSH/ssh.exe")
	if w := find(); w != (Which{FromConfig, "C:/Windows/System32/OpenSSH/ssh.exe"}) || !w.IsWindowsOpenSSH() {
		t.Fatalf("core.sshCommand over GIT_SSH: %+v", w)
	}
	env["GIT_SSH_COMMAND"] = "ssh -v"
	if w := find(); w != (Which{FromEnvCommand, "ssh -v"}) || w.IsWindowsOpenSSH() {
		t.Fatalf("GIT_SSH_COMMAND first: %+v", w)
	}
}

func TestIsWindowsOpenSSH(t *testing.T) {
	for cmd, want := range map[string]bool{
		`C:/Windows/System32/OpenSSH/ssh.exe`:                   true,
		`C:\WINDOWS\System32\OpenSSH\ssh.exe -o LogLevel=ERROR`: true,
		`"C:\Program Files\OpenSSH\ssh.exe" -v`:                 true,
		`C:\Windows\System32\OpenSSH\ssh`:                       true,
		`ssh`:                                                   false,
		`ssh.exe -v`:                                            false,
		`C:/Program Files/Git/usr/bin/ssh.exe`:                  false,
		`"C:/Program Files/Git/usr/bin/ssh.exe"`:                false,
		`plink.exe`:                                             false,
		`C:/tools/OpenSSH/ssh-agent.exe`:                        false,
	} {
		if got := (Which{FromConfig, cmd}).IsWindowsOpenSSH(); got != want {
			t.Errorf("%s: %v, want %v", cmd, got, want)
		}
	}
}

func TestWindowsSSH(t *testing.T) {
	for root, want := range map[string]string{
		"":           "C:/Windows/System32/OpenSSH/ssh.exe",
		`D:\WINNT`:   "D:/WINNT/System32/OpenSSH/ssh.exe",
		`C:\Windows`: "C:/Windows/System32/OpenSSH/ssh.exe",
	} {
		if got := WindowsSSH(func(k string) string { return map[string]string{"SystemRoot": root}[k] }); got != want {
			t.Errorf("SystemRoot=%q: %s, want %s", root, got, want)
		}
	}
}
