package e2e

import (
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/bbapi/bbapitest"
)

// One repository, the whole server setup: key made with a passphrase from a file, loaded
// into the real agent, ssh config written, proof with real git; then the key works for
// git through the written config, a push is refused, and a second run changes nothing.
func TestAccessKeyOneRepo(t *testing.T) {
	w := NewWorld(t)
	args := []string{"add-access-key", "--repo", "acme/api", "--name", "ci-01", "--passphrase-file", w.PassFile,
		"--agent", "--write-ssh-config", "--verify", "--json"}
	r := w.MustRun("", args...)
	d := accesskeyDecode(t, r)

	wantPath := filepath.Join(w.Home.SSHDir, "bbkey_access_ci-01_ed25519")
	if d.Key.Path != wantPath || !d.Key.Created || !d.Key.Encrypted || !d.Key.Agent {
		t.Errorf("key = %+v, want a new encrypted key at %s loaded into the agent", d.Key, wantPath)
	}
	wantLabel := "bbkey:ci-01:" + time.Now().UTC().Format(time.DateOnly) + ":ttl=90d"
	if d.Key.Label != wantLabel {
		t.Errorf("label = %q, want %q", d.Key.Label, wantLabel)
	}
	keysOn := w.Emu.RepoDeployKeys("acme", "api")
	if len(keysOn) != 1 || keysOn[0].Label != wantLabel {
		t.Fatalf("acme/api access keys = %+v, want one labelled %s", keysOn, wantLabel)
	}
	if got := accesskeyKeysOn(w.Emu, []string{"acme/api"}, d.Key.Fingerprint); got["acme/api"] != 1 {
		t.Errorf("acme/api holds the key %d times", got["acme/api"])
	}
	if len(d.Targets) != 1 || d.Targets[0] != (accesskeyTarget{Target: "acme/api", Kind: "repo", Status: "added", KeyID: strconv.Itoa(keysOn[0].ID)}) {
		t.Errorf("targets = %+v", d.Targets)
	}
	if d.Verify == nil || !d.Verify.Read || !d.Verify.PushRefused || !strings.Contains(d.Verify.Message, "read-only") {
		t.Errorf("verify = %+v, want read and a read-only refusal", d.Verify)
	}
	if d.SSH == nil || !d.SSH.Written || d.SSH.Alias != "ssh.bitbucket.org" || d.SSH.Remote != "git@ssh.bitbucket.org:acme/api.git" {
		t.Errorf("ssh = %+v", d.SSH)
	}
	for _, f := range []string{wantPath, wantPath + ".pub", filepath.Join(w.Home.SSHDir, "config"),
		filepath.Join(w.Home.SSHDir, "bbkey", "config"), filepath.Join(w.Home.SSHDir, "bbkey", "known_hosts")} {
		if !slices.Contains(d.ChangedFiles, f) {
			t.Errorf("changed_files %v lacks %s", d.ChangedFiles, f)
		}
	}
	if !strings.Contains(w.AgentList(), d.Key.Fingerprint) {
		t.Errorf("agent does not hold %s:\n%s", d.Key.Fingerprint, w.AgentList())
	}
	calls := accesskeyCount(w.Emu.Requests())
	if calls.Posts["acme/api"] != 1 || calls.RepoGets != 0 || calls.Lists != 0 || len(calls.Other) != 0 {
		t.Errorf("calls = %+v, want exactly one POST", calls)
	}

	// The server's own git, through the config bbkey wrote.
	out := w.MustGit(w.Home.Dir, "ls-remote", "git@ssh.bitbucket.org:acme/api.git")
	if !strings.Contains(out, "refs/heads/main") {
		t.Errorf("ls-remote: %s", out)
	}
	clone := filepath.Join(w.Home.Dir, "api")
	w.MustGit(w.Home.Dir, "clone", "-q", "git@ssh.bitbucket.org:acme/api.git", clone)
	w.MustGit(clone, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty", "-m", "x")
	if out, err := w.Git(clone, "push", "origin", "HEAD:main"); err == nil || !strings.Contains(out, "access via a deployment key is read-only") {
		t.Errorf("push with the access key: err %v, want Bitbucket's read-only refusal:\n%s", err, out)
	}

	// A second run: the target is recorded, so no call adds anything and no file changes.
	w.Emu.ResetRequests()
	before := w.Snapshot("api")
	r2 := w.MustRun("", args...)
	d2 := accesskeyDecode(t, r2)
	if d2.Targets[0].Status != "present" || !d2.Targets[0].Recorded || d2.Key.Created {
		t.Errorf("second run: %+v key %+v", d2.Targets, d2.Key)
	}
	if len(d2.ChangedFiles) != 0 {
		t.Errorf("second run changed %v", d2.ChangedFiles)
	}
	if diff := DiffSnapshots(before, w.Snapshot("api")); diff != "" {
		t.Errorf("second run changed files:\n%s", diff)
	}
	if c := accesskeyCount(w.Emu.Requests()); len(c.Posts) != 0 || c.RepoGets != 0 {
		t.Errorf("second run calls = %+v, want no POST", c)
	}
}

// Five repositories from a file (and from stdin), plain output: the key is encrypted and
// not in any agent, so the proof serves it from a temporary agent of its own.
func TestAccessKeyFiveFromFile(t *testing.T) {
	w := NewWorld(t)
	refs := accesskeyAddRepos(t, w.Emu, 8)
	list := filepath.Join(w.Home.Dir, "repos.txt")
	content := "# repositories of the build\n" + strings.Join(refs[:5], "\n") + "\n\n"
	if err := os.WriteFile(list, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	w.Setenv("BBKEY_PASSPHRASE", w.Passphrase)
	r := w.MustRun("", "add-access-key", "--repos-from", list, "--name", "ci", "--verify")
	if !strings.Contains(r.Stderr, "5 targets (0 already done), about 5 calls; budget 1,000 calls per hour") {
		t.Errorf("no plan line:\n%s", r.Stderr)
	}
	for _, want := range []string{"added    acme/api (key id ", "added    acme/r002 (key id ", "Host ssh.bitbucket.org", "IdentityFile " + filepath.Join(w.Home.SSHDir, "bbkey_access_ci_ed25519"),
		"HostKeyAlias ssh.bitbucket.org", "ssh.bitbucket.org ssh-ed25519 ", "clone with: git clone git@ssh.bitbucket.org:acme/api.git"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.Stdout)
		}
	}
	if !strings.Contains(r.Stderr, "proved on acme/api") {
		t.Errorf("no proof:\n%s", r.Stderr)
	}
	if strings.Contains(w.AgentList(), "ED25519") {
		t.Errorf("the proof left the key in the user's agent:\n%s", w.AgentList())
	}
	if _, err := os.Stat(filepath.Join(w.Home.SSHDir, "config")); !os.IsNotExist(err) {
		t.Errorf("ssh config written without --write-ssh-config (err %v)", err)
	}
	calls := accesskeyCount(w.Emu.Requests())
	if len(calls.Posts) != 5 || calls.Total != 5 {
		t.Errorf("calls = %+v, want 5 POSTs and nothing else", calls)
	}
	fp := strings.Fields(accesskeyKeygen(w, "-lf", filepath.Join(w.Home.SSHDir, "bbkey_access_ci_ed25519.pub")))[1]
	on := accesskeyKeysOn(w.Emu, refs, fp)
	for i, ref := range refs {
		if want := map[bool]int{true: 1, false: 0}[i < 5]; on[ref] != want {
			t.Errorf("%s holds the key %d times, want %d", ref, on[ref], want)
		}
	}

	// More repositories later, from stdin: the same key, only the new ones are added.
	w.Emu.ResetRequests()
	r = w.RunInput("", strings.Join(refs[3:8], "\n"), "add-access-key", "--repos-from", "-", "--name", "ci", "--json")
	if r.Code != 0 {
		t.Fatal(r)
	}
	d := accesskeyDecode(t, r)
	if d.Key.Fingerprint != fp || d.Key.Created || d.Plan.Done != 2 || d.Plan.Pending != 3 {
		t.Errorf("second run key %+v plan %+v", d.Key, d.Plan)
	}
	if calls := accesskeyCount(w.Emu.Requests()); len(calls.Posts) != 3 || calls.Total != 3 {
		t.Errorf("second run calls = %+v, want 3 POSTs", calls)
	}
	for _, ref := range refs {
		if n := accesskeyKeysOn(w.Emu, []string{ref}, fp)[ref]; n != 1 {
			t.Errorf("%s holds the key %d times", ref, n)
		}
	}
}

// One project key covers its repositories: the proof finds one with a single listing.
func TestAccessKeyProject(t *testing.T) {
	w := NewWorld(t)
	r := w.MustRun("", "add-access-key", "--project", "acme/OPS", "--name", "ops", "--passphrase-file", w.PassFile,
		"--agent", "--write-ssh-config", "--verify", "--json")
	d := accesskeyDecode(t, r)
	pk := w.Emu.ProjectDeployKeys("acme", "OPS")
	if len(pk) != 1 || !strings.HasPrefix(pk[0].Label, "bbkey:ops:") {
		t.Fatalf("project keys = %+v", pk)
	}
	if len(d.Targets) != 1 || d.Targets[0].Kind != "project" || d.Targets[0].Status != "added" {
		t.Errorf("targets = %+v", d.Targets)
	}
	if d.Verify == nil || !d.Verify.PushRefused {
		t.Errorf("verify = %+v", d.Verify)
	}
	calls := accesskeyCount(w.Emu.Requests())
	if calls.Posts["project:acme/OPS"] != 1 || calls.Lists != 1 || calls.Total != 2 {
		t.Errorf("calls = %+v, want one POST and one listing for the proof", calls)
	}
	for _, slug := range bbapitest.DefaultRepos {
		w.MustGit(w.Home.Dir, "ls-remote", "git@ssh.bitbucket.org:acme/"+slug+".git")
	}
}

// A workspace of 250 repositories with --all: three listing pages and one POST each.
func TestAccessKeyWorkspace250(t *testing.T) {
	w := NewWorld(t)
	refs := accesskeyAddRepos(t, w.Emu, 250)
	r := w.MustRun("", "add-access-key", "--workspace", "acme", "--all", "--name", "ci", "--passphrase-file", w.PassFile,
		"--agent", "--write-ssh-config", "--verify", "--json")
	d := accesskeyDecode(t, r)
	if !strings.Contains(r.Stderr, "250 targets (0 already done), about 253 calls (3 listing acme); budget 1,000 calls per hour") {
		t.Errorf("plan line missing:\n%s", r.Stderr)
	}
	if d.Summary["added"] != 250 || len(d.Missing) != 0 {
		t.Errorf("summary %v missing %v", d.Summary, d.Missing)
	}
	on := accesskeyKeysOn(w.Emu, refs, d.Key.Fingerprint)
	for _, ref := range refs {
		if on[ref] != 1 {
			t.Errorf("%s holds the key %d times", ref, on[ref])
		}
	}
	calls := accesskeyCount(w.Emu.Requests())
	if calls.Total > 253 || calls.Lists != 3 || calls.RepoGets != 0 || len(calls.Posts) != 250 || len(calls.Other) != 0 {
		t.Errorf("calls: %d in all, %d listing, %d per-repository GETs, %d repositories POSTed, other %v",
			calls.Total, calls.Lists, calls.RepoGets, len(calls.Posts), calls.Other)
	}
	for ref, n := range calls.Posts {
		if n != 1 {
			t.Errorf("%s got %d POSTs", ref, n)
		}
	}
	if d.Calls != calls.Total {
		t.Errorf("the document counts %d calls, the emulator %d", d.Calls, calls.Total)
	}
	if d.Verify == nil || !d.Verify.PushRefused {
		t.Errorf("verify = %+v", d.Verify)
	}
	w.MustGit(w.Home.Dir, "ls-remote", "git@ssh.bitbucket.org:acme/r247.git")
}

// Faults: a tenth of the POSTs fail with 503, and Bitbucket allows 100 calls an hour. On
// a clock where the hour passes while bbkey waits, the run ends with everything done.
func TestAccessKeyFaultsWaitedOut(t *testing.T) {
	w := NewWorld(t)
	refs := accesskeyAddRepos(t, w.Emu, 250)
	w.Emu.SetClock(accesskeySteppedClock(t, w.Emu))
	w.Emu.SetRateLimit(100)
	accesskeyEvery503(w.Emu)
	r := w.Run("", "add-access-key", "--workspace", "acme", "--all", "--name", "ci", "--passphrase-file", w.PassFile, "--json")
	if r.Code != 0 {
		t.Fatal(r)
	}
	d := accesskeyDecode(t, r)
	on := accesskeyKeysOn(w.Emu, refs, d.Key.Fingerprint)
	for _, ref := range refs {
		if on[ref] != 1 {
			t.Errorf("%s holds the key %d times", ref, on[ref])
		}
	}
	limited, faults := 0, 0
	for _, q := range w.Emu.Requests() {
		if q.Status == 429 {
			limited++
		}
		if q.Fault {
			faults++
		}
	}
	if limited == 0 || faults < 20 {
		t.Errorf("the faults did not happen: %d rate-limited, %d 503s", limited, faults)
	}
	if !strings.Contains(r.Stderr, "waiting") {
		t.Errorf("no wait reported:\n%s", r.Stderr)
	}
}

// The same faults on a clock that stands still, with a short --max-wait: the run stops
// with exit 3 and lists exactly the repositories without the key; a re-run adds those and
// touches no other.
func TestAccessKeyFaultsResume(t *testing.T) {
	w := NewWorld(t)
	refs := accesskeyAddRepos(t, w.Emu, 250)
	now := time.Now()
	w.Emu.SetClock(func() time.Time { return now })
	w.Emu.SetRateLimit(100)
	accesskeyEvery503(w.Emu)
	args := []string{"add-access-key", "--workspace", "acme", "--all", "--name", "ci", "--passphrase-file", w.PassFile, "--json"}
	r := w.Run("", append(args, "--max-wait", "2s")...)
	if r.Code != 3 {
		t.Fatalf("want exit 3\n%s", r)
	}
	d := accesskeyDecode(t, r)
	on := accesskeyKeysOn(w.Emu, refs, d.Key.Fingerprint)
	var without []string
	for _, ref := range refs {
		switch on[ref] {
		case 0:
			without = append(without, ref)
		case 1:
		default:
			t.Errorf("%s holds the key %d times", ref, on[ref])
		}
	}
	var missing []string
	for _, m := range d.Missing {
		missing = append(missing, m.Target)
		if m.Status != "failed" && m.Status != "skipped" {
			t.Errorf("missing entry %+v", m)
		}
	}
	slices.Sort(missing)
	if len(without) == 0 || !slices.Equal(missing, without) {
		t.Fatalf("missing (%d) = %v\nrepositories without the key (%d) = %v", len(missing), missing, len(without), without)
	}
	if !strings.Contains(d.Stopped, "max wait") || !strings.Contains(r.Stderr, "bbkey: error: ") {
		t.Errorf("stopped = %q\n%s", d.Stopped, r.Stderr)
	}

	// Time passes again (an hour a second): the re-run waits out the limit where it must and
	// adds exactly what was missing.
	w.Emu.SetClock(accesskeyFastClock())
	w.Emu.ResetRequests()
	r2 := w.Run("", args...)
	if r2.Code != 0 {
		t.Fatal(r2)
	}
	d2 := accesskeyDecode(t, r2)
	if d2.Plan.Pending != len(without) || d2.Plan.Done != 250-len(without) {
		t.Errorf("re-run plan %+v, %d were missing", d2.Plan, len(without))
	}
	calls := accesskeyCount(w.Emu.Requests())
	if posted := slices.Sorted(maps.Keys(calls.Posts)); !slices.Equal(posted, without) {
		t.Errorf("re-run POSTed to %d repositories, want the %d missing ones: %v", len(posted), len(without), posted)
	}
	if calls.RepoGets != 0 {
		t.Errorf("re-run made %d per-repository GETs", calls.RepoGets)
	}
	on = accesskeyKeysOn(w.Emu, refs, d.Key.Fingerprint)
	for _, ref := range refs {
		if on[ref] != 1 {
			t.Errorf("after the re-run %s holds the key %d times", ref, on[ref])
		}
	}
}

// --dry-run lists and plans and changes nothing; without a passphrase source and
// without a terminal the run fails at once, before any call or file.
func TestAccessKeyDryRunAndNoInput(t *testing.T) {
	w := NewWorld(t)
	before := w.Snapshot()
	r := w.MustRun("", "add-access-key", "--workspace", "acme", "--all", "--dry-run", "--json")
	d := accesskeyDecode(t, r)
	if !d.DryRun || d.Plan.Targets != 3 || d.Plan.Calls != 4 || d.Summary["pending"] != 3 {
		t.Errorf("dry run document: %+v", d)
	}
	if !strings.Contains(r.Stderr, "3 targets (0 already done), about 4 calls (1 listing acme); budget 1,000 calls per hour") {
		t.Errorf("plan line:\n%s", r.Stderr)
	}
	if c := accesskeyCount(w.Emu.Requests()); c.Total != 1 || c.Lists != 1 {
		t.Errorf("dry run calls = %+v", c)
	}
	if diff := DiffSnapshots(before, w.Snapshot()); diff != "" {
		t.Errorf("dry run changed files:\n%s", diff)
	}

	w.Emu.ResetRequests()
	r = w.Run("", "add-access-key", "--repo", "acme/api")
	if r.Code != 2 || !strings.Contains(r.Stderr, "--passphrase-file") || !strings.Contains(r.Stderr, "BBKEY_PASSPHRASE") {
		t.Errorf("want exit 2 naming --passphrase-file and BBKEY_PASSPHRASE\n%s", r)
	}
	if len(w.Emu.Requests()) != 0 {
		t.Errorf("calls made: %v", w.Emu.Requests())
	}
	if diff := DiffSnapshots(before, w.Snapshot()); diff != "" {
		t.Errorf("failed run changed files:\n%s", diff)
	}

	r = w.Run("", "add-access-key", "--workspace", "acme")
	if r.Code != 2 || !strings.Contains(r.Stderr, "--all or --query") {
		t.Errorf("--workspace alone: %s", r)
	}
	w.Setenv("BITBUCKET_WORKSPACE", "acme")
	w.Setenv("BITBUCKET_REPO_SLUG", "web")
	r = w.MustRun("", "add-access-key", "--no-passphrase", "--name", "pipe", "--json")
	if d := accesskeyDecode(t, r); len(d.Targets) != 1 || d.Targets[0].Target != "acme/web" || d.Key.Encrypted {
		t.Errorf("Pipelines default: %+v", d)
	}
	if !strings.Contains(r.Stderr, "unencrypted") {
		t.Errorf("--no-passphrase not warned about:\n%s", r.Stderr)
	}
}

// An existing key (--key) that the SSH server refuses: the add succeeds, the proof fails
// with exit 5.
func TestAccessKeyVerifyFails(t *testing.T) {
	w := NewWorld(t)
	key := filepath.Join(w.Home.SSHDir, "id_ed25519")
	accesskeyKeygen(w, "-q", "-t", "ed25519", "-N", "", "-C", "ci", "-f", key)
	fp := strings.Fields(accesskeyKeygen(w, "-lf", key+".pub"))[1]
	w.Emu.DenySSH(fp)
	r := w.Run("", "add-access-key", "--repo", "acme/api", "--key", key+".pub", "--name", "given", "--verify", "--json")
	if r.Code != 5 {
		t.Fatalf("want exit 5\n%s", r)
	}
	d := accesskeyDecode(t, r)
	if d.Key.Fingerprint != fp || d.Key.Created || d.Targets[0].Status != "added" || d.Verify == nil || d.Verify.Read {
		t.Errorf("document: key %+v targets %+v verify %+v", d.Key, d.Targets, d.Verify)
	}
	if n := accesskeyKeysOn(w.Emu, []string{"acme/api"}, fp)["acme/api"]; n != 1 {
		t.Errorf("acme/api holds the key %d times", n)
	}
}

// accesskeyKeygen runs the real ssh-keygen.
func accesskeyKeygen(w *World, args ...string) string {
	w.t.Helper()
	cmd := exec.Command("ssh-keygen", args...)
	cmd.Env = w.Env
	b, err := cmd.CombinedOutput()
	if err != nil {
		w.t.Fatalf("ssh-keygen %v: %v\n%s", args, err, b)
	}
	return string(b)
}

// TestAccessKeyAccessTokenOnRepositories: Bitbucket refuses access tokens on a
// repository's access-key writes, so add-access-key and rotate --access-keys refuse one up
// front (exit 4, before a key is made or anything written), naming an API token with
// admin:repository:bitbucket; project access keys and listings keep working with one.
func TestAccessKeyAccessTokenOnRepositories(t *testing.T) {
	w := NewWorld(t)
	repoTok, err := w.Emu.AddRepoAccessToken("acme", "api", "repository", "repository:admin")
	if err != nil {
		t.Fatal(err)
	}
	projTok, err := w.Emu.AddProjectAccessToken("acme", "OPS", "project", "project:admin", "repository")
	if err != nil {
		t.Fatal(err)
	}
	apiToken := w.Emu.DefaultAPIToken()
	useToken := func(tok string) {
		w.Unsetenv("BITBUCKET_EMAIL")
		w.Unsetenv("BITBUCKET_API_TOKEN")
		w.Setenv("BITBUCKET_ACCESS_TOKEN", tok)
	}
	useToken(repoTok)

	before := w.Snapshot()
	w.Emu.ResetRequests()
	r := w.Run("", "add-access-key", "--name", "ci", "--repo", "acme/api", "--passphrase-file", w.PassFile)
	if r.Code != 4 || !strings.Contains(r.Stderr, "bbkey: error: adding an access key to repositories needs an API token") ||
		!strings.Contains(r.Stderr, "bbkey: hint: access tokens cannot add, update or delete a repository's access keys: use an API token with scope admin:repository:bitbucket") {
		t.Fatalf("%s", r)
	}
	if strings.Contains(r.Stderr, "made access key") || strings.Contains(r.Stdout, "Host ") {
		t.Errorf("a key was made or a config printed before the refusal:\n%s", r)
	}
	if diff := DiffSnapshots(before, w.Snapshot()); diff != "" {
		t.Errorf("the refused run wrote:\n%s", diff)
	}
	for _, q := range w.Emu.Requests() {
		if q.Method != "GET" {
			t.Errorf("the refused run sent %s %s", q.Method, q.Path)
		}
	}
	if got := rotateRepoKeys(w, "api"); len(got) != 0 {
		t.Errorf("acme/api access keys: %v", got)
	}
	// Listing with the repository token works.
	w.MustRun("", "list", "--repo", "acme/api")

	// A project access key with a project token works, and so does its rotation.
	useToken(projTok)
	w.MustRun("", "add-access-key", "--name", "ops", "--project", "acme/OPS", "--passphrase-file", w.PassFile)
	if got := w.Emu.ProjectDeployKeys("acme", "OPS"); len(got) != 1 {
		t.Fatalf("project keys: %+v", got)
	}
	w.MustRun("", "rotate", "--access-keys", "--name", "ops", "--passphrase-file", w.PassFile)

	// A repository access key made with an API token is not rotated with an access token.
	w.Unsetenv("BITBUCKET_ACCESS_TOKEN")
	w.Setenv("BITBUCKET_EMAIL", bbapitest.DefaultEmail)
	w.Setenv("BITBUCKET_API_TOKEN", apiToken)
	w.MustRun("", "add-access-key", "--name", "ci", "--repo", "acme/api", "--passphrase-file", w.PassFile)
	old := rotateRepoKeys(w, "api")
	useToken(repoTok)
	before = w.Snapshot(".config/bbkey/rotate.lock")
	r = w.Run("", "rotate", "--access-keys", "--name", "ci", "--passphrase-file", w.PassFile)
	if r.Code != 4 || !strings.Contains(r.Stderr, `rotating the access key "ci" (on acme/api) needs an API token`) || !strings.Contains(r.Stderr, "admin:repository:bitbucket") {
		t.Fatalf("%s", r)
	}
	if diff := DiffSnapshots(before, w.Snapshot(".config/bbkey/rotate.lock")); diff != "" {
		t.Errorf("the refused rotation wrote:\n%s", diff)
	}
	if got := rotateRepoKeys(w, "api"); !slices.Equal(got, old) {
		t.Errorf("acme/api keys %v, want %v", got, old)
	}
}

// A host key an @revoked line in bbkey's known_hosts marks is refused by --verify before
// any key is made or added (exit 5, naming the line), with or without --write-ssh-config:
// the proof's own ssh reads only the pins, so the revocation would otherwise pass.
func TestAccessKeyVerifyRefusesRevokedHostKey(t *testing.T) {
	w := NewWorld(t)
	kh := filepath.Join(w.Home.SSHDir, "bbkey", "known_hosts")
	if err := os.MkdirAll(filepath.Dir(kh), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kh, append([]byte("@revoked * "), ssh.MarshalAuthorizedKey(w.Emu.HostPublicKey())...), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, extra := range [][]string{nil, {"--write-ssh-config"}} {
		before := w.Snapshot()
		w.Emu.ResetRequests()
		r := w.Run("", append([]string{"add-access-key", "--repo", "acme/api", "--passphrase-file", w.PassFile, "--verify"}, extra...)...)
		if r.Code != 5 || !strings.Contains(r.Stderr, "@revoked in "+kh+":1") || !strings.Contains(r.Stderr, "bbkey: hint: ") {
			t.Errorf("want exit 5 naming %s:1 with a hint\n%s", kh, r)
		}
		if d := DiffSnapshots(before, w.Snapshot()); d != "" {
			t.Errorf("files changed:\n%s", d)
		}
		if c := accesskeyCount(w.Emu.Requests()); len(c.Posts) != 0 {
			t.Errorf("keys posted: %v", c.Posts)
		}
	}
}
