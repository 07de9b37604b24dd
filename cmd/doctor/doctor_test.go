package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bbkey/bbkey/agent"
	"github.com/bbkey/bbkey/agent/agenttest"
	"github.com/bbkey/bbkey/internal/apierr"
	engine "github.com/bbkey/bbkey/internal/doctor"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/gitrun"
	"github.com/bbkey/bbkey/internal/iostreams/iostreamstest"
	"github.com/bbkey/bbkey/internal/prompt"
	"github.com/bbkey/bbkey/internal/prompt/prompttest"
	"github.com/bbkey/bbkey/internal/settings"
	"github.com/bbkey/bbkey/internal/testutil"
)

func TestPrintReport(t *testing.T) {
	ios, _, out, _ := iostreamstest.Test()
	opts := &Options{IO: ios}
	printReport(opts, []engine.Result{
		{ID: "a", Title: "ssh agent", Status: engine.OK, Summary: "answers", Details: []string{"not shown for ✓"}},
		{ID: "b", Title: "key permissions", Status: engine.Fail, Summary: "/k is accessible by group or others (mode 0644)",
			Cause: "ssh refuses it", Fix: "run: chmod 600 /k", Fixable: true},
		{ID: "c", Title: "key age", Status: engine.Warn, Summary: "400 days old", Details: []string{"one", "two"}, Fix: "run: bbkey rotate"},
		{ID: "d", Title: "SSH proof", Status: engine.Skipped, Summary: "skipped: endpoint host key did not pass"},
	})
	want := `✓ ssh agent: answers
✗ key permissions: /k is accessible by group or others (mode 0644)
    cause: ssh refuses it
    fix:   run: chmod 600 /k (or: bbkey doctor --fix)
! key age: 400 days old
    one
    two
    fix:   run: bbkey rotate
- SSH proof: skipped: endpoint host key did not pass
`
	if got := out.String(); got != want {
		t.Errorf("report:\n%s\nwant:\n%s", got, want)
	}
}

// retiredWorld is a home whose only fixable problem is a retired Bitbucket host key in
// ~/.ssh/known_hosts; no network, no credential, no key.
func retiredWorld(t *testing.T) (*Options, string, *iostreamstest.SyncBuffer, *iostreamstest.SyncBuffer) {
	t.Helper()
	testutil.RequireBinary(t, "git")
	h := testutil.NewHome(t)
	kh := filepath.Join(h.SSHDir, "known_hosts")
	const oldRSA = "ssh-rsa AAAAB3NzaC1yc2EAAAABIwAAAQEAubiN81eDcafrgMeLzaFPsw2kNvEcqTKl/VqLat/MaB33pZy0y3rJZtnqwR2qOOvbwKZYKiEO1O6VqNEBxKvJJelCq0dTXWT5pbO2gDXC6h6QDXCaHo6pOHGPUy+YBaGQRGuSusMEASYiWunYN0vCAI8QaXnWMXNMdFP3jHAJH0eDsoiGnLPBlBp4TNm6rYI74nMzgz3B9IikW4WVK+dc8KZJZWYjAuORU3jc1c/NPskD2ASinf8v3xnfXeukU0sJ5N6m5E8VLjObPEO+mN2t/FZTMZLiFqPWc/ALSqnMnnhwrNi2rbfg/rd/IpL8Le3pSBne8+seeFVBoGqzHM9yXw=="
	if err := os.WriteFile(kh, []byte("bitbucket.org "+oldRSA+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ios, _, out, errOut := iostreamstest.Test()
	env := h.LookupEnv()
	now := func() time.Time { return time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC) }
	opts := &Options{IO: ios, LookupEnv: env, Now: now}
	opts.Env = func() (*engine.Env, error) {
		return &engine.Env{
			Settings: settings.Settings{SSHHost: settings.DefaultSSHHost, SSHEndpoint: settings.DefaultSSHEndpoint, APIURL: settings.DefaultAPIURL},
			Paths:    settings.Paths{Home: h.Dir, SSHDir: h.SSHDir, SSHDirFromEnv: true, ConfigDir: filepath.Join(h.ConfigDir, "bbkey")},
			Now:      now,
			Getenv:   func(k string) string { v, _ := env(k); return v },
			Agent:    func() (agent.Agent, error) { return &agenttest.Fake{}, nil },
			Git:      gitrun.Exec{Env: h.Env()},
			Credential: func(context.Context) (settings.ResolvedCredential, error) {
				return settings.ResolvedCredential{}, errkind.AuthError(settings.ErrNoCredential)
			},
			WorkDir:    h.Dir,
			Dial:       func(context.Context, string, string) (net.Conn, error) { return nil, errors.New("no network in tests") },
			LookupHost: func(context.Context, string) ([]string, error) { return nil, errors.New("no network in tests") },
		}, nil
	}
	return opts, kh, out, errOut
}

func TestFixAsksFirst(t *testing.T) {
	for _, answer := range []string{"n", "y"} {
		t.Run(answer, func(t *testing.T) {
			opts, kh, out, errOut := retiredWorld(t)
			p := &prompttest.Fake{Answers: []string{answer}}
			opts.Prompter = func() prompt.Prompter { return p }
			opts.Fix = true
			before, _ := os.ReadFile(kh)
			err := runDoctor(context.Background(), opts)
			after, _ := os.ReadFile(kh)
			if len(p.Asked) != 1 || p.Asked[0] != "Apply 1 fix?" {
				t.Fatalf("asked %q", p.Asked)
			}
			if !strings.Contains(errOut.String(), "  - remove the retired Bitbucket host keys from "+kh) {
				t.Errorf("the fix was not listed before asking:\n%s", errOut.String())
			}
			if answer == "n" {
				if apierr.ExitCode(err) != errkind.ExitUsage || string(after) != string(before) {
					t.Fatalf("declined: err %v (exit %d), file changed: %v", err, apierr.ExitCode(err), string(after) != string(before))
				}
				return
			}
			// Fixed; the credential and the key are still missing, so doctor still fails.
			if apierr.ExitCode(err) != errkind.ExitFailure || strings.Contains(string(after), "bitbucket.org") {
				t.Fatalf("err %v, known_hosts %q", err, after)
			}
			if !strings.Contains(out.String(), "After the fixes:\n") || !strings.Contains(out.String(), "✓ retired host keys: ") {
				t.Errorf("report:\n%s", out.String())
			}
			if !strings.Contains(errOut.String(), "✓ Fixed (retired-host-keys): ") {
				t.Errorf("stderr:\n%s", errOut.String())
			}
		})
	}
}

func TestFixWithoutTerminalNeedsYes(t *testing.T) {
	opts, kh, out, _ := retiredWorld(t)
	opts.Fix, opts.NoInput, opts.JSON = true, true, true
	opts.Prompter = func() prompt.Prompter { t.Fatal("prompted without a terminal"); return nil }
	before, _ := os.ReadFile(kh)
	err := runDoctor(context.Background(), opts)
	if apierr.ExitCode(err) != errkind.ExitUsage || !strings.Contains(strings.Join(apierr.Hints(err), " "), "--yes") {
		t.Fatalf("err %v, hints %q", err, apierr.Hints(err))
	}
	if after, _ := os.ReadFile(kh); string(after) != string(before) {
		t.Fatal("changed without confirmation")
	}
	var doc struct {
		OK     bool            `json:"ok"`
		Checks []engine.Result `json:"checks"`
		Fixes  []engine.Fix    `json:"fixes"`
	}
	if err := json.Unmarshal([]byte(out.String()), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if doc.OK || len(doc.Fixes) != 1 || doc.Fixes[0].Applied || doc.Fixes[0].Checks[0] != "retired-host-keys" {
		t.Errorf("doc: %+v", doc)
	}
}
