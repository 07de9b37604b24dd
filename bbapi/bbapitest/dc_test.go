package bbapitest_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/bbapi/bbapitest"
)

func startDC(t *testing.T, opts ...bbapitest.Option) (*bbapitest.Server, *bbapitest.DataCenter) {
	t.Helper()
	s := bbapitest.Start(t, append([]bbapitest.Option{bbapitest.WithDataCenter(), bbapitest.WithSpecValidation(t)}, opts...)...)
	return s, s.DataCenter()
}

// dcErrors decodes Data Center's {"errors": [...]} envelope.
func dcErrors(t *testing.T, r resp) []map[string]any {
	t.Helper()
	var env struct {
		Errors []map[string]any `json:"errors"`
	}
	if err := json.Unmarshal(r.body, &env); err != nil || len(env.Errors) == 0 {
		t.Fatalf("not a Data Center error envelope (%d): %s", r.status, r.body)
	}
	return env.Errors
}

// The subset in testdata is the shared spec's own text for every path bbkey uses, with
// every schema they reference, unchanged (when shared/ sits beside the repository).
func TestDCSpecSubsetIsCurrent(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", "bitbucket", "openapi-datacenter-9.2.json"))
	if err != nil {
		t.Skipf("no shared spec beside the repository: %v", err)
	}
	var full, sub struct {
		OpenAPI    string                     `json:"openapi"`
		Servers    any                        `json:"servers"`
		Paths      map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &full); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(bbapitest.DCSpecJSON(), &sub); err != nil {
		t.Fatal(err)
	}
	same := func(a, b json.RawMessage) bool {
		var x, y any
		return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
	}
	if sub.OpenAPI != full.OpenAPI || !reflect.DeepEqual(sub.Servers, full.Servers) {
		t.Errorf("openapi or servers differ from the shared spec")
	}
	var paths []string
	for p, op := range sub.Paths {
		paths = append(paths, p)
		if !same(op, full.Paths[p]) {
			t.Errorf("path %s differs from the shared spec: regenerate testdata/openapi-datacenter-keys.json", p)
		}
	}
	slices.Sort(paths)
	want := slices.Sorted(slices.Values(bbapitest.DCSpecPaths))
	if !slices.Equal(paths, want) {
		t.Errorf("subset paths %v, want %v", paths, want)
	}
	if len(sub.Components.Schemas) == 0 {
		t.Fatal("no schemas in the subset")
	}
	for name, sch := range sub.Components.Schemas {
		if !same(sch, full.Components.Schemas[name]) {
			t.Errorf("schema %s differs from the shared spec", name)
		}
	}
	for _, ref := range []string{"RestSshKey", "RestSshAccessKey", "RestSshSettings", "RestErrorMessage", "RestRepository"} {
		if _, ok := sub.Components.Schemas[ref]; !ok {
			t.Errorf("schema %s missing from the subset", ref)
		}
	}
}

// The REST side: the real error shape and 401s, paging, access keys, SSH settings, rate
// limit, and the id-less DELETE that deletes every key.
func TestDCREST(t *testing.T) {
	clock := newFakeClock()
	s, dc := startDC(t, bbapitest.WithClock(clock.Now))
	api := s.APIURL()
	tok := bearer(dc.DefaultToken())

	r := call(t, "GET", api+"/api/latest/application-properties", tok, nil)
	wantStatus(t, r, 200)
	if got := r.header.Get("X-AUSERNAME"); got != bbapitest.DCDefaultUser {
		t.Errorf("X-AUSERNAME %q", got)
	}

	// A wrong token and a token without the permission are both 401, told apart by the
	// exception.
	r = call(t, "GET", api+"/ssh/latest/keys", bearer("BBDC-wrong"), nil)
	wantStatus(t, r, 401)
	if e := dcErrors(t, r); !strings.HasSuffix(e[0]["exceptionName"].(string), "IncorrectPasswordAuthenticationException") {
		t.Errorf("wrong token: %v", e)
	}
	readTok, err := dc.AddRepoToken("OPS", "api", bbapitest.PermRead)
	if err != nil {
		t.Fatal(err)
	}
	r = call(t, "GET", api+"/keys/latest/projects/OPS/repos/api/ssh", bearer(readTok), nil)
	wantStatus(t, r, 401)
	if e := dcErrors(t, r); e[0]["exceptionName"] != "com.atlassian.bitbucket.AuthorisationException" || e[0]["context"] != nil {
		t.Errorf("missing permission: %v", e)
	}
	r = call(t, "GET", api+"/keys/latest/projects/OPS/repos/web/ssh", bearer(readTok), nil)
	wantStatus(t, r, 404) // a repository token sees no other repository

	// Paging: start/limit/isLastPage/nextPageStart.
	for i := range 5 {
		pub, _ := newPub(t, "k")
		wantStatus(t, call(t, "POST", api+"/keys/latest/projects/OPS/repos/api/ssh", tok, map[string]any{
			"key": map[string]any{"text": pub, "label": "ci-" + string(rune('a'+i))}, "permission": "REPO_READ"}), 201)
	}
	r = call(t, "GET", api+"/keys/latest/projects/OPS/repos/api/ssh?start=0&limit=2", tok, nil)
	wantStatus(t, r, 200)
	m := r.json(t)
	if m["isLastPage"] != false || m["nextPageStart"] != float64(2) || len(m["values"].([]any)) != 2 {
		t.Errorf("first page: %s", r.body)
	}
	r = call(t, "GET", api+"/keys/latest/projects/OPS/repos/api/ssh?start=4&limit=2", tok, nil)
	if m := r.json(t); m["isLastPage"] != true || m["nextPageStart"] != nil || len(m["values"].([]any)) != 1 {
		t.Errorf("last page: %s", r.body)
	}

	// A write permission for a project, and nothing else.
	pub, _ := newPub(t, "proj")
	r = call(t, "POST", api+"/keys/latest/projects/OPS/ssh", tok, map[string]any{"key": map[string]any{"text": pub}, "permission": "REPO_WRITE"})
	wantStatus(t, r, 400)
	wantStatus(t, call(t, "POST", api+"/keys/latest/projects/OPS/ssh", tok, map[string]any{"key": map[string]any{"text": pub}, "permission": "PROJECT_WRITE"}), 201)

	// A user key is one of a kind: 409 the second time, on any user or as an access key.
	ukey, _ := newPub(t, "me")
	wantStatus(t, call(t, "POST", api+"/ssh/latest/keys", tok, map[string]any{"text": ukey, "label": "bbkey:test", "expiryDays": 30}), 201)
	r = call(t, "POST", api+"/ssh/latest/keys", tok, map[string]any{"text": ukey})
	wantStatus(t, r, 409)
	if e := dcErrors(t, r); e[0]["message"] != "The SSH key already exists on the system." {
		t.Errorf("duplicate: %v", e)
	}
	wantStatus(t, call(t, "POST", api+"/keys/latest/projects/OPS/repos/web/ssh", tok, map[string]any{"key": map[string]any{"text": ukey}, "permission": "REPO_READ"}), 409)

	// The SSH settings vouch for the SSH server's real host key.
	r = call(t, "GET", api+"/ssh/latest/settings", tok, nil)
	wantStatus(t, r, 200)
	fp := r.json(t)["fingerprint"].(map[string]any)
	if "SHA256:"+fp["value"].(string) != ssh.FingerprintSHA256(s.HostPublicKey()) || fp["algorithm"] != "SHA256" {
		t.Errorf("settings fingerprint %v, host key %s", fp, ssh.FingerprintSHA256(s.HostPublicKey()))
	}

	// The token bucket: 429 with Retry-After, and back after the wait.
	dc.SetRateLimit(2, 0.5)
	for range 2 {
		wantStatus(t, call(t, "GET", api+"/ssh/latest/keys", tok, nil), 200)
	}
	r = call(t, "GET", api+"/ssh/latest/keys", tok, nil)
	wantStatus(t, r, 429)
	if r.header.Get("Retry-After") != "2" {
		t.Errorf("Retry-After %q", r.header.Get("Retry-After"))
	}
	dcErrors(t, r)
	clock.Advance(2 * time.Second)
	wantStatus(t, call(t, "GET", api+"/ssh/latest/keys", tok, nil), 200)
	dc.SetRateLimit(0, 0)

	// The danger the client must never trigger is real here: DELETE without an id
	// deletes every key of the user.
	second, _ := newPub(t, "second")
	wantStatus(t, call(t, "POST", api+"/ssh/latest/keys", tok, map[string]any{"text": second}), 201)
	if n := len(dc.UserKeys(bbapitest.DCDefaultUser)); n != 2 {
		t.Fatalf("%d user keys before, want 2", n)
	}
	wantStatus(t, call(t, "DELETE", api+"/ssh/latest/keys", tok, nil), 204)
	if n := len(dc.UserKeys(bbapitest.DCDefaultUser)); n != 0 {
		t.Errorf("%d user keys after an id-less DELETE, want 0", n)
	}

	// --all: REPO_ADMIN lists what the credential administers, personal included.
	r = call(t, "GET", api+"/api/latest/repos?permission=REPO_ADMIN&limit=100", tok, nil)
	var names []string
	for _, v := range r.json(t)["values"].([]any) {
		rv := v.(map[string]any)
		names = append(names, rv["project"].(map[string]any)["key"].(string)+"/"+rv["slug"].(string))
	}
	want := []string{"OPS/api", "OPS/web", "OPS/infra", "~ADA/notes"}
	if !slices.Equal(names, want) {
		t.Errorf("administered repositories %v, want %v", names, want)
	}
	r = call(t, "GET", api+"/api/latest/repos?permission=REPO_ADMIN", bearer(readTok), nil)
	if n := len(r.json(t)["values"].([]any)); n != 0 {
		t.Errorf("a read token administers %d repositories", n)
	}
}

// Access keys over real SSH with real git: a read key clones and cannot push, a write key
// pushes, a project key reaches every repository of its project, and a user key reaches
// a personal repository by its ~user URL.
func TestDCGitOverSSH(t *testing.T) {
	s, dc := startDC(t)
	e := newSSHEnv(t, s)
	tok := bearer(dc.DefaultToken())
	api := s.APIURL()
	readKey, readPub := e.keygen("read")
	writeKey, writePub := e.keygen("write")
	projKey, projPub := e.keygen("proj")
	userKey, userPub := e.keygen("user")
	wantStatus(t, call(t, "POST", api+"/keys/latest/projects/OPS/repos/api/ssh", tok, map[string]any{"key": map[string]any{"text": readPub}, "permission": "REPO_READ"}), 201)
	wantStatus(t, call(t, "POST", api+"/keys/latest/projects/OPS/repos/api/ssh", tok, map[string]any{"key": map[string]any{"text": writePub}, "permission": "REPO_WRITE"}), 201)
	wantStatus(t, call(t, "POST", api+"/keys/1.0/projects/OPS/ssh", tok, map[string]any{"key": map[string]any{"text": projPub}, "permission": "PROJECT_READ"}), 201)
	wantStatus(t, call(t, "POST", api+"/ssh/latest/keys", tok, map[string]any{"text": userPub}), 201)

	work := t.TempDir()
	apiURL := dc.SSHCloneURL("OPS", "api")
	if !strings.HasSuffix(apiURL, "/ops/api.git") || !strings.HasPrefix(apiURL, "ssh://git@127.0.0.1:") {
		t.Fatalf("clone url %q", apiURL)
	}
	if _, se, err := e.git(readKey, work, "clone", "-q", apiURL, "api"); err != nil {
		t.Fatalf("clone with the read key: %v\n%s", err, se)
	}
	clone := filepath.Join(work, "api")
	if err := os.WriteFile(filepath.Join(clone, "new.txt"), []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"add", "new.txt"}, {"commit", "-q", "-m", "c"}} {
		if _, se, err := e.git(readKey, clone, args...); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, se)
		}
	}
	_, se, err := e.git(readKey, clone, "push", "-q", "origin", "main")
	if err == nil || !strings.Contains(se, "not permitted to push") {
		t.Fatalf("push with the read key: %v\n%s", err, se)
	}
	if _, se, err := e.git(writeKey, clone, "push", "-q", "origin", "main"); err != nil {
		t.Fatalf("push with the write key: %v\n%s", err, se)
	}
	dir, err := dc.RepoDir("OPS", "api")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("git", "--git-dir="+dir, "log", "-1", "--format=%s", "main").Output(); err != nil || strings.TrimSpace(string(out)) != "c" {
		t.Errorf("the bare repository's main after the push: %q, %v", out, err)
	}

	// The read key is for api alone; the project key reads web too.
	if _, se, err := e.git(readKey, work, "clone", "-q", dc.SSHCloneURL("OPS", "web"), "web-r"); err == nil || !strings.Contains(se, "Repository not found") {
		t.Errorf("clone of web with api's key: %v\n%s", err, se)
	}
	if _, se, err := e.git(projKey, work, "clone", "-q", dc.SSHCloneURL("OPS", "web"), "web"); err != nil {
		t.Errorf("clone of web with the project key: %v\n%s", err, se)
	}
	personal := dc.SSHCloneURL("~ada", bbapitest.DCDefaultPersonalRepo)
	if !strings.HasSuffix(personal, "/~ada/notes.git") {
		t.Fatalf("personal clone url %q", personal)
	}
	if _, se, err := e.git(userKey, work, "clone", "-q", personal, "notes"); err != nil {
		t.Errorf("clone of the personal repository with the user key: %v\n%s", err, se)
	}
	if _, se, err := e.git(projKey, work, "clone", "-q", personal, "notes-p"); err == nil {
		t.Errorf("the project key cloned a personal repository\n%s", se)
	}

	// Revoking the grant ends the access.
	keys := dc.RepoAccessKeys("OPS", "api")
	if len(keys) != 2 || keys[0].Permission != "REPO_READ" || keys[1].Permission != "REPO_WRITE" {
		t.Fatalf("access keys of OPS/api: %+v", keys)
	}
	wantStatus(t, call(t, "DELETE", api+"/keys/latest/projects/OPS/repos/api/ssh/"+strconv.Itoa(keys[0].ID), tok, nil), 204)
	if _, se, err := e.git(readKey, work, "ls-remote", apiURL); err == nil {
		t.Errorf("ls-remote after revoking the read key succeeded\n%s", se)
	}
}

// In Data Center mode the validator checks against the Data Center spec, and is not a
// formality: requests that break it are reported.
func TestDCSpecValidationReportsViolations(t *testing.T) {
	rec := &recordingTB{TB: t}
	s := bbapitest.Start(t, bbapitest.WithDataCenter(), bbapitest.WithSpecValidation(rec))
	tok := bearer(s.DataCenter().DefaultToken())
	api := s.APIURL()
	call(t, "GET", api+"/ssh/latest/keys?start=0&limit=10", tok, nil)
	call(t, "GET", api+"/ssh/1.0/settings", tok, nil)
	if len(rec.errs) != 0 {
		t.Fatalf("valid calls were reported: %v", rec.errs)
	}
	call(t, "GET", api+"/api/latest/repos?permission=REPO_BOSS", tok, nil)
	if !rec.reported("request GET /rest/api/latest/repos violates") {
		t.Errorf("a permission outside the enum not reported: %v", rec.errs)
	}
	call(t, "POST", api+"/ssh/latest/keys", tok, map[string]any{"text": 5})
	if !rec.reported("request POST /rest/ssh/latest/keys violates") {
		t.Errorf("a number for text not reported: %v", rec.errs)
	}
	call(t, "GET", api+"/ssh/latest/nonexistent", tok, nil)
	if !rec.reported("/rest/ssh/latest/nonexistent is not an operation") {
		t.Errorf("unknown operation not reported: %v", rec.errs)
	}
}

// An enforced maximum expiry fills in and caps expiryDays, and an expired key stops
// working over SSH.
func TestDCKeyExpiry(t *testing.T) {
	clock := newFakeClock()
	s, dc := startDC(t, bbapitest.WithClock(clock.Now))
	e := newSSHEnv(t, s)
	tok := bearer(dc.DefaultToken())
	dc.SetMaxExpiryDays(30)
	key, pub := e.keygen("expiring")
	r := call(t, "POST", s.APIURL()+"/keys/latest/projects/OPS/repos/api/ssh", tok, map[string]any{"key": map[string]any{"text": pub, "expiryDays": 60}, "permission": "REPO_READ"})
	wantStatus(t, r, 400)
	if e := dcErrors(t, r); e[0]["context"] != "expiryDays" {
		t.Errorf("too long an expiry: %v", e)
	}
	r = call(t, "POST", s.APIURL()+"/keys/latest/projects/OPS/repos/api/ssh", tok, map[string]any{"key": map[string]any{"text": pub}, "permission": "REPO_READ"})
	wantStatus(t, r, 201)
	if days := r.json(t)["key"].(map[string]any)["expiryDays"]; days != float64(30) {
		t.Errorf("expiryDays %v, want the enforced 30", days)
	}
	url := dc.SSHCloneURL("OPS", "api")
	if _, se, err := e.git(key, t.TempDir(), "ls-remote", url); err != nil {
		t.Fatalf("ls-remote with a fresh key: %v\n%s", err, se)
	}
	if k := dc.RepoAccessKeys("OPS", "api"); len(k) != 1 || k[0].LastAuthenticated == nil {
		t.Errorf("lastAuthenticated not recorded: %+v", k)
	}
	clock.Advance(30 * 24 * time.Hour)
	if _, se, err := e.git(key, t.TempDir(), "ls-remote", url); err == nil {
		t.Errorf("ls-remote with an expired key succeeded\n%s", se)
	}
}

// DenySSHNewKeys works in Data Center mode: keys registered before keep working, a key
// registered after fails over SSH until AllowSSHNewKeys.
func TestDCDenySSHNewKeys(t *testing.T) {
	s, dc := startDC(t)
	e := newSSHEnv(t, s)
	tok := bearer(dc.DefaultToken())
	oldKey, oldPub := e.keygen("old")
	newKey, newPub := e.keygen("new")
	wantStatus(t, call(t, "POST", s.APIURL()+"/ssh/latest/keys", tok, map[string]any{"text": oldPub}), 201)
	s.DenySSHNewKeys()
	wantStatus(t, call(t, "POST", s.APIURL()+"/ssh/latest/keys", tok, map[string]any{"text": newPub}), 201)
	url := dc.SSHCloneURL("OPS", "api")
	if _, se, err := e.git(oldKey, t.TempDir(), "ls-remote", url); err != nil {
		t.Errorf("the old key stopped working: %v\n%s", err, se)
	}
	if _, _, err := e.git(newKey, t.TempDir(), "ls-remote", url); err == nil {
		t.Error("a key registered after DenySSHNewKeys worked")
	}
	s.AllowSSHNewKeys()
	if _, se, err := e.git(newKey, t.TempDir(), "ls-remote", url); err != nil {
		t.Errorf("after AllowSSHNewKeys: %v\n%s", err, se)
	}
}
