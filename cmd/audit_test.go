package cmd

import (
	"context"
	"strings"
	"testing"

	"github.com/bbkey/bbkey/internal/iostreams/iostreamstest"
)

// TestDesignSurface holds the command tree to DESIGN.md: every command, every global
// flag, every command flag the issues name, no secret taken as a flag value, and the exit
// codes in `bbkey --help`.
func TestDesignSurface(t *testing.T) {
	ios, _, _, _ := iostreamstest.Test()
	root := NewCmdRoot(NewFactory("test", ios))
	root.InitDefaultCompletionCmd() // cobra adds it when the command line is executed
	globals := []string{"json", "debug", "yes", "no-input", "max-wait", "api-url", "ssh-host", "ssh-endpoint", "ssh-host-keys", "token-file"}
	for _, name := range globals {
		if root.PersistentFlags().Lookup(name) == nil {
			t.Errorf("global flag --%s missing", name)
		}
	}
	flags := map[string][]string{
		"setup":          {"name", "key", "no-remotes", "expires-in", "agent-lifetime", "passphrase-file", "no-passphrase", "dry-run"},
		"add-access-key": {"repo", "repos-from", "project", "workspace", "all", "query", "name", "key", "ttl", "concurrency", "agent", "write-ssh-config", "verify", "passphrase-file", "no-passphrase", "dry-run"},
		"rotate":         {"access-keys", "if-older-than", "schedule", "unschedule", "status", "keep-retired", "passphrase-file", "dry-run"},
		"remote":         {"recursive", "scrub", "to", "name", "dry-run"},
		"list":           {"repo", "project", "workspace"},
		"remove":         {"everywhere", "force", "dry-run"},
		"doctor":         {"fix", "dry-run"},
		"audit":          {"workspace", "query", "older-than", "unused-for", "wide", "max-age", "format", "revoke-flagged", "include-foreign", "force", "dry-run"},
		"auth login":     {"insecure-storage"},
		"auth logout":    nil,
		"auth status":    nil,
		"completion":     nil,
	}
	for path, names := range flags {
		c, rest, err := root.Find(strings.Fields(path))
		if err != nil || len(rest) != 0 || c.CommandPath() != "bbkey "+path {
			t.Errorf("command %q missing (found %q, %v)", path, c.CommandPath(), err)
			continue
		}
		for _, n := range names {
			if c.Flags().Lookup(n) == nil && c.InheritedFlags().Lookup(n) == nil {
				t.Errorf("bbkey %s has no --%s", path, n)
			}
		}
		// Secrets never come in as flag values (DESIGN.md, settings).
		for _, bad := range []string{"token", "passphrase", "password", "secret", "client-secret", "api-token"} {
			if c.Flags().Lookup(bad) != nil {
				t.Errorf("bbkey %s takes a secret as --%s", path, bad)
			}
		}
	}

	ios, _, out, _ := iostreamstest.Test()
	if code := Run(context.Background(), NewFactory("test", ios), []string{"--help"}); code != 0 {
		t.Fatalf("--help exit %d", code)
	}
	for _, want := range []string{"0  ok", "1  error", "2  usage error or cancelled", "3  partial", "4  not authenticated or missing scope", "5  SSH verification failed", "6  audit: keys were flagged"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("bbkey --help does not document exit code %q", want)
		}
	}
}

// TestCompletion: `bbkey completion SHELL` prints a script for each shell cobra knows,
// naming bbkey's commands where the shell's script lists them statically.
func TestCompletion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		ios, _, out, errOut := iostreamstest.Test()
		if code := Run(context.Background(), NewFactory("test", ios), []string{"completion", shell}); code != 0 {
			t.Errorf("completion %s: exit %d\n%s", shell, code, errOut)
			continue
		}
		if !strings.Contains(out.String(), "bbkey") || len(out.String()) < 500 {
			t.Errorf("completion %s printed %d bytes:\n%.300s", shell, len(out.String()), out)
		}
	}
}
