package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/internal/state"
)

// TestDoctorHealthy: right after setup, in a clone made over SSH, every check passes and
// the text report has one ✓ line per check.
func TestDoctorHealthy(t *testing.T) {
	d := newDoctorEnv(t)
	r, doc := d.doctorJSON(t, d.Repo)
	doctorExpect(t, r, doc, nil)
	if !doc.OK || len(doc.Fixes) != 0 {
		t.Fatalf("ok=%v fixes=%v", doc.OK, doc.Fixes)
	}
	text := d.MustRun(d.Repo, "doctor")
	lines := strings.Split(strings.TrimSpace(text.Stdout), "\n")
	if len(lines) != len(doc.Checks) {
		t.Fatalf("%d lines for %d checks:\n%s", len(lines), len(doc.Checks), text.Stdout)
	}
	for i, l := range lines {
		if want := "✓ " + doc.Checks[i].Title + ": "; !strings.HasPrefix(l, want) {
			t.Errorf("line %d = %q, want prefix %q", i, l, want)
		}
	}
}

// TestDoctorBreakOne breaks one thing at a time in a healthy world and expects exactly
// the check that looks at it (and the checks that cannot run without it, as skipped) to
// say so, with the documented fix.
func TestDoctorBreakOne(t *testing.T) {
	cases := []struct {
		name   string
		setup  []string
		args   []string
		break_ func(t *testing.T, d *doctorEnv)
		want   map[string]string
		// fix is a substring of the failing check's fix.
		check, fix string
	}{
		{
			name:   "no credential",
			break_: func(t *testing.T, d *doctorEnv) { d.Unsetenv("BITBUCKET_API_TOKEN"); d.Unsetenv("BITBUCKET_EMAIL") },
			want:   map[string]string{"credential": "fail", "scopes": "skipped", "key-on-bitbucket": "skipped"},
			check:  "credential", fix: "bbkey auth login",
		},
		{
			name: "expired token",
			break_: func(t *testing.T, d *doctorEnv) {
				if err := d.Emu.ExpireToken(d.Emu.DefaultAPIToken(), time.Now().Add(-time.Hour)); err != nil {
					t.Fatal(err)
				}
			},
			want:  map[string]string{"credential": "fail", "scopes": "skipped", "key-on-bitbucket": "skipped"},
			check: "credential", fix: "BITBUCKET_API_TOKEN",
		},
		{
			name: "token without write scope",
			break_: func(t *testing.T, d *doctorEnv) {
				tok, err := d.Emu.AddAPIToken(bbapitest.DefaultEmail, "read:user:bitbucket", "read:ssh-key:bitbucket", "read:repository:bitbucket", "read:workspace:bitbucket")
				if err != nil {
					t.Fatal(err)
				}
				d.Setenv("BITBUCKET_API_TOKEN", tok)
			},
			want:  map[string]string{"scopes": "fail"},
			check: "scopes", fix: "write:ssh-key:bitbucket, delete:ssh-key:bitbucket",
		},
		{
			name: "app password in .git-credentials",
			break_: func(t *testing.T, d *doctorEnv) {
				doctorWrite(t, filepath.Join(d.Home.Dir, ".git-credentials"), "https://ada:s3cretAppPass@bitbucket.org\nhttps://bob:x@github.com\n", 0o600)
			},
			want:  map[string]string{"secrets": "fail"},
			check: "secrets", fix: "bbkey doctor --fix",
		},
		{
			name:   "public key file missing",
			break_: func(t *testing.T, d *doctorEnv) { os.Remove(d.Key + ".pub") },
			want:   map[string]string{"key-files": "fail"},
			check:  "key-files", fix: "bbkey doctor --fix",
		},
		{
			name:   "private key readable by others",
			break_: func(t *testing.T, d *doctorEnv) { os.Chmod(d.Key, 0o644) },
			want:   map[string]string{"key-permissions": "fail"},
			check:  "key-permissions", fix: "chmod 600 ",
		},
		{
			name:   "key without a passphrase",
			setup:  []string{"--no-passphrase"},
			break_: func(t *testing.T, d *doctorEnv) {},
			want:   map[string]string{"key-passphrase": "warn"},
			check:  "key-passphrase", fix: "ssh-keygen -p -f ",
		},
		{
			name: "key older than a year",
			break_: func(t *testing.T, d *doctorEnv) {
				doctorEditState(t, d, func(st *state.State) {
					for _, a := range st.Accounts {
						a.Label = "bbkey:ada:2025-06-01"
					}
				})
			},
			want:  map[string]string{"key-age": "warn"},
			check: "key-age", fix: "bbkey rotate",
		},
		{
			name:   "key deleted on Bitbucket",
			break_: func(t *testing.T, d *doctorEnv) { doctorDeleteAccountKey(t, d.Emu, d.FP) },
			want:   map[string]string{"key-on-bitbucket": "fail", "proof": "skipped"},
			check:  "key-on-bitbucket", fix: "bbkey setup --name",
		},
		{
			name:   "no agent",
			break_: func(t *testing.T, d *doctorEnv) { d.Unsetenv("SSH_AUTH_SOCK") },
			want:   map[string]string{"agent": "fail", "agent-key": "skipped", "proof": "skipped"},
			check:  "agent", fix: "ssh-agent",
		},
		{
			name: "key not in the agent",
			args: []string{"--passphrase-file", "PASSFILE"},
			break_: func(t *testing.T, d *doctorEnv) {
				if out, err := exec.Command("env", "SSH_AUTH_SOCK="+d.AgentSock, "ssh-add", "-D").CombinedOutput(); err != nil {
					t.Fatalf("ssh-add -D: %v %s", err, out)
				}
			},
			want:  map[string]string{"agent-key": "fail"},
			check: "agent-key", fix: "ssh-add ",
		},
		{
			name: "Include line missing",
			break_: func(t *testing.T, d *doctorEnv) {
				doctorWrite(t, filepath.Join(d.Home.SSHDir, "config"), "Host github.com\n  User git\n", 0o600)
			},
			want:  map[string]string{"ssh-include": "fail", "ssh-resolve": "skipped"},
			check: "ssh-include", fix: "bbkey doctor --fix",
		},
		{
			name: "Include line not first",
			break_: func(t *testing.T, d *doctorEnv) {
				p := filepath.Join(d.Home.SSHDir, "config")
				old, _ := os.ReadFile(p)
				doctorWrite(t, p, "Host *\n  ServerAliveInterval 30\n"+string(old), 0o600)
			},
			want:  map[string]string{"ssh-include": "fail", "ssh-resolve": "skipped"},
			check: "ssh-include", fix: "bbkey doctor --fix",
		},
		{
			name: "managed config edited",
			break_: func(t *testing.T, d *doctorEnv) {
				p := filepath.Join(d.Home.SSHDir, "bbkey", "config")
				old, _ := os.ReadFile(p)
				doctorWrite(t, p, strings.Replace(string(old), "IdentitiesOnly yes", "IdentitiesOnly no", 1), 0o600)
			},
			want:  map[string]string{"ssh-hosts": "fail", "ssh-resolve": "skipped"},
			check: "ssh-hosts", fix: "bbkey doctor --fix",
		},
		{
			name: "ssh config unreadable for ssh",
			break_: func(t *testing.T, d *doctorEnv) {
				p := filepath.Join(d.Home.SSHDir, "config")
				old, _ := os.ReadFile(p)
				doctorWrite(t, p, string(old)+"\nHost github.com\n  NoSuchOption yes\n", 0o600)
			},
			want:  map[string]string{"ssh-resolve": "fail"},
			check: "ssh-resolve", fix: "ssh config",
		},
		{
			name:   "endpoint port closed",
			break_: func(t *testing.T, d *doctorEnv) { d.Proxy.Close() },
			want:   map[string]string{"tcp": "fail", "host-key": "skipped", "proof": "skipped"},
			check:  "tcp", fix: "--ssh-endpoint",
		},
		{
			name: "fallback unreachable",
			break_: func(t *testing.T, d *doctorEnv) {
				d.Setenv("BBKEY_SSH_FALLBACK_ENDPOINT", doctorClosedPort(t))
			},
			want:  map[string]string{"altssh": "warn"},
			check: "altssh", fix: "nothing to do",
		},
		{
			name: "impostor at the endpoint",
			break_: func(t *testing.T, d *doctorEnv) {
				other := bbapitest.Start(t)
				d.Proxy.SetTarget(other.SSHEndpoint())
			},
			want:  map[string]string{"host-key": "fail", "proof": "skipped"},
			check: "host-key", fix: "never trusts a host key on first use",
		},
		{
			name:   "pinned known_hosts missing",
			break_: func(t *testing.T, d *doctorEnv) { os.Remove(filepath.Join(d.Home.SSHDir, "bbkey", "known_hosts")) },
			want:   map[string]string{"pinned-host-keys": "fail"},
			check:  "pinned-host-keys", fix: "bbkey doctor --fix",
		},
		{
			name: "retired RSA key in known_hosts",
			break_: func(t *testing.T, d *doctorEnv) {
				doctorWrite(t, filepath.Join(d.Home.SSHDir, "known_hosts"), "bitbucket.org,104.192.143.3 "+doctorOldBitbucketRSA+"\n", 0o600)
			},
			want:  map[string]string{"retired-host-keys": "fail"},
			check: "retired-host-keys", fix: "ssh-keygen -R bitbucket.org",
		},
		{
			name: "HTTPS remote",
			break_: func(t *testing.T, d *doctorEnv) {
				d.MustGit(d.Repo, "remote", "add", "web", "https://bitbucket.org/acme/web.git")
			},
			want:  map[string]string{"remotes": "fail"},
			check: "remotes", fix: "bbkey remote",
		},
		{
			name: "old SSH host remote",
			break_: func(t *testing.T, d *doctorEnv) {
				d.MustGit(d.Repo, "remote", "set-url", "origin", "git@bitbucket.org:acme/api.git")
			},
			want:  map[string]string{"remotes": "fail"},
			check: "remotes", fix: "bbkey remote",
		},
		{
			name:   "Bitbucket refuses the key",
			break_: func(t *testing.T, d *doctorEnv) { d.Emu.DenySSH(d.FP) },
			want:   map[string]string{"proof": "fail"},
			check:  "proof", fix: "bbkey list",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := newDoctorEnv(t, tc.setup...)
			tc.break_(t, d)
			args := tc.args
			for i, a := range args {
				if a == "PASSFILE" {
					args[i] = d.PassFile
				}
			}
			r, doc := d.doctorJSON(t, d.Repo, args...)
			doctorExpect(t, r, doc, tc.want)
			c, _ := doc.check(tc.check)
			if !strings.Contains(c.Fix, tc.fix) || c.Cause == "" && tc.want[tc.check] == "fail" {
				t.Errorf("%s: fix %q (want it to mention %q), cause %q", tc.check, c.Fix, tc.fix, c.Cause)
			}
			// The text report shows the same, with the cause and the fix under the mark.
			text := d.Run(d.Repo, append([]string{"doctor"}, args...)...)
			mark := map[string]string{"fail": "✗", "warn": "!"}[tc.want[tc.check]]
			if !strings.Contains(text.Stdout, mark+" "+c.Title+": ") || !strings.Contains(text.Stdout, "    fix:   "+c.Fix) {
				t.Errorf("text report lacks the %s line or its fix:\n%s", mark, text.Stdout)
			}
		})
	}
}

func doctorEditState(t *testing.T, d *doctorEnv, edit func(*state.State)) {
	t.Helper()
	dir := state.Dir{Path: filepath.Join(d.Home.ConfigDir, "bbkey")}
	st, err := dir.Load()
	if err != nil {
		t.Fatal(err)
	}
	edit(st)
	if err := dir.Save(st); err != nil {
		t.Fatal(err)
	}
}

// doctorBreakFixable breaks everything --fix can repair at once.
func doctorBreakFixable(t *testing.T, d *doctorEnv) {
	t.Helper()
	os.Chmod(d.Key, 0o640)
	os.Remove(d.Key + ".pub")
	doctorWrite(t, filepath.Join(d.Home.SSHDir, "config"), "Host github.com\n  User git\n", 0o600)
	os.Remove(filepath.Join(d.Home.SSHDir, "bbkey", "known_hosts"))
	doctorWrite(t, filepath.Join(d.Home.SSHDir, "known_hosts"), "github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\nbitbucket.org "+doctorOldBitbucketRSA+"\n", 0o644)
	doctorWrite(t, filepath.Join(d.Home.Dir, ".git-credentials"), "https://x-bitbucket-api-token-auth:ATATT3xFfGF0@bitbucket.org\n", 0o600)
	d.MustGit(d.Repo, "remote", "add", "web", "https://ada:s3cret@bitbucket.org/acme/web.git")
	if out, err := exec.Command("env", "SSH_AUTH_SOCK="+d.AgentSock, "ssh-add", "-D").CombinedOutput(); err != nil {
		t.Fatalf("ssh-add -D: %v %s", err, out)
	}
}

// TestDoctorFix breaks every fixable thing, checks that --fix without --yes and without a
// terminal changes nothing (exit 2), then that --fix --yes repairs it all: the second
// run inside the same command and a separate run afterwards are all ✓, the secrets are
// gone with backups kept, and git over SSH works.
func TestDoctorFix(t *testing.T) {
	d := newDoctorEnv(t)
	doctorBreakFixable(t, d)

	r, doc := d.doctorJSON(t, d.Repo)
	doctorExpect(t, r, doc, map[string]string{
		"secrets": "fail", "key-files": "fail", "key-permissions": "fail", "agent-key": "fail",
		"ssh-include": "fail", "ssh-resolve": "skipped", "pinned-host-keys": "fail",
		"retired-host-keys": "fail", "remotes": "fail",
		// The key is out of the agent and doctor was given no passphrase.
		"proof": "skipped",
	})
	for _, c := range doc.Checks {
		if c.Status == "fail" && !c.Fixable && c.ID != "agent-key" {
			t.Errorf("%s is not offered a fix", c.ID)
		}
	}

	before := d.Snapshot()
	r = d.Run(d.Repo, "doctor", "--fix", "--passphrase-file", d.PassFile)
	if r.Code != 2 || !strings.Contains(r.Stderr, "--yes") {
		t.Fatalf("--fix without --yes and without a terminal: want exit 2 naming --yes\n%s", r)
	}
	if diff := DiffSnapshots(before, d.Snapshot()); diff != "" {
		t.Fatalf("--fix without confirmation changed files:\n%s", diff)
	}

	r, doc = d.doctorJSON(t, d.Repo, "--fix", "--yes", "--passphrase-file", d.PassFile)
	doctorExpect(t, r, doc, nil)
	for _, f := range doc.Fixes {
		if !f.Applied {
			t.Errorf("fix %s not applied: %s", f.Key, f.Error)
		}
	}
	r, doc = d.doctorJSON(t, d.Repo)
	doctorExpect(t, r, doc, nil)

	if b, _ := os.ReadFile(filepath.Join(d.Home.Dir, ".git-credentials")); strings.Contains(string(b), "bitbucket") {
		t.Errorf(".git-credentials still holds the token: %q", b)
	}
	kh, _ := os.ReadFile(filepath.Join(d.Home.SSHDir, "known_hosts"))
	if strings.Contains(string(kh), "AAAAB3NzaC1yc2EAAAABIwAAAQEAubiN81eDcafrgMeLzaFPsw2kNvEcqTKl") || !strings.Contains(string(kh), "github.com ssh-ed25519") {
		t.Errorf("known_hosts after the fix: %q", kh)
	}
	backups, _ := filepath.Glob(filepath.Join(d.Home.SSHDir, "known_hosts.bbkey-backup-*"))
	if len(backups) != 1 {
		t.Errorf("known_hosts backups: %v", backups)
	}
	if fi, _ := os.Stat(d.Key); fi.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v", fi.Mode().Perm())
	}
	if !strings.Contains(d.AgentList(), d.FP) {
		t.Errorf("key not back in the agent: %s", d.AgentList())
	}
	if url := strings.TrimSpace(d.MustGit(d.Repo, "remote", "get-url", "web")); url != "git@ssh.bitbucket.org:acme/web.git" {
		t.Errorf("web remote = %q", url)
	}
	d.MustGit(d.Repo, "fetch", "-q", "web")
}

// TestDoctorFixConfirms: on a terminal --fix asks; here stdin is not one, so the prompt
// path is covered by the unit tests. A declined --fix --dry-run lists and changes nothing.
func TestDoctorFixDryRun(t *testing.T) {
	d := newDoctorEnv(t)
	doctorBreakFixable(t, d)
	before := d.Snapshot()
	r := d.Run(d.Repo, "doctor", "--fix", "--dry-run", "--yes")
	if r.Code != 1 || !strings.Contains(r.Stderr, "Would fix (") || !strings.Contains(r.Stderr, "Dry run: nothing changed") {
		t.Fatalf("%s", r)
	}
	if diff := DiffSnapshots(before, d.Snapshot()); diff != "" {
		t.Fatalf("--dry-run changed files:\n%s", diff)
	}
}

// TestDoctorSwitchEndpoint: port 22 blocked (the endpoint's port closed), the fallback
// reachable: tcp fails and says to switch; doctor --fix --ssh-endpoint FALLBACK rewrites
// the ssh config, records the endpoint, and a plain doctor run afterwards is all ✓.
func TestDoctorSwitchEndpoint(t *testing.T) {
	d := newDoctorEnv(t)
	d.Proxy.Close()
	d.Setenv("BBKEY_SSH_FALLBACK_ENDPOINT", d.Emu.SSHEndpoint())
	r, doc := d.doctorJSON(t, d.Repo)
	doctorExpect(t, r, doc, map[string]string{"tcp": "fail", "host-key": "skipped", "proof": "skipped"})
	c, _ := doc.check("tcp")
	want := "bbkey doctor --fix --ssh-endpoint " + d.Emu.SSHEndpoint()
	if !strings.Contains(c.Fix, want) {
		t.Fatalf("tcp fix = %q, want %q", c.Fix, want)
	}
	d.MustRun(d.Repo, "doctor", "--fix", "--yes", "--ssh-endpoint", d.Emu.SSHEndpoint())
	// The endpoint now comes from config.json, not the environment.
	d.Unsetenv("BBKEY_SSH_ENDPOINT")
	d.Unsetenv("BBKEY_SSH_FALLBACK_ENDPOINT")
	r, doc = d.doctorJSON(t, d.Repo)
	doctorExpect(t, r, doc, nil)
	d.MustGit(d.Repo, "fetch", "-q")
}

// TestDoctorNetworkDownIsQuick is the one timing assertion the issue asks for: with the
// SSH endpoint and the API both on closed loopback ports, doctor answers in well under
// 10 seconds (each check has its own timeout; refused connections fail at once).
func TestDoctorNetworkDownIsQuick(t *testing.T) {
	d := newDoctorEnv(t)
	d.Proxy.Close()
	d.Setenv("BITBUCKET_API_URL", "http://"+doctorClosedPort(t)+"/2.0")
	start := time.Now()
	r, doc := d.doctorJSON(t, d.Repo)
	elapsed := time.Since(start)
	if elapsed > 10*time.Second {
		t.Fatalf("doctor took %v with the network down\n%s", elapsed, r)
	}
	doctorExpect(t, r, doc, map[string]string{
		"credential": "fail", "scopes": "skipped", "key-on-bitbucket": "skipped",
		"tcp": "fail", "host-key": "skipped", "proof": "skipped",
	})
	t.Logf("doctor with the network down: %v", elapsed)
}
