package bbapitest

import (
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Data Center mode (WithDataCenter): the server is a Bitbucket Data Center instance
// instead of Cloud. This file holds its state and the seeding and inspection methods,
// reached through Server.DataCenter; dc_rest.go serves the REST API and dc_ssh.go
// decides what a key may do over SSH.

// Seeded Data Center defaults.
const (
	// DCDefaultUser is the seeded user's slug (user name "ada"), a licensed user who
	// administers DCDefaultProject and owns the personal project "~ADA".
	DCDefaultUser        = "ada"
	DCDefaultDisplayName = "Ada Lovelace"
	DCDefaultEmail       = "ada@example.com"
	// DCDefaultProject is the seeded project, holding DefaultRepos.
	DCDefaultProject = "OPS"
	// DCDefaultPersonalRepo is the seeded personal repository of DCDefaultUser,
	// "~ADA/notes".
	DCDefaultPersonalRepo = "notes"
)

// WithDataCenter makes the server a Bitbucket Data Center instead of Cloud: the REST API
// under /rest (the spec's `latest` paths and their `1.0` twins), HTTP access tokens,
// projects, personal projects and repository permissions, the {"errors": […]} error
// shape, and git over SSH with Data Center's URL forms (ssh://git@host:port/proj/repo.git,
// ~user for a personal repository) and access keys that may write. See DataCenter.
func WithDataCenter() Option { return func(c *config) { c.datacenter = true } }

// WithDataCenterSSHHost makes a Data Center mode server name host (e.g. "localhost")
// instead of 127.0.0.1 as its SSH host, in its SSH settings and SSH clone links, as a real
// server's base URL names a host of its own: two servers on one test machine then have
// SSH hosts of their own, as two real servers do. The SSH server still listens on
// 127.0.0.1, so host must resolve there.
func WithDataCenterSSHHost(host string) Option { return func(c *config) { c.dcSSHHost = host } }

// DataCenter is the seeding and inspection side of a Data Center mode server. All methods
// are safe for concurrent use.
type DataCenter struct{ s *Server }

// DataCenter returns the Data Center side of the server; it panics on a Cloud server.
func (s *Server) DataCenter() *DataCenter {
	if s.dc == nil {
		panic("bbapitest: DataCenter on a server started without WithDataCenter")
	}
	return &DataCenter{s}
}

// IsDataCenter reports whether the server runs in Data Center mode.
func (s *Server) IsDataCenter() bool { return s.dc != nil }

// DCUser is a Data Center user.
type DCUser struct {
	ID          int
	Name        string // the login name; the slug is its lower case
	DisplayName string
	Email       string
	// SysAdmin users hold every permission and may manage other users' keys.
	SysAdmin bool
}

// Slug is the user's URL name.
func (u DCUser) Slug() string { return strings.ToLower(u.Name) }

// DCKey is an SSH key on a Data Center server: a user's key (Owner set) or the key of
// access keys.
type DCKey struct {
	ID                int
	Text              string // "ssh-ed25519 AAAA…", without the comment
	Label             string
	Fingerprint       string // SHA-256, unpadded base64, no prefix
	CreatedDate       time.Time
	ExpiryDays        int
	LastAuthenticated *time.Time
	Owner             string // user slug; "" for an access key
}

// DCAccessKey is a key granted on a repository or a project.
type DCAccessKey struct {
	DCKey
	Permission string // REPO_READ, REPO_WRITE, PROJECT_READ or PROJECT_WRITE
}

type dcUser struct {
	DCUser
	service bool // the user a project or repository token acts as
}

type dcProject struct {
	id     int
	key    string // upper case; "~ADA" for a personal project
	name   string
	owner  *dcUser               // personal projects
	perms  map[string]Permission // user slug → PermRead, PermWrite, PermAdmin
	repos  []*dcRepo
	bySlug map[string]*dcRepo
	access map[int]Permission // access key id → PermRead or PermWrite
}

type dcRepo struct {
	id      int
	slug    string // lower case
	name    string
	project *dcProject
	perms   map[string]Permission
	access  map[int]Permission
	initMu  sync.Mutex // guards dir
	dir     string
}

func (r *dcRepo) fullName() string { return r.project.key + "/" + r.slug }

type dcKey struct {
	DCKey
	blob  string // wire-format public key
	algo  string
	bits  int
	owner *dcUser // nil for an access key
}

// expired reports whether the key's expiryDays have run out at now.
func (k *dcKey) expired(now time.Time) bool {
	return k.ExpiryDays > 0 && !now.Before(k.CreatedDate.AddDate(0, 0, k.ExpiryDays))
}

type dcTokenKind int

const (
	dcPersonalToken dcTokenKind = iota + 1
	dcProjectToken
	dcRepoToken
)

type dcToken struct {
	kind    dcTokenKind
	id      string // for rate limits; never the secret
	user    *dcUser
	project *dcProject // project token
	repo    *dcRepo    // repository token
	// projectPerm and repoPerm cap what the token may do (a personal token has both; a
	// project token projectPerm; a repository token repoPerm).
	projectPerm, repoPerm Permission
	expires               time.Time
}

type dcBucket struct {
	tokens float64
	last   time.Time
}

type dcState struct {
	users      map[string]*dcUser    // by slug
	projects   map[string]*dcProject // by upper-case key
	projOrder  []string
	tokens     map[string]*dcToken // by secret
	keys       map[int]*dcKey
	nextID     int
	maxExpiry  int
	refuseKeys bool // personal tokens may not manage their user's SSH keys
	hostFP     string
	rateCap    int
	ratePerSec float64
	buckets    map[string]*dcBucket
}

func newDCState() *dcState {
	return &dcState{
		users:    map[string]*dcUser{},
		projects: map[string]*dcProject{},
		tokens:   map[string]*dcToken{},
		keys:     map[int]*dcKey{},
		buckets:  map[string]*dcBucket{},
		nextID:   1,
	}
}

func (d *dcState) newID() int {
	d.nextID++
	return d.nextID - 1
}

func (s *Server) dcSeed() error {
	dc := s.DataCenter()
	if _, err := dc.AddUser(DCUser{Name: DCDefaultUser, DisplayName: DCDefaultDisplayName, Email: DCDefaultEmail}); err != nil {
		return err
	}
	if err := dc.AddProject(DCDefaultProject, "Operations"); err != nil {
		return err
	}
	if err := dc.Grant(DCDefaultProject, "", DCDefaultUser, PermAdmin); err != nil {
		return err
	}
	for _, r := range DefaultRepos {
		if err := dc.AddRepo(DCDefaultProject, r); err != nil {
			return err
		}
	}
	if err := dc.AddRepo("~"+DCDefaultUser, DCDefaultPersonalRepo); err != nil {
		return err
	}
	tok, err := dc.AddPersonalToken(DCDefaultUser, PermAdmin, PermAdmin)
	if err != nil {
		return err
	}
	s.defaultTok = tok
	return nil
}

func (s *Server) dcEnv() []string {
	env := []string{"BITBUCKET_SERVER=" + s.baseURL}
	if s.defaultTok != "" {
		env = append(env, "BITBUCKET_SERVER_TOKEN="+s.defaultTok)
	}
	return env
}

// ServerURL is the Data Center server's base URL ("http://127.0.0.1:PORT"); the REST API
// is under /rest (Server.APIURL).
func (dc *DataCenter) ServerURL() string { return dc.s.baseURL }

// DefaultToken is the seeded personal HTTP access token of DCDefaultUser, with admin
// permission on projects and repositories ("" WithoutSeed).
func (dc *DataCenter) DefaultToken() string { return dc.s.defaultTok }

// AddUser adds a user; Name must be unique (case-insensitively). ID is assigned.
func (dc *DataCenter) AddUser(u DCUser) (DCUser, error) {
	s := dc.s
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dc.addUser(u, false)
}

func (d *dcState) addUser(u DCUser, service bool) (DCUser, error) {
	if u.Name == "" || strings.ContainsAny(u.Name, "/~ ") {
		return DCUser{}, fmt.Errorf("invalid user name %q", u.Name)
	}
	if _, ok := d.users[u.Slug()]; ok {
		return DCUser{}, fmt.Errorf("user %s exists", u.Name)
	}
	u.ID = d.newID()
	if u.DisplayName == "" {
		u.DisplayName = u.Name
	}
	d.users[u.Slug()] = &dcUser{DCUser: u, service: service}
	return u, nil
}

// AddProject adds a project. key is upper-cased.
func (dc *DataCenter) AddProject(key, name string) error {
	s := dc.s
	s.mu.Lock()
	defer s.mu.Unlock()
	key = strings.ToUpper(key)
	if key == "" || strings.HasPrefix(key, "~") || strings.ContainsAny(key, "/ ") {
		return fmt.Errorf("invalid project key %q", key)
	}
	if _, ok := s.dc.projects[key]; ok {
		return fmt.Errorf("project %s exists", key)
	}
	s.dc.addProject(key, name, nil)
	return nil
}

func (d *dcState) addProject(key, name string, owner *dcUser) *dcProject {
	p := &dcProject{id: d.newID(), key: key, name: name, owner: owner, perms: map[string]Permission{}, bySlug: map[string]*dcRepo{}, access: map[int]Permission{}}
	d.projects[key] = p
	d.projOrder = append(d.projOrder, key)
	return p
}

// project finds a project by key, case-insensitively; "~user" is the user's personal
// project, made on first use.
func (d *dcState) project(key string) (*dcProject, bool) {
	key = strings.ToUpper(key)
	if p, ok := d.projects[key]; ok {
		return p, true
	}
	if slug, ok := strings.CutPrefix(key, "~"); ok {
		if u, ok := d.users[strings.ToLower(slug)]; ok && !u.service {
			return d.addProject(key, u.DisplayName, u), true
		}
	}
	return nil, false
}

func (d *dcState) repo(projectKey, slug string) (*dcRepo, bool) {
	p, ok := d.project(projectKey)
	if !ok {
		return nil, false
	}
	r, ok := p.bySlug[strings.ToLower(slug)]
	return r, ok
}

// AddRepo adds a repository to a project; projectKey "~user" adds a personal repository.
// The bare git repository is made on first use.
func (dc *DataCenter) AddRepo(projectKey, slug string) error {
	s := dc.s
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.dc.project(projectKey)
	if !ok {
		return fmt.Errorf("no project %s", projectKey)
	}
	lslug := strings.ToLower(slug)
	if lslug == "" || strings.ContainsAny(lslug, "/~ '\"\\") {
		return fmt.Errorf("invalid repository slug %q", slug)
	}
	if _, ok := p.bySlug[lslug]; ok {
		return fmt.Errorf("repository %s/%s exists", p.key, lslug)
	}
	r := &dcRepo{id: s.dc.newID(), slug: lslug, name: slug, project: p, perms: map[string]Permission{}, access: map[int]Permission{}}
	p.repos = append(p.repos, r)
	p.bySlug[lslug] = r
	return nil
}

// Grant gives a user a permission on a project (slug "") or on one of its repositories:
// PermRead, PermWrite or PermAdmin (PROJECT_ or REPO_ READ, WRITE, ADMIN); PermNone
// takes it away.
func (dc *DataCenter) Grant(projectKey, slug, user string, p Permission) error {
	s := dc.s
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.dc.users[strings.ToLower(user)]
	if !ok {
		return fmt.Errorf("no user %s", user)
	}
	perms := map[string]Permission(nil)
	if slug == "" {
		pr, ok := s.dc.project(projectKey)
		if !ok {
			return fmt.Errorf("no project %s", projectKey)
		}
		perms = pr.perms
	} else {
		r, ok := s.dc.repo(projectKey, slug)
		if !ok {
			return fmt.Errorf("no repository %s/%s", projectKey, slug)
		}
		perms = r.perms
	}
	if p == PermNone {
		delete(perms, u.Slug())
	} else {
		perms[u.Slug()] = p
	}
	return nil
}

// AddPersonalToken makes a personal HTTP access token of a user, whose project and
// repository permissions (PermRead, PermWrite or PermAdmin) cap what the user may do
// through it. It returns the secret.
func (dc *DataCenter) AddPersonalToken(user string, projectPerm, repoPerm Permission) (string, error) {
	s := dc.s
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.dc.users[strings.ToLower(user)]
	if !ok || u.service {
		return "", fmt.Errorf("no user %s", user)
	}
	return s.dc.addToken(&dcToken{kind: dcPersonalToken, user: u, projectPerm: projectPerm, repoPerm: repoPerm}), nil
}

// AddProjectToken makes a project HTTP access token with permission p (PermRead,
// PermWrite or PermAdmin: PROJECT_READ, PROJECT_WRITE, PROJECT_ADMIN) on the project and
// its repositories. It acts as a new service user.
func (dc *DataCenter) AddProjectToken(projectKey string, p Permission) (string, error) {
	s := dc.s
	s.mu.Lock()
	defer s.mu.Unlock()
	pr, ok := s.dc.project(projectKey)
	if !ok {
		return "", fmt.Errorf("no project %s", projectKey)
	}
	u, err := s.dc.serviceUser("project-" + strings.ToLower(strings.TrimPrefix(pr.key, "~")))
	if err != nil {
		return "", err
	}
	return s.dc.addToken(&dcToken{kind: dcProjectToken, user: u, project: pr, projectPerm: p, repoPerm: p}), nil
}

// AddRepoToken makes a repository HTTP access token with permission p (REPO_READ,
// REPO_WRITE or REPO_ADMIN as PermRead, PermWrite, PermAdmin). It acts as a new service
// user.
func (dc *DataCenter) AddRepoToken(projectKey, slug string, p Permission) (string, error) {
	s := dc.s
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.dc.repo(projectKey, slug)
	if !ok {
		return "", fmt.Errorf("no repository %s/%s", projectKey, slug)
	}
	u, err := s.dc.serviceUser("repo-" + r.slug)
	if err != nil {
		return "", err
	}
	return s.dc.addToken(&dcToken{kind: dcRepoToken, user: u, repo: r, repoPerm: p}), nil
}

func (d *dcState) serviceUser(base string) (*dcUser, error) {
	name := fmt.Sprintf("bot-%s-%d", base, d.nextID)
	if _, err := d.addUser(DCUser{Name: name, DisplayName: name}, true); err != nil {
		return nil, err
	}
	return d.users[strings.ToLower(name)], nil
}

func (d *dcState) addToken(t *dcToken) string {
	secret := newSecret("BBDC-", 33)
	t.id = fmt.Sprintf("dc-token-%d", d.newID())
	d.tokens[secret] = t
	return secret
}

// ExpireToken makes a token expire at t.
func (dc *DataCenter) ExpireToken(secret string, t time.Time) error {
	s := dc.s
	s.mu.Lock()
	defer s.mu.Unlock()
	tok, ok := s.dc.tokens[secret]
	if !ok {
		return errors.New("no such token")
	}
	tok.expires = t
	return nil
}

// SetMaxExpiryDays makes the server enforce a maximum key lifetime, as an admin can:
// a key added without expiryDays gets n, one asking for more is refused with a 400.
// 0 lifts it.
func (dc *DataCenter) SetMaxExpiryDays(n int) {
	dc.s.mu.Lock()
	defer dc.s.mu.Unlock()
	dc.s.dc.maxExpiry = max(n, 0)
}

// RefusePersonalTokensOnUserKeys makes personal HTTP access tokens get a 401 on the
// user-key endpoints (/rest/ssh/latest/keys), as a server may do if a token cannot
// "update user account details" (API.md §5: unconfirmed). Off by default.
func (dc *DataCenter) RefusePersonalTokensOnUserKeys(refuse bool) {
	dc.s.mu.Lock()
	defer dc.s.mu.Unlock()
	dc.s.dc.refuseKeys = refuse
}

// SetReportedHostKeyFingerprint makes GET /rest/ssh/latest/settings report fp (SHA-256,
// unpadded base64) instead of the SSH server's real host key, so a client that pins it
// can be tested against a mismatch. "" restores the truth.
func (dc *DataCenter) SetReportedHostKeyFingerprint(fp string) {
	dc.s.mu.Lock()
	defer dc.s.mu.Unlock()
	dc.s.dc.hostFP = strings.TrimPrefix(fp, "SHA256:")
}

// SetRateLimit gives every user a token bucket of capacity requests, refilled at
// perSecond (by the server's clock); a request that finds it empty gets a 429 with
// Retry-After. capacity 0 (the default) means unlimited.
func (dc *DataCenter) SetRateLimit(capacity int, perSecond float64) {
	dc.s.mu.Lock()
	defer dc.s.mu.Unlock()
	dc.s.dc.rateCap, dc.s.dc.ratePerSec = capacity, perSecond
	dc.s.dc.buckets = map[string]*dcBucket{}
}

// UserKeys returns a user's SSH keys, oldest first.
func (dc *DataCenter) UserKeys(user string) []DCKey {
	dc.s.mu.Lock()
	defer dc.s.mu.Unlock()
	var out []DCKey
	for _, k := range dc.s.dc.sortedKeys() {
		if k.owner != nil && k.owner.Slug() == strings.ToLower(user) {
			out = append(out, copyDCKey(k))
		}
	}
	return out
}

// RepoAccessKeys returns the access keys of a repository, oldest first.
func (dc *DataCenter) RepoAccessKeys(projectKey, slug string) []DCAccessKey {
	dc.s.mu.Lock()
	defer dc.s.mu.Unlock()
	r, ok := dc.s.dc.repo(projectKey, slug)
	if !ok {
		return nil
	}
	return dc.s.dc.accessKeys(r.access, "REPO_")
}

// ProjectAccessKeys returns the access keys of a project, oldest first.
func (dc *DataCenter) ProjectAccessKeys(projectKey string) []DCAccessKey {
	dc.s.mu.Lock()
	defer dc.s.mu.Unlock()
	p, ok := dc.s.dc.project(projectKey)
	if !ok {
		return nil
	}
	return dc.s.dc.accessKeys(p.access, "PROJECT_")
}

func (d *dcState) accessKeys(grants map[int]Permission, prefix string) []DCAccessKey {
	var out []DCAccessKey
	for _, id := range slices.Sorted(maps.Keys(grants)) {
		if k, ok := d.keys[id]; ok {
			out = append(out, DCAccessKey{DCKey: copyDCKey(k), Permission: permName(prefix, grants[id])})
		}
	}
	return out
}

func (d *dcState) sortedKeys() []*dcKey {
	out := make([]*dcKey, 0, len(d.keys))
	for _, id := range slices.Sorted(maps.Keys(d.keys)) {
		out = append(out, d.keys[id])
	}
	return out
}

func copyDCKey(k *dcKey) DCKey {
	c := k.DCKey
	if k.LastAuthenticated != nil {
		t := *k.LastAuthenticated
		c.LastAuthenticated = &t
	}
	return c
}

// permName is the Data Center name of a level: "REPO_" or "PROJECT_" + READ, WRITE, ADMIN.
func permName(prefix string, p Permission) string {
	switch p {
	case PermRead:
		return prefix + "READ"
	case PermWrite:
		return prefix + "WRITE"
	case PermAdmin:
		return prefix + "ADMIN"
	}
	return ""
}

// parsePerm reads "REPO_READ" and the like, with the given prefix.
func parsePerm(prefix, name string) (Permission, bool) {
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return PermNone, false
	}
	switch rest {
	case "READ":
		return PermRead, true
	case "WRITE":
		return PermWrite, true
	case "ADMIN":
		return PermAdmin, true
	}
	return PermNone, false
}

// RepoDir returns the bare git repository behind a Data Center repository, creating it
// on first use.
func (dc *DataCenter) RepoDir(projectKey, slug string) (string, error) {
	dc.s.mu.Lock()
	r, ok := dc.s.dc.repo(projectKey, slug)
	dc.s.mu.Unlock()
	if !ok {
		return "", fmt.Errorf("no repository %s/%s", projectKey, slug)
	}
	return dc.s.dcEnsureRepo(r)
}

func (s *Server) dcEnsureRepo(r *dcRepo) (string, error) {
	r.initMu.Lock()
	defer r.initMu.Unlock()
	if r.dir != "" {
		return r.dir, nil
	}
	dir := filepath.Join(s.dir, "dc-repos", strings.ToLower(r.project.key), r.slug+".git")
	if err := s.initBareRepo(dir, r.fullName()); err != nil {
		return "", err
	}
	r.dir = dir
	return dir, nil
}

// --- permissions (callers hold s.mu) ---

func (d *dcState) userProjectPerm(u *dcUser, p *dcProject) Permission {
	if u.SysAdmin || p.owner == u {
		return PermAdmin
	}
	return p.perms[u.Slug()]
}

func (d *dcState) userRepoPerm(u *dcUser, r *dcRepo) Permission {
	return max(d.userProjectPerm(u, r.project), r.perms[u.Slug()])
}

func (d *dcState) tokenProjectPerm(t *dcToken, p *dcProject) Permission {
	switch t.kind {
	case dcPersonalToken:
		return min(d.userProjectPerm(t.user, p), t.projectPerm)
	case dcProjectToken:
		if t.project == p {
			return t.projectPerm
		}
	}
	return PermNone
}

func (d *dcState) tokenRepoPerm(t *dcToken, r *dcRepo) Permission {
	switch t.kind {
	case dcPersonalToken:
		return min(d.userRepoPerm(t.user, r), t.repoPerm)
	case dcProjectToken:
		if t.project == r.project {
			return t.projectPerm
		}
	case dcRepoToken:
		if t.repo == r {
			return t.repoPerm
		}
	}
	return PermNone
}

// keyPerm is what a key may do on a repository over SSH: a user key what its user may,
// an access key the best of its grants on the repository and on its project.
func (d *dcState) keyPerm(k *dcKey, r *dcRepo) Permission {
	if k.owner != nil {
		return min(d.userRepoPerm(k.owner, r), PermWrite)
	}
	return max(r.access[k.ID], r.project.access[k.ID])
}

func (d *dcState) keyByBlob(blob string) *dcKey {
	for _, k := range d.keys {
		if k.blob == blob {
			return k
		}
	}
	return nil
}

// granted reports whether an access key is granted anywhere.
func (d *dcState) granted(id int) bool {
	for _, p := range d.projects {
		if p.access[id] > 0 {
			return true
		}
		for _, r := range p.repos {
			if r.access[id] > 0 {
				return true
			}
		}
	}
	return false
}
