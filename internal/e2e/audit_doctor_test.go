package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bbkey/bbkey/internal/credstore"
)

// TestAuditDoctorBreakOneMore completes TestDoctorBreakOne with the kinds of problem the
// credential and leaked-secrets checks look for that it does not break: a Bitbucket
// password in ~/.netrc or in git's XDG credentials file, git's store helper, a token kept
// in the opt-in clear-text file, a stored token near the end of an API token's life, and a
// secret in one of this repository's remote URLs (which the remotes check also reports:
// the same broken thing seen from both sides). Each time exactly those checks fail or
// warn, with the documented fix in the JSON and the text report; where a fix is offered,
// --fix --yes repairs it and the next run is all ✓, other hosts' lines kept byte for byte.
func TestAuditDoctorBreakOneMore(t *testing.T) {
	const otherHosts = "machine github.com login bob password gh-secret\n"
	cases := []struct {
		name   string
		break_ func(t *testing.T, d *doctorEnv)
		want   map[string]string
		check  string
		fix    string
		// fixed, when set, runs after --fix --yes and a clean doctor run.
		fixed func(t *testing.T, d *doctorEnv)
	}{
		{
			name: "password in .netrc",
			break_: func(t *testing.T, d *doctorEnv) {
				doctorWrite(t, filepath.Join(d.Home.Dir, ".netrc"), otherHosts+"machine bitbucket.org login ada password s3cretAppPass\n", 0o600)
			},
			want:  map[string]string{"secrets": "fail"},
			check: "secrets", fix: "bbkey doctor --fix",
			fixed: func(t *testing.T, d *doctorEnv) {
				if b, _ := os.ReadFile(filepath.Join(d.Home.Dir, ".netrc")); string(b) != otherHosts {
					t.Errorf(".netrc after the fix = %q, want only %q", b, otherHosts)
				}
			},
		},
		{
			name: "token in git's XDG credentials file",
			break_: func(t *testing.T, d *doctorEnv) {
				doctorWrite(t, filepath.Join(d.Home.ConfigDir, "git", "credentials"),
					"https://bob:gh-secret@github.com\nhttps://x-bitbucket-api-token-auth:ATATT3xFfGF0audit@bitbucket.org\n", 0o600)
			},
			want:  map[string]string{"secrets": "fail"},
			check: "secrets", fix: "bbkey doctor --fix",
			fixed: func(t *testing.T, d *doctorEnv) {
				if b, _ := os.ReadFile(filepath.Join(d.Home.ConfigDir, "git", "credentials")); string(b) != "https://bob:gh-secret@github.com\n" {
					t.Errorf("git/credentials after the fix = %q", b)
				}
			},
		},
		{
			name: "git's store helper",
			break_: func(t *testing.T, d *doctorEnv) {
				d.MustGit(d.Home.Dir, "config", "--global", "credential.helper", "store")
			},
			want:  map[string]string{"secrets": "warn"},
			check: "secrets", fix: "git config --global --unset-all credential.helper",
		},
		{
			name:   "token in the clear-text file",
			break_: auditStoreTokenInFile,
			want:   map[string]string{"credential": "warn"},
			check:  "credential", fix: "bbkey auth logout && bbkey auth login",
		},
		{
			name: "stored token near the end of its life",
			break_: func(t *testing.T, d *doctorEnv) {
				auditStoreTokenInFile(t, d)
				auditBackdateStoredCredential(t, d, 360*24*time.Hour)
			},
			want:  map[string]string{"credential": "warn"},
			check: "credential", fix: "create a new API token",
		},
		{
			name: "secret in a remote URL",
			break_: func(t *testing.T, d *doctorEnv) {
				d.MustGit(d.Repo, "remote", "add", "web", "https://ada:s3cretAppPass@bitbucket.org/acme/web.git")
			},
			want:  map[string]string{"secrets": "fail", "remotes": "fail"},
			check: "secrets", fix: "bbkey doctor --fix",
			fixed: func(t *testing.T, d *doctorEnv) {
				if got := d.MustGit(d.Repo, "remote", "get-url", "web"); got != "git@ssh.bitbucket.org:acme/web.git\n" {
					t.Errorf("web after the fix = %q", got)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := newDoctorEnv(t)
			tc.break_(t, d)
			r, doc := d.doctorJSON(t, d.Repo)
			doctorExpect(t, r, doc, tc.want)
			c, _ := doc.check(tc.check)
			if !strings.Contains(c.Fix, tc.fix) || c.Cause == "" {
				t.Errorf("%s: fix %q (want it to mention %q), cause %q", tc.check, c.Fix, tc.fix, c.Cause)
			}
			for _, secret := range []string{"s3cretAppPass", "ATATT3xFfGF0audit", "gh-secret", d.Emu.DefaultAPIToken()} {
				if strings.Contains(r.Stdout+r.Stderr, secret) {
					t.Errorf("the report shows a secret (%.6s…)\n%s", secret, r)
				}
			}
			text := d.Run(d.Repo, "doctor")
			mark := map[string]string{"fail": "✗", "warn": "!"}[tc.want[tc.check]]
			if !strings.Contains(text.Stdout, mark+" "+c.Title+": ") || !strings.Contains(text.Stdout, "    fix:   "+c.Fix) {
				t.Errorf("text report lacks the %s line or its fix:\n%s", mark, text.Stdout)
			}
			if tc.fixed == nil {
				return
			}
			if !c.Fixable {
				t.Fatalf("%s is not offered a fix", tc.check)
			}
			d.MustRun(d.Repo, "doctor", "--fix", "--yes")
			r, doc = d.doctorJSON(t, d.Repo)
			doctorExpect(t, r, doc, nil)
			tc.fixed(t, d)
		})
	}
}

// auditStoreTokenInFile stores the API token with auth login --insecure-storage (there is
// no keychain here) and takes it out of the environment, so bbkey reads it from the file.
func auditStoreTokenInFile(t *testing.T, d *doctorEnv) {
	t.Helper()
	d.MustRun("", "auth", "login", "--insecure-storage")
	d.Unsetenv("BITBUCKET_EMAIL")
	d.Unsetenv("BITBUCKET_API_TOKEN")
}

// auditBackdateStoredCredential moves the stored credentials' creation time back by age,
// in the file auth login wrote, keeping its mode.
func auditBackdateStoredCredential(t *testing.T, d *doctorEnv, age time.Duration) {
	t.Helper()
	path := filepath.Join(d.Home.ConfigDir, "bbkey", credstore.FileName)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	creds, _ := doc["credentials"].(map[string]any)
	if len(creds) == 0 {
		t.Fatalf("no stored credential in %s", path)
	}
	for _, c := range creds {
		c.(map[string]any)["created"] = time.Now().Add(-age).UTC().Format(time.RFC3339)
	}
	if b, err = json.Marshal(doc); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
