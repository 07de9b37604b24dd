package e2e

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/bbapi/bbapitest"
)

// These run add-access-key against the emulator in Data Center mode: the REST API over
// real HTTP (BITBUCKET_SERVER, BITBUCKET_SERVER_TOKEN), git over real SSH on its own
// port, the real binary, git, ssh and ssh-agent.

// newDCWorld is a world whose Bitbucket is a Data Center server.
func newDCWorld(t *testing.T) (*World, *bbapitest.DataCenter) {
	t.Helper()
	w := NewWorld(t, bbapitest.WithDataCenter(), bbapitest.WithSpecValidation(t))
	return w, w.Emu.DataCenter()
}

// dcGitEnv points git at the Data Center SSH port with the world's agent (where --agent
// put the key) and the emulator's host key pinned, reading no ssh config.
func dcGitEnv(t *testing.T, w *World) []string {
	t.Helper()
	host, port, err := net.SplitHostPort(w.Emu.SSHEndpoint())
	if err != nil {
		t.Fatal(err)
	}
	kh := filepath.Join(w.Home.Dir, "dc_known_hosts")
	line := fmt.Sprintf("[%s]:%s %s", host, port, ssh.MarshalAuthorizedKey(w.Emu.HostPublicKey()))
	if err := os.WriteFile(kh, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append([]string(nil), w.Env...)
	return append(env, "GIT_SSH_COMMAND=ssh -F none -o BatchMode=yes -o UserKnownHostsFile="+kh+" -o StrictHostKeyChecking=yes")
}

// dcGit runs git with dcGitEnv.
func dcGit(t *testing.T, w *World, env []string, dir string, args ...string) (string, error) {
	t.Helper()
	saved := w.Env
	w.Env = env
	defer func() { w.Env = saved }()
	return w.Git(dir, args...)
}

// dcCloneURL is the SSH clone URL the emulator's clone links give.
func dcCloneURL(w *World, proj, slug string) string {
	return w.Emu.DataCenter().SSHCloneURL(proj, slug)
}

// dcKeysWith returns the access keys of PROJ/slug with fingerprint fp.
func dcKeysWith(d *bbapitest.DataCenter, proj, slug, fp string) []bbapitest.DCAccessKey {
	var out []bbapitest.DCAccessKey
	for _, k := range d.RepoAccessKeys(proj, slug) {
		if "SHA256:"+strings.TrimPrefix(k.Fingerprint, "SHA256:") == fp {
			out = append(out, k)
		}
	}
	return out
}

// dcCalls sorts the request log of a Data Center run.
type dcCalls struct {
	Total, Posts, KeyGets, Lists int
	Other                        []string
}

func dcCount(reqs []bbapitest.Request) dcCalls {
	var c dcCalls
	for _, r := range reqs {
		c.Total++
		switch {
		case r.Method == http.MethodPost && strings.HasPrefix(r.Path, "/rest/keys/"):
			c.Posts++
		case r.Method == http.MethodGet && strings.HasPrefix(r.Path, "/rest/keys/"):
			c.KeyGets++
		case r.Method == http.MethodGet && (strings.HasSuffix(r.Path, "/repos") || strings.HasSuffix(r.Path, "/repos/")):
			c.Lists++
		default:
			c.Other = append(c.Other, r.Method+" "+r.Path)
		}
		if r.Method == http.MethodDelete && strings.HasSuffix(strings.TrimRight(r.Path, "/"), "/keys") {
			panic("DELETE of the user-key collection: " + r.Path)
		}
	}
	return c
}

// A read access key: added as REPO_READ, proved over the Data Center SSH (read, push
// refused), then the real git clones with it and cannot push; a second run makes no call
// to add anything.
func TestAccessKeyDCReadOnly(t *testing.T) {
	w, d := newDCWorld(t)
	args := []string{"add-access-key", "--repo", "OPS/api", "--repo", "~ada/notes", "--name", "ci", "--passphrase-file", w.PassFile,
		"--agent", "--verify", "--json"}
	r := w.MustRun("", args...)
	doc := accesskeyDecode(t, r)
	if doc.Bitbucket.Kind != "datacenter" || doc.Bitbucket.Server != d.ServerURL() {
		t.Errorf("bitbucket = %+v, want datacenter at %s", doc.Bitbucket, d.ServerURL())
	}
	for _, tg := range doc.Targets {
		if tg.Status != "added" || tg.Permission != "REPO_READ" || tg.KeyID == "" {
			t.Errorf("target %+v", tg)
		}
	}
	for _, ref := range [][2]string{{"OPS", "api"}, {"~ada", "notes"}} {
		if k := dcKeysWith(d, ref[0], ref[1], doc.Key.Fingerprint); len(k) != 1 || k[0].Permission != "REPO_READ" || k[0].Label != doc.Key.Label {
			t.Errorf("%s/%s access keys = %+v", ref[0], ref[1], k)
		}
	}
	if doc.Verify == nil || !doc.Verify.Read || !doc.Verify.PushRefused || doc.Verify.PushAccepted {
		t.Errorf("verify = %+v", doc.Verify)
	}
	if c := dcCount(w.Emu.Requests()); c.Posts != 2 || c.KeyGets != 0 {
		t.Errorf("calls %+v: a key made by this run is posted without a look", c)
	}

	env := dcGitEnv(t, w)
	clone := filepath.Join(w.Home.Dir, "api")
	if out, err := dcGit(t, w, env, w.Home.Dir, "clone", "-q", dcCloneURL(w, "OPS", "api"), clone); err != nil {
		t.Fatalf("clone with the access key: %v\n%s", err, out)
	}
	w.MustGit(clone, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty", "-m", "x")
	if out, err := dcGit(t, w, env, clone, "push", "origin", "HEAD:main"); err == nil || !strings.Contains(out, "not permitted to push") {
		t.Errorf("push with a read access key: err %v\n%s", err, out)
	}

	w.Emu.ResetRequests()
	r2 := w.MustRun("", args[:len(args)-2]...) // no --verify, no --json
	if !strings.Contains(r2.Stdout, "present  OPS/api") {
		t.Errorf("second run:\n%s", r2)
	}
	if c := dcCount(w.Emu.Requests()); c.Posts != 0 {
		t.Errorf("second run posted: %+v", c)
	}
}

// --write: REPO_WRITE, the proof pushes, and so does git.
func TestAccessKeyDCWrite(t *testing.T) {
	w, d := newDCWorld(t)
	r := w.MustRun("", "add-access-key", "--repo", "OPS/web", "--write", "--name", "ci", "--passphrase-file", w.PassFile,
		"--agent", "--write-ssh-config", "--verify", "--json")
	doc := accesskeyDecode(t, r)
	// The Host block bbkey wrote for the server: git through ~/.ssh/config and the remote
	// the document names (ssh://git@<ssh host>:<port>/ops/web.git).
	_, port, _ := net.SplitHostPort(w.Emu.SSHEndpoint())
	if doc.SSH == nil || !doc.SSH.Written || doc.SSH.Remote != "ssh://git@"+net.JoinHostPort(doc.SSH.Alias, port)+"/ops/web.git" {
		t.Fatalf("ssh = %+v", doc.SSH)
	}
	if out := w.MustGit(w.Home.Dir, "ls-remote", doc.SSH.Remote); !strings.Contains(out, "refs/heads/main") {
		t.Errorf("ls-remote through the written config: %s", out)
	}
	if k := dcKeysWith(d, "OPS", "web", doc.Key.Fingerprint); len(k) != 1 || k[0].Permission != "REPO_WRITE" {
		t.Fatalf("OPS/web access keys = %+v", k)
	}
	if doc.Verify == nil || !doc.Verify.Read || !doc.Verify.PushAccepted || doc.Verify.PushRefused {
		t.Errorf("verify = %+v", doc.Verify)
	}
	env := dcGitEnv(t, w)
	clone := filepath.Join(w.Home.Dir, "web")
	if out, err := dcGit(t, w, env, w.Home.Dir, "clone", "-q", dcCloneURL(w, "OPS", "web"), clone); err != nil {
		t.Fatalf("clone: %v\n%s", err, out)
	}
	w.MustGit(clone, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty", "-m", "from ci")
	if out, err := dcGit(t, w, env, clone, "push", "origin", "HEAD:refs/heads/ci"); err != nil {
		t.Fatalf("push with a write access key: %v\n%s", err, out)
	}

	// The same key asked read-only later: bbkey does not lower it, and says so (exit 3).
	w.Emu.ResetRequests()
	r = w.Run("", "add-access-key", "--repo", "OPS/web", "--name", "ci", "--json")
	doc2 := accesskeyDecode(t, r)
	if r.Code != 3 || len(doc2.Missing) != 1 || !strings.Contains(doc2.Missing[0].Error, "REPO_WRITE") {
		t.Errorf("read-only over a write key: exit %d missing %+v\n%s", r.Code, doc2.Missing, r.Stderr)
	}
	// A re-run would meet the same key: the hint says what to do instead of re-running.
	if hints := strings.Join(hintLines(r.Stderr), "\n"); strings.Contains(hints, "run the same command again to finish") || !strings.Contains(hints, "--write") {
		t.Errorf("read-only over a write key: hints %q", hints)
	}
	if k := dcKeysWith(d, "OPS", "web", doc.Key.Fingerprint); len(k) != 1 || k[0].Permission != "REPO_WRITE" {
		t.Errorf("the permission changed: %+v", k)
	}
	if c := dcCount(w.Emu.Requests()); c.Posts != 0 || c.KeyGets != 1 {
		t.Errorf("calls %+v: want one look and no POST", c)
	}
}

// --project: one PROJECT_READ key covers the project's repositories. --all: every
// repository the token administers (several pages), and not one it only reads.
func TestAccessKeyDCProjectAndAll(t *testing.T) {
	w, d := newDCWorld(t)
	r := w.MustRun("", "add-access-key", "--project", "OPS", "--name", "ops", "--passphrase-file", w.PassFile, "--agent", "--verify", "--json")
	doc := accesskeyDecode(t, r)
	if pk := d.ProjectAccessKeys("OPS"); len(pk) != 1 || pk[0].Permission != "PROJECT_READ" {
		t.Fatalf("OPS project keys = %+v", pk)
	}
	if len(doc.Targets) != 1 || doc.Targets[0].Target != "OPS" || doc.Targets[0].Kind != "project" || doc.Targets[0].Permission != "PROJECT_READ" {
		t.Errorf("targets = %+v", doc.Targets)
	}
	if doc.Verify == nil || !doc.Verify.PushRefused {
		t.Errorf("verify = %+v", doc.Verify)
	}
	env := dcGitEnv(t, w)
	for _, slug := range bbapitest.DefaultRepos {
		if out, err := dcGit(t, w, env, w.Home.Dir, "ls-remote", dcCloneURL(w, "OPS", slug)); err != nil {
			t.Errorf("ls-remote OPS/%s with the project key: %v\n%s", slug, err, out)
		}
	}

	// --all over 130 repositories: two pages of the listing.
	for i := range 130 - len(bbapitest.DefaultRepos) - 1 {
		if err := d.AddRepo("OPS", fmt.Sprintf("r%03d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.AddProject("RO", "Read only"); err != nil {
		t.Fatal(err)
	}
	if err := d.AddRepo("RO", "seen"); err != nil {
		t.Fatal(err)
	}
	if err := d.Grant("RO", "", bbapitest.DCDefaultUser, bbapitest.PermRead); err != nil {
		t.Fatal(err)
	}
	w.Emu.ResetRequests()
	r = w.MustRun("", "add-access-key", "--all", "--name", "ci", "--passphrase-file", w.PassFile, "--json")
	doc = accesskeyDecode(t, r)
	if doc.Summary["added"] != 130 || len(doc.Missing) != 0 {
		t.Errorf("summary %v missing %v", doc.Summary, doc.Missing)
	}
	for i := range 130 - len(bbapitest.DefaultRepos) - 1 {
		if k := dcKeysWith(d, "OPS", fmt.Sprintf("r%03d", i), doc.Key.Fingerprint); len(k) != 1 || k[0].Permission != "REPO_READ" {
			t.Errorf("OPS/r%03d: %+v", i, k)
		}
	}
	if k := dcKeysWith(d, "~ADA", "notes", doc.Key.Fingerprint); len(k) != 1 {
		t.Errorf("the personal repository: %+v", k)
	}
	if k := dcKeysWith(d, "RO", "seen", doc.Key.Fingerprint); len(k) != 0 {
		t.Errorf("a repository the token only reads got the key: %+v", k)
	}
	c := dcCount(w.Emu.Requests())
	if c.Lists != 2 || c.Posts != 130 || c.KeyGets != 0 || doc.Plan.ListCalls != 2 {
		t.Errorf("calls %+v (plan %+v): want 2 listing pages and 130 POSTs", c, doc.Plan)
	}
	if doc.Calls != c.Total {
		t.Errorf("the document counts %d calls, the emulator %d", doc.Calls, c.Total)
	}
}

// Rate-limited: the server allows 12 calls and then answers 429 with a Retry-After longer
// than --max-wait; the run stops, exits 3, records what it did; a re-run once the limit
// is lifted finishes, adding each remaining repository once, and lowers nothing.
func TestAccessKeyDCRateLimitedThenResumed(t *testing.T) {
	w, d := newDCWorld(t)
	for i := range 40 {
		if err := d.AddRepo("OPS", fmt.Sprintf("r%03d", i)); err != nil {
			t.Fatal(err)
		}
	}
	d.SetRateLimit(12, 0)
	args := []string{"add-access-key", "--all", "--name", "ci", "--passphrase-file", w.PassFile, "--concurrency", "2", "--json"}
	r := w.Run("", append([]string{"--max-wait", "1s"}, args...)...)
	doc := accesskeyDecode(t, r)
	if r.Code != 3 {
		t.Fatalf("rate-limited run: exit %d, want 3\n%s", r.Code, r)
	}
	if doc.Summary["added"] == 0 || len(doc.Missing) == 0 || !strings.Contains(doc.Stopped, "429") {
		t.Errorf("summary %v, %d missing, stopped %q", doc.Summary, len(doc.Missing), doc.Stopped)
	}
	if !strings.Contains(r.Stderr, "run the same command again") {
		t.Errorf("no hint to re-run:\n%s", r.Stderr)
	}
	added := doc.Summary["added"]

	d.SetRateLimit(0, 0)
	w.Emu.ResetRequests()
	r = w.Run("", args...)
	if r.Code != 0 {
		t.Fatalf("re-run: %s", r)
	}
	doc2 := accesskeyDecode(t, r)
	recorded := 0
	for _, tg := range doc2.Targets {
		if tg.Recorded {
			recorded++
		}
	}
	total := 40 + len(bbapitest.DefaultRepos) + 1
	if recorded != added || len(doc2.Targets) != total || len(doc2.Missing) != 0 {
		t.Errorf("re-run: %d recorded (first run added %d), %d targets, missing %v", recorded, added, len(doc2.Targets), doc2.Missing)
	}
	c := dcCount(w.Emu.Requests())
	if c.Posts != total-added {
		t.Errorf("re-run posted %d times, want %d (the targets not done)", c.Posts, total-added)
	}
	for i := range 40 {
		if k := dcKeysWith(d, "OPS", fmt.Sprintf("r%03d", i), doc2.Key.Fingerprint); len(k) != 1 || k[0].Permission != "REPO_READ" {
			t.Errorf("OPS/r%03d: %+v", i, k)
		}
	}
}

// Retry-After within --max-wait is waited out: a bucket of 5 calls refilled at 20 a
// second ends with every repository done and 429s seen.
func TestAccessKeyDCRetryAfterWaited(t *testing.T) {
	w, d := newDCWorld(t)
	for i := range 20 {
		if err := d.AddRepo("OPS", fmt.Sprintf("r%03d", i)); err != nil {
			t.Fatal(err)
		}
	}
	d.SetRateLimit(5, 20)
	r := w.MustRun("", "--max-wait", "2m", "add-access-key", "--all", "--name", "ci", "--passphrase-file", w.PassFile, "--json")
	doc := accesskeyDecode(t, r)
	limited := 0
	for _, q := range w.Emu.Requests() {
		if q.Status == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited == 0 || doc.Summary["added"] != 20+len(bbapitest.DefaultRepos)+1 {
		t.Errorf("%d rate-limited answers, summary %v", limited, doc.Summary)
	}
}

// --write on Cloud and --query on Data Center are usage errors (exit 2) before anything
// is made or sent.
func TestAccessKeyDCUsage(t *testing.T) {
	w, _ := newDCWorld(t)
	r := w.Run("", "add-access-key", "--query", "project.key = \"OPS\"", "--name", "ci", "--passphrase-file", w.PassFile)
	if r.Code != 2 || !strings.Contains(r.Stderr, "--query is Bitbucket Cloud's") || len(w.Emu.Requests()) != 0 {
		t.Errorf("--query on Data Center: %s", r)
	}
	cloud := NewWorld(t)
	before := cloud.Snapshot()
	r = cloud.Run("", "add-access-key", "--repo", "acme/api", "--write", "--name", "ci", "--passphrase-file", cloud.PassFile)
	if r.Code != 2 || !strings.Contains(r.Stderr, "--write") {
		t.Errorf("--write on Cloud: %s", r)
	}
	if diff := DiffSnapshots(before, cloud.Snapshot()); diff != "" {
		t.Errorf("--write on Cloud changed files:\n%s", diff)
	}
	if n := len(cloud.Emu.Requests()); n != 0 {
		t.Errorf("--write on Cloud made %d calls", n)
	}
}

// A refused token stops the run before anything is made (exit 4); a repository the token
// may not administer fails alone, naming REPO_ADMIN (exit 3); --dry-run lists and writes
// nothing.
func TestAccessKeyDCRefusals(t *testing.T) {
	w, d := newDCWorld(t)
	good := d.DefaultToken()
	w.Setenv("BITBUCKET_SERVER_TOKEN", "not-a-token")
	before := w.Snapshot()
	r := w.Run("", "add-access-key", "--repo", "OPS/api", "--name", "ci", "--passphrase-file", w.PassFile)
	if r.Code != 4 || !strings.Contains(r.Stderr, "hint:") {
		t.Errorf("refused token: %s", r)
	}
	if diff := DiffSnapshots(before, w.Snapshot()); diff != "" {
		t.Errorf("a refused token changed files:\n%s", diff)
	}
	w.Setenv("BITBUCKET_SERVER_TOKEN", good)

	if err := d.AddProject("RO", "Read only"); err != nil {
		t.Fatal(err)
	}
	if err := d.AddRepo("RO", "seen"); err != nil {
		t.Fatal(err)
	}
	if err := d.Grant("RO", "", bbapitest.DCDefaultUser, bbapitest.PermRead); err != nil {
		t.Fatal(err)
	}
	r = w.Run("", "add-access-key", "--repo", "OPS/api", "--repo", "RO/seen", "--name", "ci", "--passphrase-file", w.PassFile, "--json")
	doc := accesskeyDecode(t, r)
	if r.Code != 3 || len(doc.Missing) != 1 || doc.Missing[0].Target != "RO/seen" || !strings.Contains(doc.Missing[0].Error, "REPO_ADMIN") {
		t.Errorf("no admin on RO/seen: exit %d missing %+v\n%s", r.Code, doc.Missing, r.Stderr)
	}
	if k := dcKeysWith(d, "OPS", "api", doc.Key.Fingerprint); len(k) != 1 {
		t.Errorf("OPS/api: %+v", k)
	}

	w2, _ := newDCWorld(t)
	before = w2.Snapshot()
	r = w2.MustRun("", "add-access-key", "--all", "--name", "ci", "--dry-run", "--json")
	doc = accesskeyDecode(t, r)
	if !doc.DryRun || doc.Summary["pending"] != len(bbapitest.DefaultRepos)+1 || doc.Bitbucket.Kind != "datacenter" {
		t.Errorf("dry run: %+v", doc)
	}
	if diff := DiffSnapshots(before, w2.Snapshot()); diff != "" {
		t.Errorf("--dry-run changed files:\n%s", diff)
	}
	if c := dcCount(w2.Emu.Requests()); c.Posts != 0 || c.Total != c.Lists {
		t.Errorf("--dry-run calls %+v: want the listing only", c)
	}
}
