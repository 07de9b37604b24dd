package bbapitest

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// --- permissions of a principal ---

func (s *Server) accessTokenRepoPerm(t *token, r *repo) Permission {
	switch t.kind {
	case kindRepoToken:
		if t.repo != r {
			return PermNone
		}
	case kindProjectToken:
		if t.project != r.project {
			return PermNone
		}
	case kindWorkspaceToken:
		if t.ws != r.ws {
			return PermNone
		}
	default:
		return PermNone
	}
	switch {
	case slices.Contains(t.scopes, "repository:admin"):
		return PermAdmin
	case slices.Contains(t.scopes, "repository:write"):
		return PermWrite
	case slices.Contains(t.scopes, "repository"):
		return PermRead
	}
	return PermNone
}

func (s *Server) repoPerm(p *principal, r *repo) Permission {
	if p.isAccessToken() {
		return s.accessTokenRepoPerm(p.tok, r)
	}
	return s.userPerm(p.user.AccountID, r)
}

// projectAdmin reports whether p may manage a project's access keys: a workspace
// administrator, or a project or workspace access token holding project:admin.
func (s *Server) projectAdmin(p *principal, pr *project) bool {
	switch p.tok.kind {
	case kindProjectToken:
		return p.tok.project == pr && slices.Contains(p.tok.scopes, "project:admin")
	case kindWorkspaceToken:
		return p.tok.ws == pr.ws && slices.Contains(p.tok.scopes, "project:admin")
	case kindRepoToken:
		return false
	}
	return pr.ws.owner == p.user.AccountID || pr.ws.members[p.user.AccountID] == PermAdmin
}

func (s *Server) seesWorkspace(p *principal, w *workspace) bool {
	if p.isAccessToken() {
		return p.tok.ws == w
	}
	if w.owner == p.user.AccountID || w.members[p.user.AccountID] > PermNone {
		return true
	}
	for _, r := range w.repos {
		if r.perms[p.user.AccountID] > PermNone {
			return true
		}
	}
	return false
}

// --- users ---

func (s *Server) getUser(c *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.p.isAccessToken() {
		// Access tokens act as a pseudo-user named after what they were made for.
		writeJSON(c.w, http.StatusOK, map[string]any{
			"type": "user", "uuid": c.p.tok.pseudoUUID, "display_name": c.p.tok.name,
			"nickname": c.p.tok.name, "account_status": "active",
		})
		return
	}
	writeJSON(c.w, http.StatusOK, s.userJSON(c.p.user))
}

func (s *Server) getOtherUser(c *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.userByRef(c.r.PathValue("user"))
	if !ok {
		notFound(c.w, fmt.Sprintf("%s not found", c.r.PathValue("user")))
		return
	}
	writeJSON(c.w, http.StatusOK, s.userJSON(u))
}

func (s *Server) listWorkspaces(c *call) {
	s.mu.Lock()
	var values []any
	adminFilter := c.r.URL.Query().Get("administrator")
	for _, key := range slices.Sorted(slices.Values(s.wsOrder)) {
		w := s.workspaces[key]
		if !s.seesWorkspace(c.p, w) {
			continue
		}
		admin := w.owner == c.p.user.AccountID || w.members[c.p.user.AccountID] == PermAdmin
		if adminFilter != "" && strconv.FormatBool(admin) != strings.ToLower(adminFilter) {
			continue
		}
		values = append(values, map[string]any{
			"type":          "workspace_access",
			"administrator": admin,
			"workspace": map[string]any{
				"type": "workspace_base", "uuid": w.uuid, "slug": w.slug, "name": w.name,
				"links": map[string]any{"self": map[string]any{"href": s.apiURL + "/workspaces/" + w.slug}},
			},
		})
	}
	s.mu.Unlock()
	s.paginate(c, values)
}

// --- user SSH keys ---

// keyOwner resolves {selected_user} and checks the caller may manage that account's keys.
func (s *Server) keyOwner(c *call) (*User, bool) {
	ref := c.r.PathValue("user")
	u, ok := s.userByRef(ref)
	if !ok {
		notFound(c.w, fmt.Sprintf("User %s not found", ref))
		return nil, false
	}
	if u.AccountID != c.p.user.AccountID {
		forbidden(c.w, "You do not have permission to manage the SSH keys of this account.")
		return nil, false
	}
	return u, true
}

func (s *Server) findUserKey(c *call, u *User) (*UserKey, bool) {
	id := strings.ToLower(stripBraces(c.r.PathValue("key")))
	for _, k := range s.userKeys {
		if k.Owner == u.AccountID && strings.ToLower(stripBraces(k.UUID)) == id {
			return k, true
		}
	}
	notFound(c.w, "SSH key not found")
	return nil, false
}

func (s *Server) listUserKeys(c *call) {
	s.mu.Lock()
	u, ok := s.keyOwner(c)
	if !ok {
		s.mu.Unlock()
		return
	}
	var values []any
	for _, k := range s.userKeys {
		if k.Owner == u.AccountID {
			values = append(values, s.userKeyJSON(k))
		}
	}
	s.mu.Unlock()
	s.paginate(c, values)
}

func (s *Server) addUserKey(c *call) {
	b, ok := decodeKeyBody(c)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.keyOwner(c)
	if !ok {
		return
	}
	if b.Key == nil {
		badRequest(c.w, "key", "This field is required.")
		return
	}
	pub, comment, err := parseKey(*b.Key)
	if err != nil {
		badRequest(c.w, "key", err.Error())
		return
	}
	now := s.now()
	var expires *time.Time
	if v := c.r.URL.Query().Get("expires_on"); v != "" {
		t, ok := parseExpiry(v)
		if !ok {
			badRequest(c.w, "expires_on", "Enter a valid ISO-8601 date or date-time.")
			return
		}
		if !t.After(now) {
			badRequest(c.w, "expires_on", "The expiry must be in the future.")
			return
		}
		expires = &t
	}
	blob := string(pub.Marshal())
	if t, ok := s.deleted[blob]; ok && s.cfg.keyCooldown > 0 && now.Sub(t) < s.cfg.keyCooldown {
		badRequest(c.w, "key", msgKeyRecentlyDeleted)
		return
	}
	if s.accountKeyByBlob(blob) != nil || len(s.deployKeysByBlob(blob)) > 0 {
		badRequest(c.w, "key", msgDupUserKey)
		return
	}
	k := &UserKey{
		UUID: newUUID(), Key: keyLine(pub), Comment: comment, Fingerprint: fingerprint(pub),
		CreatedOn: now, ExpiresOn: expires, Owner: u.AccountID,
	}
	if b.Label != nil {
		k.Label = *b.Label
	}
	s.userKeys = append(s.userKeys, k)
	s.keyBlobs[k.UUID] = blob
	js := s.userKeyJSON(k)
	c.w.Header().Set("Location", js["links"].(map[string]any)["self"].(map[string]any)["href"].(string))
	writeJSON(c.w, http.StatusCreated, js)
}

func (s *Server) getUserKey(c *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.keyOwner(c)
	if !ok {
		return
	}
	if k, ok := s.findUserKey(c, u); ok {
		writeJSON(c.w, http.StatusOK, s.userKeyJSON(k))
	}
}

// putUserKey changes the label only: the key itself cannot change (rotation is add new +
// delete old), so a different key in the body is ignored, as the body's other fields are.
func (s *Server) putUserKey(c *call) {
	b, ok := decodeKeyBody(c)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.keyOwner(c)
	if !ok {
		return
	}
	k, ok := s.findUserKey(c, u)
	if !ok {
		return
	}
	if b.Label != nil {
		k.Label = *b.Label
	}
	writeJSON(c.w, http.StatusOK, s.userKeyJSON(k))
}

func (s *Server) deleteUserKey(c *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.keyOwner(c)
	if !ok {
		return
	}
	k, ok := s.findUserKey(c, u)
	if !ok {
		return
	}
	s.deleted[s.keyBlobs[k.UUID]] = s.now()
	delete(s.keyBlobs, k.UUID)
	s.userKeys = slices.DeleteFunc(s.userKeys, func(x *UserKey) bool { return x == k })
	c.w.WriteHeader(http.StatusNoContent)
}

// --- repositories ---

func (s *Server) visibleRepo(c *call) (*repo, bool) {
	ws, slug := c.r.PathValue("ws"), c.r.PathValue("slug")
	r, ok := s.repo(ws, slug)
	if !ok || s.repoPerm(c.p, r) == PermNone {
		notFound(c.w, fmt.Sprintf("Repository %s/%s not found", ws, slug))
		return nil, false
	}
	return r, true
}

func (s *Server) getRepo(c *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.visibleRepo(c); ok {
		writeJSON(c.w, http.StatusOK, s.repoJSON(r))
	}
}

func (s *Server) listRepos(c *call) {
	q := c.r.URL.Query()
	var minPerm Permission
	role := q.Get("role")
	switch role {
	case "", "member":
		minPerm = PermRead
	case "contributor":
		minPerm = PermWrite
	case "admin", "owner":
		minPerm = PermAdmin
	default:
		writeError(c.w, http.StatusBadRequest, fmt.Sprintf("Invalid role: %s", role), "role must be one of member, contributor, admin, owner", nil)
		return
	}
	filter, err := parseQuery(q.Get("q"))
	if err != nil {
		writeError(c.w, http.StatusBadRequest, err.Error(), "the q parameter must be a valid BBQL expression", nil)
		return
	}
	order, err := repoOrder(q.Get("sort"))
	if err != nil {
		writeError(c.w, http.StatusBadRequest, err.Error(), nil, nil)
		return
	}
	s.mu.Lock()
	w, ok := s.workspaces[strings.ToLower(c.r.PathValue("ws"))]
	if !ok || !s.seesWorkspace(c.p, w) {
		s.mu.Unlock()
		notFound(c.w, fmt.Sprintf("No workspace with identifier '%s'.", c.r.PathValue("ws")))
		return
	}
	var matched []*repo
	for _, r := range w.repos {
		perm := s.repoPerm(c.p, r)
		if perm < minPerm || perm == PermNone {
			continue
		}
		if role == "owner" && (c.p.user == nil || w.owner != c.p.user.AccountID) {
			continue
		}
		if filter(r) {
			matched = append(matched, r)
		}
	}
	if order != nil {
		slices.SortStableFunc(matched, order)
	}
	values := make([]any, 0, len(matched))
	for _, r := range matched {
		values = append(values, s.repoJSON(r))
	}
	s.mu.Unlock()
	s.paginate(c, values)
}

func repoOrder(sortBy string) (func(a, b *repo) int, error) {
	desc := strings.HasPrefix(sortBy, "-")
	var f func(a, b *repo) int
	switch strings.TrimPrefix(sortBy, "-") {
	case "":
		return nil, nil
	case "name":
		f = func(a, b *repo) int { return cmp.Compare(a.name, b.name) }
	case "slug", "full_name":
		f = func(a, b *repo) int { return cmp.Compare(a.slug, b.slug) }
	case "created_on", "updated_on":
		f = func(a, b *repo) int { return a.createdOn.Compare(b.createdOn) }
	default:
		return nil, fmt.Errorf("Invalid sort field: %s", sortBy)
	}
	if desc {
		return func(a, b *repo) int { return -f(a, b) }, nil
	}
	return f, nil
}

// --- repository access keys ---

func (s *Server) adminRepo(c *call) (*repo, bool) {
	r, ok := s.visibleRepo(c)
	if !ok {
		return nil, false
	}
	if s.repoPerm(c.p, r) < PermAdmin {
		forbidden(c.w, fmt.Sprintf("You must be an administrator of %s to manage its access keys.", r.fullName()))
		return nil, false
	}
	return r, true
}

func findDeployKey(c *call, keys []*DeployKey) (*DeployKey, bool) {
	id, err := strconv.Atoi(c.r.PathValue("id"))
	if err == nil {
		for _, k := range keys {
			if k.ID == id {
				return k, true
			}
		}
	}
	notFound(c.w, "Access key not found")
	return nil, false
}

// newDeployKey checks a posted access key against the duplicate rules: reusable across
// repositories and projects, once per target, never also an account key.
func (s *Server) newDeployKey(c *call, existing []*DeployKey, dupMsg string) (*DeployKey, bool) {
	b, ok := decodeKeyBody(c)
	if !ok {
		return nil, false
	}
	if b.Key == nil {
		badRequest(c.w, "key", "This field is required.")
		return nil, false
	}
	pub, comment, err := parseKey(*b.Key)
	if err != nil {
		badRequest(c.w, "key", err.Error())
		return nil, false
	}
	blob := string(pub.Marshal())
	for _, k := range existing {
		if s.deployBlobs[k.ID] == blob {
			badRequest(c.w, "key", dupMsg)
			return nil, false
		}
	}
	if s.accountKeyByBlob(blob) != nil {
		badRequest(c.w, "key", msgDupUserKey)
		return nil, false
	}
	s.nextID++
	k := &DeployKey{ID: s.nextID, Key: keyLine(pub), Comment: comment, Fingerprint: fingerprint(pub), AddedOn: s.now()}
	if b.Label != nil {
		k.Label = *b.Label
	}
	if c.p.user != nil {
		k.CreatedBy = c.p.user.AccountID
	}
	s.deployBlobs[k.ID] = blob
	return k, true
}

// --- project access keys ---

func (s *Server) adminProject(c *call) (*project, bool) {
	ws, key := c.r.PathValue("ws"), c.r.PathValue("proj")
	p, ok := s.project(ws, key)
	if !ok || !s.seesWorkspace(c.p, p.ws) {
		notFound(c.w, fmt.Sprintf("Project %s not found in workspace %s", key, ws))
		return nil, false
	}
	if !s.projectAdmin(c.p, p) {
		forbidden(c.w, fmt.Sprintf("You must be an administrator of project %s to manage its access keys.", p.key))
		return nil, false
	}
	return p, true
}

// --- OAuth 2.0 token endpoint ---

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]any{"error": code, "error_description": desc})
}

// oauthToken serves POST /site/oauth2/access_token for the client_credentials and
// refresh_token grants; the client authenticates with Basic id:secret or form fields.
func (s *Server) oauthToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "could not parse the form")
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.consumers[id]
	if c == nil || c.secret != secret {
		oauthError(w, http.StatusBadRequest, "invalid_client", "Invalid OAuth client credentials")
		return
	}
	switch gt := r.PostForm.Get("grant_type"); gt {
	case "client_credentials":
	case "refresh_token":
		rt := r.PostForm.Get("refresh_token")
		if s.refresh[rt] != c.id {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "Invalid refresh_token")
			return
		}
		delete(s.refresh, rt)
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", fmt.Sprintf("Unsupported grant type: %s", gt))
		return
	}
	access := newSecret("", 48)
	refresh := newSecret("", 16)
	s.tokens[access] = &token{kind: kindOAuth, user: c.owner, scopes: slices.Clone(c.scopes),
		expires: s.now().Add(OAuthTokenLifetime), id: "oauth:" + c.id}
	s.refresh[refresh] = c.id
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token":  access,
		"scopes":        strings.Join(c.scopes, " "),
		"expires_in":    int(OAuthTokenLifetime.Seconds()),
		"refresh_token": refresh,
		"token_type":    "bearer",
		"state":         "client_credentials",
	})
}

// --- access keys of a repository or a project: one set of handlers ---

// keyOwner is what holds access keys: a repository or a project. The handlers below are
// the same for both; only where the keys live, their JSON and the duplicate text differ.
type keyOwner interface {
	keys() *[]*DeployKey
	keyJSON(k *DeployKey) any
	dupMessage() string
	// stamp records the owner on a new key.
	stamp(k *DeployKey)
}

type repoKeys struct {
	s *Server
	r *repo
}

func (o repoKeys) keys() *[]*DeployKey      { return &o.r.keys }
func (o repoKeys) keyJSON(k *DeployKey) any { return o.s.repoKeyJSON(o.r, k) }
func (o repoKeys) dupMessage() string       { return msgDupRepoKey }
func (o repoKeys) stamp(k *DeployKey)       { k.Workspace, k.RepoSlug = o.r.ws.slug, o.r.slug }

type projectKeys struct {
	s *Server
	p *project
}

func (o projectKeys) keys() *[]*DeployKey      { return &o.p.keys }
func (o projectKeys) keyJSON(k *DeployKey) any { return o.s.projectKeyJSON(o.p, k) }
func (o projectKeys) dupMessage() string       { return msgDupProjectKey }
func (o projectKeys) stamp(k *DeployKey)       { k.Workspace, k.ProjectKey = o.p.ws.slug, o.p.key }

// ownerFunc finds the owner a request names, answering the error itself when it cannot.
// Called with s.mu held.
type ownerFunc func(c *call) (keyOwner, bool)

func (s *Server) repoOwner(c *call) (keyOwner, bool) {
	r, ok := s.adminRepo(c)
	return repoKeys{s, r}, ok
}

func (s *Server) projectOwner(c *call) (keyOwner, bool) {
	p, ok := s.adminProject(c)
	return projectKeys{s, p}, ok
}

func (s *Server) listKeys(c *call, owner ownerFunc) {
	s.mu.Lock()
	o, ok := owner(c)
	if !ok {
		s.mu.Unlock()
		return
	}
	keys := *o.keys()
	values := make([]any, 0, len(keys))
	for _, k := range keys {
		values = append(values, o.keyJSON(k))
	}
	s.mu.Unlock()
	s.paginate(c, values)
}

func (s *Server) addKey(c *call, owner ownerFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := owner(c)
	if !ok {
		return
	}
	keys := o.keys()
	k, ok := s.newDeployKey(c, *keys, o.dupMessage())
	if !ok {
		return
	}
	o.stamp(k)
	*keys = append(*keys, k)
	writeJSON(c.w, http.StatusOK, o.keyJSON(k))
}

func (s *Server) getKey(c *call, owner ownerFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := owner(c)
	if !ok {
		return
	}
	if k, ok := findDeployKey(c, *o.keys()); ok {
		writeJSON(c.w, http.StatusOK, o.keyJSON(k))
	}
}

// putKey changes a key's label (repository keys only: Bitbucket has no PUT for project
// keys).
func (s *Server) putKey(c *call, owner ownerFunc) {
	b, ok := decodeKeyBody(c)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := owner(c)
	if !ok {
		return
	}
	k, ok := findDeployKey(c, *o.keys())
	if !ok {
		return
	}
	if b.Label != nil {
		k.Label = *b.Label
	}
	writeJSON(c.w, http.StatusOK, o.keyJSON(k))
}

func (s *Server) deleteKey(c *call, owner ownerFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := owner(c)
	if !ok {
		return
	}
	keys := o.keys()
	k, ok := findDeployKey(c, *keys)
	if !ok {
		return
	}
	delete(s.deployBlobs, k.ID)
	*keys = slices.DeleteFunc(*keys, func(x *DeployKey) bool { return x == k })
	c.w.WriteHeader(http.StatusNoContent)
}

func (s *Server) listRepoKeys(c *call)     { s.listKeys(c, s.repoOwner) }
func (s *Server) addRepoKey(c *call)       { s.addKey(c, s.repoOwner) }
func (s *Server) getRepoKey(c *call)       { s.getKey(c, s.repoOwner) }
func (s *Server) putRepoKey(c *call)       { s.putKey(c, s.repoOwner) }
func (s *Server) deleteRepoKey(c *call)    { s.deleteKey(c, s.repoOwner) }
func (s *Server) listProjectKeys(c *call)  { s.listKeys(c, s.projectOwner) }
func (s *Server) addProjectKey(c *call)    { s.addKey(c, s.projectOwner) }
func (s *Server) getProjectKey(c *call)    { s.getKey(c, s.projectOwner) }
func (s *Server) deleteProjectKey(c *call) { s.deleteKey(c, s.projectOwner) }

// --- projects ---

// listProjects lists a workspace's projects by key: every project for a member or a
// workspace access token, the token's own for a project access token.
func (s *Server) listProjects(c *call) {
	s.mu.Lock()
	w, ok := s.workspaces[strings.ToLower(c.r.PathValue("ws"))]
	if !ok || !s.seesWorkspace(c.p, w) {
		s.mu.Unlock()
		notFound(c.w, fmt.Sprintf("No workspace with identifier '%s'.", c.r.PathValue("ws")))
		return
	}
	var values []any
	for _, key := range sortedKeys(w.projects) {
		p := w.projects[key]
		if c.p.tok.kind == kindProjectToken && c.p.tok.project != p {
			continue
		}
		if c.p.tok.kind == kindRepoToken && c.p.tok.repo.project != p {
			continue
		}
		values = append(values, s.projectJSON(p))
	}
	s.mu.Unlock()
	s.paginate(c, values)
}
