package bbapitest

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// Permission is what a user may do on a repository (or, for a workspace member, on every
// repository of the workspace).
type Permission int

// Permissions, weakest first.
const (
	PermNone Permission = iota
	PermRead
	PermWrite
	PermAdmin
)

// User is a Bitbucket account.
type User struct {
	AccountID   string // Atlassian account id, e.g. "712020:…"
	UUID        string // with braces
	DisplayName string
	Nickname    string
	Email       string
}

// UserKey is an SSH key on an account (`ssh_account_key`).
type UserKey struct {
	UUID        string // with braces
	Key         string // "ssh-ed25519 AAAA…", without the comment
	Comment     string
	Label       string
	Fingerprint string // SHA-256, base64, no "SHA256:" prefix, no padding
	CreatedOn   time.Time
	LastUsed    *time.Time
	ExpiresOn   *time.Time
	Owner       string // account id
}

// DeployKey is an access key of a repository (RepoSlug set) or of a project (ProjectKey
// set).
type DeployKey struct {
	ID          int
	Key         string
	Comment     string
	Label       string
	Fingerprint string
	AddedOn     time.Time
	LastUsed    *time.Time
	Workspace   string
	RepoSlug    string
	ProjectKey  string
	CreatedBy   string // account id of the creator; empty for an access token
}

type workspace struct {
	slug, name, uuid string
	owner            string // account id
	members          map[string]Permission
	projects         map[string]*project // by upper-case key
	repos            []*repo
	repoBySlug       map[string]*repo // by lower-case slug
	createdOn        time.Time
}

type project struct {
	ws              *workspace
	key, name, uuid string
	keys            []*DeployKey
	createdOn       time.Time
}

type repo struct {
	ws         *workspace
	slug, name string
	uuid       string
	project    *project
	perms      map[string]Permission // per-user overrides of the workspace permission
	keys       []*DeployKey
	createdOn  time.Time
	initMu     sync.Mutex // guards dir
	dir        string     // bare repository, made on first use
}

func (r *repo) fullName() string { return r.ws.slug + "/" + r.slug }

type tokenKind int

const (
	kindAPIToken tokenKind = iota + 1
	kindOAuth
	kindRepoToken
	kindProjectToken
	kindWorkspaceToken
)

// token is any bearer or basic secret the server accepts. The secret itself is the map key.
type token struct {
	kind       tokenKind
	user       string // account id: API tokens and OAuth tokens act as this user
	scopes     []string
	expires    time.Time // zero: never
	ws         *workspace
	repo       *repo    // repository access token
	project    *project // project access token
	id         string   // stable identity for rate limits and logs; never the secret
	name       string   // pseudo-user name of an access token
	pseudoUUID string   // pseudo-user uuid of an access token
}

type consumer struct {
	id, secret string
	owner      string // account id
	scopes     []string
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return "{" + h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:] + "}"
}

func newSecret(prefix string, n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// stripBraces turns "{x}" into "x".
func stripBraces(s string) string {
	return strings.TrimSuffix(strings.TrimPrefix(s, "{"), "}")
}

// fingerprint is Bitbucket's form of a key's fingerprint: SHA-256 in unpadded base64.
func fingerprint(pub ssh.PublicKey) string {
	return strings.TrimPrefix(ssh.FingerprintSHA256(pub), "SHA256:")
}

// parseKey accepts an authorized_keys line and checks what Bitbucket accepts: Ed25519,
// ECDSA, RSA of at least 2048 bits, the FIDO variants and (still listed) DSA.
func parseKey(line string) (pub ssh.PublicKey, comment string, err error) {
	line = strings.TrimSpace(line)
	if line == "" {
		return nil, "", errors.New("this field is required")
	}
	pub, comment, _, rest, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil || len(strings.TrimSpace(string(rest))) > 0 {
		return nil, "", errors.New("invalid SSH key")
	}
	switch pub.Type() {
	case ssh.KeyAlgoRSA:
		ck, ok := pub.(ssh.CryptoPublicKey)
		if !ok {
			return nil, "", errors.New("invalid SSH key")
		}
		if rk, ok := ck.CryptoPublicKey().(interface{ Size() int }); ok && rk.Size()*8 < 2048 {
			return nil, "", errors.New("RSA keys must be at least 2048 bits")
		}
	case ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521,
		//lint:ignore SA1019 Bitbucket still lists DSA among the accepted key types
		ssh.KeyAlgoSKED25519, ssh.KeyAlgoSKECDSA256, ssh.KeyAlgoDSA:
	default:
		return nil, "", fmt.Errorf("unsupported key type %s", pub.Type())
	}
	return pub, strings.TrimSpace(comment), nil
}

func keyLine(pub ssh.PublicKey) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
}

// --- seeding and inspection (all take s.mu) ---

// AddUser adds an account. AccountID and UUID are generated when empty; the email must be
// unique.
func (s *Server) AddUser(u User) (User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addUserLocked(u)
}

func (s *Server) addUserLocked(u User) (User, error) {
	if u.Email == "" {
		return User{}, errors.New("add user: email is required")
	}
	if _, ok := s.userByEmail(u.Email); ok {
		return User{}, fmt.Errorf("add user %s: already exists", u.Email)
	}
	if u.UUID == "" {
		u.UUID = newUUID()
	}
	if u.AccountID == "" {
		u.AccountID = "712020:" + stripBraces(newUUID())
	}
	if u.Nickname == "" {
		u.Nickname, _, _ = strings.Cut(u.Email, "@")
	}
	if u.DisplayName == "" {
		u.DisplayName = u.Nickname
	}
	cp := u
	s.users[u.AccountID] = &cp
	return u, nil
}

func (s *Server) userByEmail(email string) (*User, bool) {
	for _, u := range s.users {
		if strings.EqualFold(u.Email, email) {
			return u, true
		}
	}
	return nil, false
}

// userByRef finds a user by account id or by {uuid}. The braces are required, as
// documented: a bare uuid is not a selected_user, so a client that drops them finds out.
func (s *Server) userByRef(ref string) (*User, bool) {
	if u, ok := s.users[ref]; ok {
		return u, true
	}
	if !strings.HasPrefix(ref, "{") || !strings.HasSuffix(ref, "}") {
		return nil, false
	}
	want := strings.ToLower(stripBraces(ref))
	for _, u := range s.users {
		if strings.ToLower(stripBraces(u.UUID)) == want {
			return u, true
		}
	}
	return nil, false
}

// LookupUser returns the account with this email, account id or {uuid}.
func (s *Server) LookupUser(ref string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.userByEmail(ref); ok {
		return *u, true
	}
	if u, ok := s.userByRef(ref); ok {
		return *u, true
	}
	return User{}, false
}

// AddAPIToken gives the user with this email an Atlassian API token holding exactly the
// given scopes (e.g. "write:ssh-key:bitbucket") and returns the token. It is used as
// Basic email:token.
func (s *Server) AddAPIToken(email string, scopes ...string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.userByEmail(email)
	if !ok {
		return "", fmt.Errorf("add api token: no user %s", email)
	}
	sec := newSecret("ATATT3x", 36)
	s.tokens[sec] = &token{kind: kindAPIToken, user: u.AccountID, scopes: slices.Clone(scopes), id: "apitoken:" + u.AccountID + ":" + sec[len(sec)-6:]}
	return sec, nil
}

// ExpireToken makes an API token, OAuth access token or access token expire at t on the
// server's clock.
func (s *Server) ExpireToken(secret string, t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok, ok := s.tokens[secret]
	if !ok {
		return errors.New("expire token: no such token")
	}
	tok.expires = t
	return nil
}

// AddOAuthConsumer registers an OAuth consumer owned by the user with this email, with
// classic scopes such as "account:write" or "repository:admin".
func (s *Server) AddOAuthConsumer(ownerEmail string, scopes ...string) (clientID, secret string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.userByEmail(ownerEmail)
	if !ok {
		return "", "", fmt.Errorf("add oauth consumer: no user %s", ownerEmail)
	}
	c := &consumer{id: newSecret("", 12), secret: newSecret("", 24), owner: u.AccountID, scopes: slices.Clone(scopes)}
	s.consumers[c.id] = c
	return c.id, c.secret, nil
}

// AddRepoAccessToken creates a repository access token (used as Bearer) with classic
// scopes such as "repository", "repository:admin".
func (s *Server) AddRepoAccessToken(ws, slug string, scopes ...string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.repo(ws, slug)
	if !ok {
		return "", fmt.Errorf("add access token: no repository %s/%s", ws, slug)
	}
	sec := newSecret("ATCTT3x", 36)
	s.tokens[sec] = &token{kind: kindRepoToken, ws: r.ws, repo: r, scopes: slices.Clone(scopes),
		id: "repotoken:" + r.uuid + ":" + sec[len(sec)-6:], name: r.name + " access token", pseudoUUID: newUUID()}
	return sec, nil
}

// AddProjectAccessToken creates a project access token (Bearer).
func (s *Server) AddProjectAccessToken(ws, key string, scopes ...string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.project(ws, key)
	if !ok {
		return "", fmt.Errorf("add access token: no project %s/%s", ws, key)
	}
	sec := newSecret("ATCTT3x", 36)
	s.tokens[sec] = &token{kind: kindProjectToken, ws: p.ws, project: p, scopes: slices.Clone(scopes),
		id: "projecttoken:" + p.uuid + ":" + sec[len(sec)-6:], name: p.name + " access token", pseudoUUID: newUUID()}
	return sec, nil
}

// AddWorkspaceAccessToken creates a workspace access token (Bearer).
func (s *Server) AddWorkspaceAccessToken(ws string, scopes ...string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.workspaces[strings.ToLower(ws)]
	if !ok {
		return "", fmt.Errorf("add access token: no workspace %s", ws)
	}
	sec := newSecret("ATCTT3x", 36)
	s.tokens[sec] = &token{kind: kindWorkspaceToken, ws: w, scopes: slices.Clone(scopes),
		id: "workspacetoken:" + w.uuid + ":" + sec[len(sec)-6:], name: w.name + " access token", pseudoUUID: newUUID()}
	return sec, nil
}

// AddWorkspace creates a workspace owned (and administered) by the user with this email.
func (s *Server) AddWorkspace(slug, name, ownerEmail string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.userByEmail(ownerEmail)
	if !ok {
		return fmt.Errorf("add workspace: no user %s", ownerEmail)
	}
	key := strings.ToLower(slug)
	if _, ok := s.workspaces[key]; ok {
		return fmt.Errorf("add workspace %s: already exists", slug)
	}
	if name == "" {
		name = slug
	}
	s.workspaces[key] = &workspace{
		slug: key, name: name, uuid: newUUID(), owner: u.AccountID,
		members:    map[string]Permission{u.AccountID: PermAdmin},
		projects:   map[string]*project{},
		repoBySlug: map[string]*repo{},
		createdOn:  s.now(),
	}
	s.wsOrder = append(s.wsOrder, key)
	return nil
}

// AddMember makes the user with this email a member of the workspace with permission p on
// all its repositories (PermAdmin also administers its projects).
func (s *Server) AddMember(ws, email string, p Permission) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.workspaces[strings.ToLower(ws)]
	if !ok {
		return fmt.Errorf("add member: no workspace %s", ws)
	}
	u, ok := s.userByEmail(email)
	if !ok {
		return fmt.Errorf("add member: no user %s", email)
	}
	w.members[u.AccountID] = p
	return nil
}

// AddProject creates a project in a workspace.
func (s *Server) AddProject(ws, key, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.workspaces[strings.ToLower(ws)]
	if !ok {
		return fmt.Errorf("add project: no workspace %s", ws)
	}
	k := strings.ToUpper(key)
	if _, ok := w.projects[k]; ok {
		return fmt.Errorf("add project %s/%s: already exists", ws, key)
	}
	if name == "" {
		name = k
	}
	w.projects[k] = &project{ws: w, key: k, name: name, uuid: newUUID(), createdOn: s.now()}
	return nil
}

// AddRepo creates a repository in a project of a workspace. It costs no disk until the
// repository is first used over SSH (or RepoDir is called), so hundreds are cheap.
func (s *Server) AddRepo(ws, slug, projectKey string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.workspaces[strings.ToLower(ws)]
	if !ok {
		return fmt.Errorf("add repo: no workspace %s", ws)
	}
	p, ok := w.projects[strings.ToUpper(projectKey)]
	if !ok {
		return fmt.Errorf("add repo: no project %s in %s", projectKey, ws)
	}
	key := strings.ToLower(slug)
	if key == "" || strings.ContainsAny(key, "/ '\"\\") {
		return fmt.Errorf("add repo: invalid slug %q", slug)
	}
	if _, ok := w.repoBySlug[key]; ok {
		return fmt.Errorf("add repo %s/%s: already exists", ws, slug)
	}
	r := &repo{ws: w, slug: key, name: slug, uuid: newUUID(), project: p, perms: map[string]Permission{}, createdOn: s.now()}
	w.repos = append(w.repos, r)
	w.repoBySlug[key] = r
	return nil
}

// SetRepoPermission overrides the workspace permission of a user on one repository
// (PermNone hides it).
func (s *Server) SetRepoPermission(ws, slug, email string, p Permission) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.repo(ws, slug)
	if !ok {
		return fmt.Errorf("set permission: no repository %s/%s", ws, slug)
	}
	u, ok := s.userByEmail(email)
	if !ok {
		return fmt.Errorf("set permission: no user %s", email)
	}
	r.perms[u.AccountID] = p
	return nil
}

func (s *Server) repo(ws, slug string) (*repo, bool) {
	w, ok := s.workspaces[strings.ToLower(ws)]
	if !ok {
		return nil, false
	}
	r, ok := w.repoBySlug[strings.ToLower(slug)]
	return r, ok
}

func (s *Server) project(ws, key string) (*project, bool) {
	w, ok := s.workspaces[strings.ToLower(ws)]
	if !ok {
		return nil, false
	}
	p, ok := w.projects[strings.ToUpper(key)]
	return p, ok
}

// UserKeys returns copies of the SSH keys on the account (account id or {uuid}), oldest
// first.
func (s *Server) UserKeys(account string) []UserKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.userByRef(account)
	if !ok {
		return nil
	}
	var out []UserKey
	for _, k := range s.userKeys {
		if k.Owner == u.AccountID {
			out = append(out, copyUserKey(k))
		}
	}
	return out
}

// RepoDeployKeys returns copies of the access keys of a repository.
func (s *Server) RepoDeployKeys(ws, slug string) []DeployKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.repo(ws, slug)
	if !ok {
		return nil
	}
	return copyDeployKeys(r.keys)
}

// ProjectDeployKeys returns copies of the access keys of a project.
func (s *Server) ProjectDeployKeys(ws, key string) []DeployKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.project(ws, key)
	if !ok {
		return nil
	}
	return copyDeployKeys(p.keys)
}

func copyUserKey(k *UserKey) UserKey {
	c := *k
	if k.LastUsed != nil {
		t := *k.LastUsed
		c.LastUsed = &t
	}
	if k.ExpiresOn != nil {
		t := *k.ExpiresOn
		c.ExpiresOn = &t
	}
	return c
}

func copyDeployKeys(keys []*DeployKey) []DeployKey {
	out := make([]DeployKey, 0, len(keys))
	for _, k := range keys {
		c := *k
		if k.LastUsed != nil {
			t := *k.LastUsed
			c.LastUsed = &t
		}
		out = append(out, c)
	}
	return out
}

// userPerm is what a user may do on a repository.
func (s *Server) userPerm(accountID string, r *repo) Permission {
	if p, ok := r.perms[accountID]; ok {
		return p
	}
	if r.ws.owner == accountID {
		return PermAdmin
	}
	return r.ws.members[accountID]
}

// accountKeyByBlob finds a live account key by its wire-format bytes.
func (s *Server) accountKeyByBlob(blob string) *UserKey {
	for _, k := range s.userKeys {
		if s.keyBlobs[k.UUID] == blob {
			return k
		}
	}
	return nil
}

// deployKeysByBlob lists every access key record (repository and project) of a public key.
func (s *Server) deployKeysByBlob(blob string) []*DeployKey {
	var out []*DeployKey
	for _, key := range s.wsOrder {
		w := s.workspaces[key]
		for _, r := range w.repos {
			for _, k := range r.keys {
				if s.deployBlobs[k.ID] == blob {
					out = append(out, k)
				}
			}
		}
		for _, pk := range sortedKeys(w.projects) {
			for _, k := range w.projects[pk].keys {
				if s.deployBlobs[k.ID] == blob {
					out = append(out, k)
				}
			}
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// SeedAccessKey puts an access key straight onto a repository (k.RepoSlug) or a project
// (k.ProjectKey) of k.Workspace, with the history a request cannot give it: k.AddedOn
// (zero: now), k.LastUsed and k.CreatedBy (an account id, or empty). k.Key is an
// authorized_keys line whose comment becomes the key's comment; k.Label is kept as given.
// The duplicate rules of a POST apply. It returns the id Bitbucket would have given.
func (s *Server) SeedAccessKey(k DeployKey) (int, error) {
	pub, comment, err := parseKey(k.Key)
	if err != nil {
		return 0, fmt.Errorf("seed access key: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var keys *[]*DeployKey
	switch {
	case k.RepoSlug != "" && k.ProjectKey == "":
		r, ok := s.repo(k.Workspace, k.RepoSlug)
		if !ok {
			return 0, fmt.Errorf("seed access key: no repository %s/%s", k.Workspace, k.RepoSlug)
		}
		keys, k.Workspace, k.RepoSlug = &r.keys, r.ws.slug, r.slug
	case k.ProjectKey != "" && k.RepoSlug == "":
		p, ok := s.project(k.Workspace, k.ProjectKey)
		if !ok {
			return 0, fmt.Errorf("seed access key: no project %s/%s", k.Workspace, k.ProjectKey)
		}
		keys, k.Workspace, k.ProjectKey = &p.keys, p.ws.slug, p.key
	default:
		return 0, errors.New("seed access key: set exactly one of RepoSlug and ProjectKey")
	}
	blob := string(pub.Marshal())
	for _, e := range *keys {
		if s.deployBlobs[e.ID] == blob {
			return 0, errors.New("seed access key: " + msgDupRepoKey)
		}
	}
	if s.accountKeyByBlob(blob) != nil {
		return 0, errors.New("seed access key: " + msgDupUserKey)
	}
	s.nextID++
	k.ID, k.Key, k.Comment, k.Fingerprint = s.nextID, keyLine(pub), comment, fingerprint(pub)
	if k.AddedOn.IsZero() {
		k.AddedOn = s.now()
	}
	k.AddedOn = k.AddedOn.UTC()
	if k.LastUsed != nil {
		t := k.LastUsed.UTC()
		k.LastUsed = &t
	}
	cp := k
	*keys = append(*keys, &cp)
	s.deployBlobs[cp.ID] = blob
	return cp.ID, nil
}
