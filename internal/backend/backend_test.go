package backend_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/bbapi/dc"
	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/hostkeys"
	"github.com/bbkey/bbkey/internal/remote"
	"github.com/bbkey/bbkey/internal/settings"
)

var now = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func newKey(t *testing.T) (text, fp string) {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k))), ssh.FingerprintSHA256(k)
}

func cloudBackend(t *testing.T) (*bbapitest.Server, backend.Backend) {
	t.Helper()
	emu := bbapitest.Start(t, bbapitest.WithSpecValidation(t))
	c, err := bbapi.NewClient(emu.APIURL(), &bbapi.APIToken{Email: bbapitest.DefaultEmail, Token: emu.DefaultAPIToken()}, bbapi.WithMaxWait(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	s := settings.Settings{SSHHost: settings.DefaultSSHHost, SSHEndpoint: emu.SSHEndpoint(), SSHHostKeys: emu.HostKeyFile()}
	return emu, backend.NewCloud(c, s)
}

func dcBackend(t *testing.T, opts backend.DataCenterOptions) (*bbapitest.Server, backend.Backend) {
	t.Helper()
	emu := bbapitest.Start(t, bbapitest.WithDataCenter(), bbapitest.WithSpecValidation(t))
	return emu, dcBackendFor(t, emu, emu.DataCenter().DefaultToken(), opts)
}

func dcBackendFor(t *testing.T, emu *bbapitest.Server, token string, opts backend.DataCenterOptions) backend.Backend {
	t.Helper()
	c, err := dc.NewClient(emu.DataCenter().ServerURL(), dc.Token{Token: token}, bbapi.WithMaxWait(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if opts.Now == nil {
		opts.Now = func() time.Time { return now }
	}
	return backend.NewDataCenter(c, opts)
}

func TestCloudAccountKeys(t *testing.T) {
	emu, b := cloudBackend(t)
	ctx := t.Context()
	if b.Kind() != backend.Cloud || b.Server() != "" {
		t.Fatalf("kind %s, server %q", b.Kind(), b.Server())
	}
	a, err := b.Whoami(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != bbapitest.DefaultUUID || a.AccountID != bbapitest.DefaultAccountID || a.Nickname != bbapitest.DefaultNickname || a.Service {
		t.Errorf("account = %+v", a)
	}
	text, fp := newKey(t)
	expires := now.Add(30 * 24 * time.Hour)
	k, err := b.AddAccountKey(ctx, a, backend.NewKey{Text: text, Label: "bbkey:test:2026-11-22", Expires: expires})
	if err != nil {
		t.Fatal(err)
	}
	if k.Fingerprint != fp || k.ID == "" || k.Label != "bbkey:test:2026-11-22" || !k.Expires.Equal(expires) {
		t.Errorf("added key = %+v", k)
	}
	// A second add of the same key is a duplicate; with OrGet it is the same key.
	if _, err := b.AddAccountKey(ctx, a, backend.NewKey{Text: text, Label: "again"}); !bbapi.IsDuplicateKey(err) {
		t.Errorf("re-add: %v, want a duplicate", err)
	}
	again, err := b.AddAccountKey(ctx, a, backend.NewKey{Text: text, Label: "again", OrGet: true})
	if err != nil || again.ID != k.ID {
		t.Errorf("re-add with OrGet = %+v, %v", again, err)
	}
	found, err := b.FindAccountKey(ctx, a, fp)
	if err != nil || found == nil || found.ID != k.ID {
		t.Fatalf("find = %+v, %v", found, err)
	}
	all, err := b.AccountKeys(ctx, a)
	if err != nil || len(all) != 1 {
		t.Fatalf("keys = %+v, %v", all, err)
	}
	// Deleted by the id alone, as rotate has it from the state.
	if err := b.DeleteAccountKey(ctx, a, backend.Key{ID: k.ID}); err != nil {
		t.Fatal(err)
	}
	if n := len(emu.UserKeys(bbapitest.DefaultAccountID)); n != 0 {
		t.Errorf("%d keys left", n)
	}
	if err := b.DeleteAccountKey(ctx, a, backend.Key{}); err == nil {
		t.Error("a key without an id was deleted")
	}
}

func TestCloudAccessKeys(t *testing.T) {
	emu, b := cloudBackend(t)
	ctx := t.Context()
	repo, err := b.ParsePlace(backend.Repo, "acme/api")
	if err != nil || repo.String() != "acme/api" {
		t.Fatalf("repo = %v, %v", repo, err)
	}
	proj, err := b.ParsePlace(backend.Project, "acme/OPS")
	if err != nil || proj.Owner != "acme" || proj.Slug != "OPS" {
		t.Fatalf("project = %+v, %v", proj, err)
	}
	if _, err := b.ParsePlace(backend.Repo, "noslash"); err == nil || len(apierr.Hints(err)) == 0 {
		t.Errorf("a malformed repository: %v (hints %q)", err, apierr.Hints(err))
	}
	text, fp := newKey(t)
	// Cloud's access keys never write: refused before anything is sent.
	emu.ResetRequests()
	_, err = b.AddAccessKey(ctx, repo, backend.NewKey{Text: text, Label: "ci", Write: true})
	if !errors.Is(err, backend.ErrWriteUnsupported) || apierr.ExitCode(err) != errkind.ExitUsage {
		t.Errorf("--write on Cloud: %v (exit %d)", err, apierr.ExitCode(err))
	}
	if n := len(emu.Requests()); n != 0 {
		t.Errorf("%d requests sent for a refused write key", n)
	}
	for _, p := range []backend.Place{repo, proj} {
		k, err := b.AddAccessKey(ctx, p, backend.NewKey{Text: text, Label: "ci"})
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if k.Fingerprint != fp || k.Write || k.ID == "" {
			t.Errorf("%s: key = %+v", p, k)
		}
		found, err := b.FindAccessKey(ctx, p, fp)
		if err != nil || found == nil || found.ID != k.ID {
			t.Errorf("%s: find = %+v, %v", p, found, err)
		}
		if err := b.DeleteAccessKey(ctx, p, backend.Key{ID: k.ID}); err != nil {
			t.Fatalf("%s: delete: %v", p, err)
		}
		left, err := b.AccessKeys(ctx, p)
		if err != nil || len(left) != 0 {
			t.Errorf("%s: after delete %+v, %v", p, left, err)
		}
	}
}

func TestCloudSSHAndURLs(t *testing.T) {
	emu, b := cloudBackend(t)
	s, err := b.SSH(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if s.Host != settings.DefaultSSHHost || s.Endpoint != emu.SSHEndpoint() || s.Port != 0 || len(s.Pins.Keys) != 1 ||
		ssh.FingerprintSHA256(s.Pins.Keys[0]) != ssh.FingerprintSHA256(emu.HostPublicKey()) {
		t.Errorf("ssh = %+v", s)
	}
	for name, want := range map[string]string{"": "git@ssh.bitbucket.org:acme/api.git", "work": "git@ssh.bitbucket.org-work:acme/api.git"} {
		res := b.Remotes(s, name).Rewrite("https://ada:secret@bitbucket.org/acme/api.git")
		if res.Status != remote.NeedsRewrite || res.New != want || !res.Secret {
			t.Errorf("name %q: %+v, want %s", name, res, want)
		}
	}
	if h := b.CredentialHosts().Hosts; !strings.Contains(strings.Join(h, " "), "bitbucket.org") {
		t.Errorf("credential hosts %q", h)
	}
}

func TestDataCenterAccountKeys(t *testing.T) {
	emu, b := dcBackend(t, backend.DataCenterOptions{})
	ctx := t.Context()
	if b.Kind() != backend.DataCenter || b.Server() != emu.DataCenter().ServerURL() {
		t.Fatalf("kind %s, server %q", b.Kind(), b.Server())
	}
	a, err := b.Whoami(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != bbapitest.DCDefaultUser || a.DisplayName != bbapitest.DCDefaultDisplayName || a.Email != bbapitest.DCDefaultEmail || a.Service || a.AccountID == "" {
		t.Errorf("account = %+v", a)
	}
	text, fp := newKey(t)
	// 9.5 days from now is 10 whole days.
	k, err := b.AddAccountKey(ctx, a, backend.NewKey{Text: text, Label: "bbkey:ada:2026-11-22", Expires: now.Add(228 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	keys := emu.DataCenter().UserKeys(bbapitest.DCDefaultUser)
	if len(keys) != 1 || keys[0].ExpiryDays != 10 || keys[0].Label != "bbkey:ada:2026-11-22" {
		t.Fatalf("server keys = %+v", keys)
	}
	if k.Fingerprint != fp || k.ID == "" || k.Expires.IsZero() {
		t.Errorf("added key = %+v", k)
	}
	if _, err := b.AddAccountKey(ctx, a, backend.NewKey{Text: text}); !bbapi.IsDuplicateKey(err) {
		t.Errorf("re-add: %v, want a duplicate", err)
	}
	found, err := b.FindAccountKey(ctx, a, fp)
	if err != nil || found == nil || found.ID != k.ID {
		t.Fatalf("find = %+v, %v", found, err)
	}
	// No id, or one that is not a positive integer, never reaches the server: a DELETE of
	// the collection would remove every key of the user.
	emu.ResetRequests()
	for _, id := range []string{"", "0", "-3", "abc"} {
		if err := b.DeleteAccountKey(ctx, a, backend.Key{ID: id}); !errors.Is(err, dc.ErrNoKeyID) {
			t.Errorf("delete id %q: %v, want ErrNoKeyID", id, err)
		}
	}
	if reqs := emu.Requests(); len(reqs) != 0 {
		t.Errorf("requests sent for keys without an id: %+v", reqs)
	}
	if err := b.DeleteAccountKey(ctx, a, *found); err != nil {
		t.Fatal(err)
	}
	if n := len(emu.DataCenter().UserKeys(bbapitest.DCDefaultUser)); n != 0 {
		t.Errorf("%d keys left", n)
	}
	for _, r := range emu.Requests() {
		if r.Method == "DELETE" && strings.HasSuffix(strings.TrimRight(r.Path, "/"), "/keys") {
			t.Errorf("sent %s %s", r.Method, r.Path)
		}
	}
}

func TestDataCenterServerEnforcedExpiry(t *testing.T) {
	emu, b := dcBackend(t, backend.DataCenterOptions{})
	emu.DataCenter().SetMaxExpiryDays(90)
	a, err := b.Whoami(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	text, _ := newKey(t)
	k, err := b.AddAccountKey(t.Context(), a, backend.NewKey{Text: text, Label: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if k.Expires.IsZero() {
		t.Errorf("the server's enforced expiry is not on the key: %+v", k)
	}
}

func TestDataCenterServiceUser(t *testing.T) {
	emu := bbapitest.Start(t, bbapitest.WithDataCenter(), bbapitest.WithSpecValidation(t))
	tok, err := emu.DataCenter().AddProjectToken(bbapitest.DCDefaultProject, bbapitest.PermAdmin)
	if err != nil {
		t.Fatal(err)
	}
	b := dcBackendFor(t, emu, tok, backend.DataCenterOptions{})
	a, err := b.Whoami(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !a.Service {
		t.Errorf("a project token's user is not a service user: %+v", a)
	}
	// Its own SSH keys: Data Center's 401 for a missing permission, and the hint names it.
	text, _ := newKey(t)
	_, err = b.AddAccountKey(t.Context(), a, backend.NewKey{Text: text})
	if p, ok := dc.IsPermission(err); !ok || p != dc.LicensedUser {
		t.Fatalf("add with a project token: %v", err)
	}
	if code, hints := apierr.ExitCode(err), strings.Join(apierr.Hints(err), "\n"); code != errkind.ExitAuth || !strings.Contains(hints, "personal HTTP access token") {
		t.Errorf("exit %d, hints %q", code, hints)
	}
	// A repository's access keys need REPO_ADMIN; a read token lacks it.
	readTok, err := emu.DataCenter().AddRepoToken(bbapitest.DCDefaultProject, "api", bbapitest.PermRead)
	if err != nil {
		t.Fatal(err)
	}
	rb := dcBackendFor(t, emu, readTok, backend.DataCenterOptions{})
	repo, _ := rb.ParsePlace(backend.Repo, "OPS/api")
	_, err = rb.AddAccessKey(t.Context(), repo, backend.NewKey{Text: text})
	if code, hints := apierr.ExitCode(err), strings.Join(apierr.Hints(err), "\n"); code != errkind.ExitAuth || !strings.Contains(hints, "REPO_ADMIN") {
		t.Errorf("add access key with a read token: %v: exit %d, hints %q", err, code, hints)
	}
}

func TestDataCenterAccessKeys(t *testing.T) {
	emu, b := dcBackend(t, backend.DataCenterOptions{})
	ctx := t.Context()
	for ref, want := range map[string]backend.Place{
		"OPS/api":    {Kind: backend.Repo, Owner: "OPS", Slug: "api"},
		"~ada/notes": {Kind: backend.Repo, Owner: "~ada", Slug: "notes"},
	} {
		if p, err := b.ParsePlace(backend.Repo, ref); err != nil || p != want || p.String() != ref {
			t.Errorf("ParsePlace(repo, %q) = %+v, %v", ref, p, err)
		}
	}
	if p, err := b.ParsePlace(backend.Project, "OPS"); err != nil || p.String() != "OPS" || p.Slug != "OPS" {
		t.Errorf("ParsePlace(project, OPS) = %+v, %v", p, err)
	}
	for _, bad := range []struct {
		kind backend.PlaceKind
		ref  string
	}{{backend.Repo, "api"}, {backend.Repo, "/api"}, {backend.Repo, "OPS/"}, {backend.Repo, "OPS/a/b"}, {backend.Repo, "~/api"}, {backend.Repo, ""}, {backend.Project, "acme/OPS"}} {
		if _, err := b.ParsePlace(bad.kind, bad.ref); err == nil || len(apierr.Hints(err)) == 0 {
			t.Errorf("ParsePlace(%s, %q): %v, want an error with a hint", bad.kind, bad.ref, err)
		}
	}
	repo, _ := b.ParsePlace(backend.Repo, "OPS/api")
	personal, _ := b.ParsePlace(backend.Repo, "~ada/notes")
	proj, _ := b.ParsePlace(backend.Project, "OPS")
	text, fp := newKey(t)
	for _, tc := range []struct {
		p     backend.Place
		write bool
		perm  string
	}{
		{repo, false, "REPO_READ"},
		{personal, true, "REPO_WRITE"},
		{proj, true, "PROJECT_WRITE"},
	} {
		k, err := b.AddAccessKey(ctx, tc.p, backend.NewKey{Text: text, Label: "ci", Write: tc.write})
		if err != nil {
			t.Fatalf("%s: %v", tc.p, err)
		}
		if k.Fingerprint != fp || k.Write != tc.write || k.Permission != tc.perm {
			t.Errorf("%s: key = %+v, want %s", tc.p, k, tc.perm)
		}
		found, err := b.FindAccessKey(ctx, tc.p, fp)
		if err != nil || found == nil || found.ID != k.ID || found.Permission != tc.perm {
			t.Errorf("%s: find = %+v, %v", tc.p, found, err)
		}
	}
	if got := emu.DataCenter().RepoAccessKeys("OPS", "api"); len(got) != 1 || got[0].Permission != "REPO_READ" {
		t.Errorf("server: OPS/api keys %+v", got)
	}
	if err := b.DeleteAccessKey(ctx, proj, backend.Key{}); !errors.Is(err, dc.ErrNoKeyID) {
		t.Errorf("delete without id: %v", err)
	}
	keys, err := b.AccessKeys(ctx, proj)
	if err != nil || len(keys) != 1 {
		t.Fatalf("project keys %+v, %v", keys, err)
	}
	if err := b.DeleteAccessKey(ctx, proj, keys[0]); err != nil {
		t.Fatal(err)
	}
	if got := emu.DataCenter().ProjectAccessKeys("OPS"); len(got) != 0 {
		t.Errorf("project keys left: %+v", got)
	}
}

func TestDataCenterSSH(t *testing.T) {
	emu, b := dcBackend(t, backend.DataCenterOptions{})
	s, err := b.SSH(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := settings.SplitEndpoint(emu.SSHEndpoint())
	if s.Host != host || s.Port != port || s.Endpoint != emu.SSHEndpoint() {
		t.Errorf("ssh = %+v, want %s", s, emu.SSHEndpoint())
	}
	if len(s.Pins.Keys) != 1 || ssh.FingerprintSHA256(s.Pins.Keys[0]) != ssh.FingerprintSHA256(emu.HostPublicKey()) || s.Pins.Alias != host ||
		!strings.HasSuffix(s.Pins.Source, "/rest/ssh/latest/settings") {
		t.Errorf("pins = %+v", s.Pins)
	}
	res := b.Remotes(s, "").Rewrite("https://ada:s3cret@" + strings.TrimPrefix(emu.DataCenter().ServerURL(), "http://") + "/scm/~ada/notes.git")
	if want := "ssh://git@" + emu.SSHEndpoint() + "/~ada/notes.git"; res.Status != remote.NeedsRewrite || res.New != want || !res.Secret {
		t.Errorf("rewrite = %+v, want %s", res, want)
	}
	if res := b.Remotes(s, "").Rewrite("https://bitbucket.org/acme/api.git"); res.Status != remote.NotBitbucket {
		t.Errorf("a Cloud remote on Data Center: %+v", res)
	}
}

func TestDataCenterHostKeyMismatch(t *testing.T) {
	emu, b := dcBackend(t, backend.DataCenterOptions{})
	emu.DataCenter().SetReportedHostKeyFingerprint("SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	s, err := b.SSH(t.Context())
	var he *backend.HostKeyError
	if !errors.As(err, &he) || s != nil {
		t.Fatalf("ssh = %+v, %v; want a *HostKeyError", s, err)
	}
	if apierr.ExitCode(err) != errkind.ExitVerify || len(apierr.Hints(err)) == 0 {
		t.Errorf("exit %d, hints %q", apierr.ExitCode(err), apierr.Hints(err))
	}
	seen := ssh.FingerprintSHA256(emu.HostPublicKey())
	if msg := err.Error(); !strings.Contains(msg, seen) || !strings.Contains(msg, "AAAAAAAA") || !strings.Contains(msg, "nothing was pinned") {
		t.Errorf("error %q does not name both fingerprints", msg)
	}

	// A host key file given by the user (--ssh-host-keys) is trusted instead.
	file := filepath.Join(t.TempDir(), "host.pub")
	if err := os.WriteFile(file, ssh.MarshalAuthorizedKey(emu.HostPublicKey()), 0o644); err != nil {
		t.Fatal(err)
	}
	b2 := dcBackendFor(t, emu, emu.DataCenter().DefaultToken(), backend.DataCenterOptions{SSHHostKeys: file})
	s, err = b2.SSH(t.Context())
	if err != nil || len(s.Pins.Keys) != 1 || s.Pins.Source != file {
		t.Errorf("with --ssh-host-keys: %+v, %v", s, err)
	}
}

// Rewriting one Bitbucket's pins keeps the others'.
func TestHostKeyRenderKeepsOtherAliases(t *testing.T) {
	dir := t.TempDir()
	path := hostkeys.Path(dir)
	cloud := hostkeys.Pins{Alias: settings.DefaultSSHHost, Keys: hostkeys.Builtin(), Builtin: true, Source: hostkeys.CheckURL}
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	k, _ := ssh.NewPublicKey(pub)
	dcPins := hostkeys.Pins{Alias: "git.example.com", Keys: []ssh.PublicKey{k}, Source: "https://git.example.com/rest/ssh/latest/settings"}
	if _, err := hostkeys.WriteAll(t.Context(), path, []hostkeys.Pins{cloud, dcPins}, false); err != nil {
		t.Fatal(err)
	}
	// Rewriting Cloud's pins alone (as rotate's proof does) keeps the server's.
	if _, err := hostkeys.Write(t.Context(), path, cloud, false); err != nil {
		t.Fatal(err)
	}
	got, err := hostkeys.Load(path, "git.example.com")
	if err != nil || len(got) != 1 {
		t.Fatalf("server pins after a Cloud write: %v, %v", got, err)
	}
	if got, _ := hostkeys.Load(path, settings.DefaultSSHHost); len(got) != len(hostkeys.Builtin()) {
		t.Errorf("cloud pins: %d", len(got))
	}
	b, _ := os.ReadFile(path)
	if want := hostkeys.RenderAll([]hostkeys.Pins{cloud, dcPins}); string(b) != string(want) {
		t.Errorf("file:\n%s\nwant:\n%s", b, want)
	}
}

// --ssh-endpoint on Data Center: ssh connects there, and remotes name its port (a URL's
// port wins over the Host block's); the host key is still checked against the settings.
func TestDataCenterSSHEndpointOverride(t *testing.T) {
	emu := bbapitest.Start(t, bbapitest.WithDataCenter(), bbapitest.WithSpecValidation(t))
	_, port, _ := settings.SplitEndpoint(emu.SSHEndpoint())
	ep := "localhost:" + strconv.Itoa(port)
	b := dcBackendFor(t, emu, emu.DataCenter().DefaultToken(), backend.DataCenterOptions{SSHEndpoint: ep})
	s, err := b.SSH(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if s.Endpoint != ep || s.Host != "127.0.0.1" || s.Port != port || len(s.Pins.Keys) != 1 {
		t.Errorf("ssh = %+v", s)
	}
	emu.DataCenter().SetReportedHostKeyFingerprint("SHA256:" + strings.Repeat("B", 43))
	if _, err := b.SSH(t.Context()); !errors.As(err, new(*backend.HostKeyError)) {
		t.Errorf("an overridden endpoint skipped the host key check: %v", err)
	}
}
