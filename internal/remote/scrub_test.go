package remote

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRemoveBitbucketGitCredentials(t *testing.T) {
	in := "https://bob:gh@github.com\r\n" +
		"https://alice:app-pw@bitbucket.org\n" +
		"https://x-token-auth:tok@BitBucket.org/ws/repo.git\n" +
		"https://carol:pw@bitbucket.org.evil.com\n" +
		"https://dan:pw@gitlab.com" // no final newline
	out, removed := removeHosts(CloudScrub, FormatGitCredentials, []byte(in))
	want := "https://bob:gh@github.com\r\n" +
		"https://carol:pw@bitbucket.org.evil.com\n" +
		"https://dan:pw@gitlab.com"
	if string(out) != want {
		t.Errorf("got\n%q\nwant\n%q", out, want)
	}
	wantRemoved := []string{"https://alice:***@bitbucket.org", "https://x-token-auth:***@BitBucket.org/ws/repo.git"}
	if !slices.Equal(removed, wantRemoved) {
		t.Errorf("removed %q, want %q", removed, wantRemoved)
	}
}

func TestNetrcRemove(t *testing.T) {
	tests := []struct {
		name, in, want string
		removed        []string
	}{
		{
			name: "entry per line, comments kept",
			in: "# personal\nmachine github.com login bob password gh1\n" +
				"machine bitbucket.org login alice password app-pw\n" +
				"# work\n\nmachine example.com\n  login x\n  password y\n",
			want: "# personal\nmachine github.com login bob password gh1\n" +
				"# work\n\nmachine example.com\n  login x\n  password y\n",
			removed: []string{"machine bitbucket.org login alice"},
		},
		{
			name:    "multi-line entry, last, no final newline",
			in:      "machine a.com login a password b\nmachine BITBUCKET.ORG\n\tlogin alice\n\tpassword \"p w\"",
			want:    "machine a.com login a password b\n",
			removed: []string{"machine BITBUCKET.ORG login alice"},
		},
		{
			name:    "entries on one line",
			in:      "machine bitbucket.org login a password b machine c.com login c password d\n",
			want:    "machine c.com login c password d\n",
			removed: []string{"machine bitbucket.org login a"},
		},
		{
			name: "macdef body kept with its entry",
			in: "machine ftp.example.com login f password g macdef init\ncd /pub\nbinary\n\n" +
				"machine bitbucket.org login a password b macdef up\nput x\n\n" +
				"default login anonymous password me@\n",
			want: "machine ftp.example.com login f password g macdef init\ncd /pub\nbinary\n\n" +
				"default login anonymous password me@\n",
			removed: []string{"machine bitbucket.org login a"},
		},
		{
			name: "macdef body mentioning the host is not an entry",
			in:   "machine x.com login a macdef m\nmachine bitbucket.org\n\n",
			want: "machine x.com login a macdef m\nmachine bitbucket.org\n\n",
		},
		{
			name:    "quoted password with spaces and a look-alike",
			in:      "machine bitbucket.org.example login a password b\r\nmachine bitbucket.org login \"al ice\" password \"x \\\" machine y\"\r\n",
			want:    "machine bitbucket.org.example login a password b\r\n",
			removed: []string{"machine bitbucket.org login al ice"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, removed := removeHosts(CloudScrub, FormatNetrc, []byte(tt.in))
			if string(out) != tt.want {
				t.Errorf("got\n%q\nwant\n%q", out, tt.want)
			}
			if !slices.Equal(removed, tt.removed) {
				t.Errorf("removed %q, want %q", removed, tt.removed)
			}
		})
	}
}

// TestScrubWithRealGitCredentialStore stores a Bitbucket credential through git's real
// store helper in a throw-away home and checks that after Scrub git no longer returns it,
// that every other byte of the credential files is kept, and that the backups hold the
// originals with private permissions.
func TestScrubWithRealGitCredentialStore(t *testing.T) {
	g := newGitEnv(t)
	ctx := context.Background()
	store := filepath.Join(g.home.Dir, "store-creds")
	gitcfg := filepath.Join(g.home.Dir, ".gitconfig")
	cfg := readFile(t, gitcfg) + "[credential]\n\thelper = store --file " + store + "\n"
	if err := os.WriteFile(gitcfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	approve := func(host, user, pw string) {
		t.Helper()
		if _, err := g.git.RunInput(ctx, g.home.Dir, "protocol=https\nhost="+host+"\nusername="+user+"\npassword="+pw+"\n\n", "credential", "approve"); err != nil {
			t.Fatal(err)
		}
	}
	approve("bitbucket.org", "alice", "app-password-1")
	approve("github.com", "bob", "gh-token")

	gc := "https://carol:gh2@github.com\nhttps://alice:app-password-2@bitbucket.org\n"
	netrc := "machine github.com login bob password gh\nmachine bitbucket.org login alice password app-password-3\n"
	xdg := filepath.Join(g.home.ConfigDir, "git", "credentials")
	for path, data := range map[string]string{
		filepath.Join(g.home.Dir, ".git-credentials"): gc,
		filepath.Join(g.home.Dir, ".netrc"):           netrc,
		xdg:                                           "https://eve:pw@gitlab.com\n",
	} {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	sp, err := PlanScrubFor(ctx, g.git, g.home.Dir, g.home.ConfigDir, CloudScrub)
	if err != nil {
		t.Fatal(err)
	}
	var planned []string
	for _, f := range sp.Files {
		planned = append(planned, filepath.Base(f.Path)+": "+strings.Join(f.Entries, ", "))
	}
	wantPlanned := []string{".git-credentials: https://alice:***@bitbucket.org", ".netrc: machine bitbucket.org login alice"}
	if !slices.Equal(planned, wantPlanned) {
		t.Errorf("planned %q, want %q", planned, wantPlanned)
	}
	if !slices.Equal(sp.Helpers, []string{"store --file " + store}) {
		t.Errorf("helpers = %q", sp.Helpers)
	}

	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	if err := Scrub(ctx, g.git, sp, now); err != nil {
		t.Fatal(err)
	}
	if !sp.Rejected {
		t.Error("credential reject not run")
	}
	if got := readFile(t, filepath.Join(g.home.Dir, ".git-credentials")); got != "https://carol:gh2@github.com\n" {
		t.Errorf(".git-credentials = %q", got)
	}
	if got := readFile(t, filepath.Join(g.home.Dir, ".netrc")); got != "machine github.com login bob password gh\n" {
		t.Errorf(".netrc = %q", got)
	}
	if got := readFile(t, xdg); got != "https://eve:pw@gitlab.com\n" {
		t.Errorf("xdg credentials = %q", got)
	}
	for _, f := range sp.Files {
		if f.Backup != f.Path+".bbkey-backup-20261122T100000Z" {
			t.Errorf("backup of %s = %q", f.Path, f.Backup)
		}
		fi, err := os.Stat(f.Backup)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v", f.Backup, fi.Mode().Perm())
		}
		if f.Removed != 1 {
			t.Errorf("%s: removed %d", f.Path, f.Removed)
		}
	}
	if got := readFile(t, sp.Files[0].Backup); got != gc {
		t.Errorf("backup = %q, want the original", got)
	}

	// git asks the helper: the Bitbucket entry is gone, the GitHub one is still there.
	fill := func(host string) string {
		out, _ := g.git.RunInput(ctx, g.home.Dir, "protocol=https\nhost="+host+"\n\n", "credential", "fill")
		return out
	}
	if out := fill("bitbucket.org"); strings.Contains(out, "app-password") {
		t.Errorf("git credential fill still returns the Bitbucket secret:\n%s", out)
	}
	if out := fill("github.com"); !strings.Contains(out, "password=gh-token") {
		t.Errorf("git credential fill lost the GitHub entry:\n%s", out)
	}

	// A second run finds nothing.
	again, err := PlanScrubFor(ctx, g.git, g.home.Dir, g.home.ConfigDir, CloudScrub)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Files) != 0 {
		t.Errorf("second plan: %+v", again.Files)
	}
}

// A Data Center server on a port: git's store helper writes its host as 127.0.0.1%3a7990
// (the colon percent-encoded), and that is the entry setup --server must remove. The
// credential goes in through the real git, and git must not give it back after Scrub.
func TestScrubDataCenterWithPortStoredByRealGit(t *testing.T) {
	g := newGitEnv(t)
	ctx := context.Background()
	// The store helper once wrote the file (it is no longer configured, so only the file
	// scrub can remove the secret; a configured helper would be asked to forget it too).
	const secret = "dc-password-7990"
	for _, c := range []string{
		"protocol=http\nhost=127.0.0.1:7990\nusername=ada\npassword=" + secret + "\n\n",
		"protocol=https\nhost=bitbucket.org\nusername=ada\npassword=cloud-stays\n\n",
		"protocol=http\nhost=127.0.0.2:7990\nusername=ada\npassword=other-host-stays\n\n",
	} {
		if _, err := g.git.RunInput(ctx, g.home.Dir, c, "-c", "credential.helper=store", "credential", "approve"); err != nil {
			t.Fatal(err)
		}
	}
	creds := filepath.Join(g.home.Dir, ".git-credentials")
	if got := readFile(t, creds); !strings.Contains(got, "127.0.0.1%3a7990") {
		t.Fatalf("git wrote the port another way than this test expects:\n%s", got)
	}
	sp, err := PlanScrubFor(ctx, g.git, g.home.Dir, g.home.ConfigDir, DataCenterScrub("http://127.0.0.1:7990"))
	if err != nil {
		t.Fatal(err)
	}
	if len(sp.Files) != 1 || !slices.Equal(sp.Files[0].Entries, []string{"http://ada:***@127.0.0.1%3a7990"}) {
		t.Errorf("planned %+v", sp.Files)
	}
	if err := Scrub(ctx, g.git, sp, time.Now()); err != nil {
		t.Fatal(err)
	}
	got := readFile(t, creds)
	if strings.Contains(got, secret) || !strings.Contains(got, "cloud-stays") || !strings.Contains(got, "other-host-stays") {
		t.Errorf(".git-credentials after the scrub:\n%s", got)
	}
	out, _ := g.git.RunInput(ctx, g.home.Dir, "protocol=http\nhost=127.0.0.1:7990\nusername=ada\n\n", "-c", "credential.helper=store", "-c", "core.askPass=true", "credential", "fill")
	if strings.Contains(string(out), secret) {
		t.Errorf("git still gives the secret back:\n%s", out)
	}
}
