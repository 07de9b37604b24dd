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
		name  string
		args  []string
		break_ func(t *testing.T, d *doctorEnv)
		want  map[string]string
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
			name:   "HTTPS remote",
			break_: func(t *testing.T, d *doctorEnv) { d.MustGit(d.Repo, "remote", "add", "web", "https://bitbucket.org/acme/web.git") },
			want:   map[string]string{"remotes": "fail"},
			check:  "remotes", fix: "bbkey remote",
		},
		{
			name:   "old SSH host remote",
			break_: func(t *testing.T, d *doctorEnv) { d.MustGit(d.Repo, "remote", "set-url", "origin", "git@bitbucket.org:acme/api.git") },
			want:   map[string]string{"remotes": "fail"},
			check:  "remotes", fix: "bbkey remote",
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
			d := newDoctorEnv(t)
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
