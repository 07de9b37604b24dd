package bbapitest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Texts and exception names of Data Center answers. The 401 of a missing permission is
// the live server's (API.md §5; quoted in monitorjbl/stash-token-auth#11); the others are
// this package's own where the live text is not known.
const (
	dcExAuthorisation   = "com.atlassian.bitbucket.AuthorisationException"
	dcExBadCredentials  = "com.atlassian.bitbucket.auth.IncorrectPasswordAuthenticationException"
	dcExDuplicateKey    = "com.atlassian.bitbucket.ssh.DuplicateSshKeyException"
	dcExNoSuchRepo      = "com.atlassian.bitbucket.repository.NoSuchRepositoryException"
	dcExNoSuchProject   = "com.atlassian.bitbucket.project.NoSuchProjectException"
	dcExNoSuchUser      = "com.atlassian.bitbucket.user.NoSuchUserException"
	dcExNoSuchKey       = "com.atlassian.bitbucket.ssh.NoSuchSshKeyException"
	dcExValidation      = "com.atlassian.bitbucket.validation.ArgumentValidationException"
	dcExRateLimited     = "com.atlassian.bitbucket.ratelimit.RateLimitedException"
	dcMsgNotPermitted   = "You are not permitted to access this resource"
	dcMsgBadCredentials = "Authentication failed. Please check your credentials and try again."
	dcMsgDuplicateKey   = "The SSH key already exists on the system."
)

// dcPrincipal is who a Data Center request acts as: nil for anonymous.
type dcPrincipal struct {
	tok *dcToken
}

// dcCall is one Data Center request.
type dcCall struct {
	w http.ResponseWriter
	r *http.Request
	p *dcPrincipal // nil: anonymous
}

type dcRoute struct {
	pattern   string
	anonymous bool // served without a credential
	h         func(s *Server, c *dcCall)
}

var dcRoutes = []dcRoute{
	{pattern: "GET /rest/api/{v}/application-properties", anonymous: true, h: (*Server).dcAppProperties},
	{pattern: "GET /rest/api/{v}/users/{userSlug}", h: (*Server).dcGetUser},
	{pattern: "GET /rest/api/{v}/projects", h: (*Server).dcListProjects},
	{pattern: "GET /rest/api/{v}/projects/{projectKey}", h: (*Server).dcGetProject},
	{pattern: "GET /rest/api/{v}/projects/{projectKey}/repos", h: (*Server).dcListProjectRepos},
	{pattern: "GET /rest/api/{v}/projects/{projectKey}/repos/{repositorySlug}", h: (*Server).dcGetRepo},
	{pattern: "GET /rest/api/{v}/repos", h: (*Server).dcListRepos},
	{pattern: "GET /rest/ssh/{v}/keys", h: (*Server).dcListUserKeys},
	{pattern: "POST /rest/ssh/{v}/keys", h: (*Server).dcAddUserKey},
	{pattern: "DELETE /rest/ssh/{v}/keys", h: (*Server).dcDeleteAllUserKeys},
	{pattern: "GET /rest/ssh/{v}/keys/{keyId}", h: (*Server).dcGetUserKey},
	{pattern: "DELETE /rest/ssh/{v}/keys/{keyId}", h: (*Server).dcDeleteUserKey},
	{pattern: "GET /rest/ssh/{v}/settings", anonymous: true, h: (*Server).dcSSHSettings},
	{pattern: "GET /rest/keys/{v}/projects/{projectKey}/repos/{repositorySlug}/ssh", h: (*Server).dcListRepoAccessKeys},
	{pattern: "POST /rest/keys/{v}/projects/{projectKey}/repos/{repositorySlug}/ssh", h: (*Server).dcAddRepoAccessKey},
	{pattern: "GET /rest/keys/{v}/projects/{projectKey}/repos/{repositorySlug}/ssh/{keyId}", h: (*Server).dcGetRepoAccessKey},
	{pattern: "DELETE /rest/keys/{v}/projects/{projectKey}/repos/{repositorySlug}/ssh/{keyId}", h: (*Server).dcDeleteRepoAccessKey},
	{pattern: "GET /rest/keys/{v}/projects/{projectKey}/ssh", h: (*Server).dcListProjectAccessKeys},
	{pattern: "POST /rest/keys/{v}/projects/{projectKey}/ssh", h: (*Server).dcAddProjectAccessKey},
	{pattern: "GET /rest/keys/{v}/projects/{projectKey}/ssh/{keyId}", h: (*Server).dcGetProjectAccessKey},
	{pattern: "DELETE /rest/keys/{v}/projects/{projectKey}/ssh/{keyId}", h: (*Server).dcDeleteProjectAccessKey},
}

func (s *Server) dcHandler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range dcRoutes {
		mux.HandleFunc(rt.pattern, func(w http.ResponseWriter, r *http.Request) { s.dcServe(w, r, rt) })
	}
	var h http.Handler = mux
	if s.spec != nil {
		h = s.spec.middleware(s.cfg.specTB, s.closed, h)
	}
	return s.front(h)
}

func (s *Server) dcServe(w http.ResponseWriter, r *http.Request, rt dcRoute) {
	if v := r.PathValue("v"); v != "latest" && v != "1.0" {
		http.NotFound(w, r)
		return
	}
	c := &dcCall{w: w, r: r}
	h := r.Header.Get("Authorization")
	if h != "" {
		p, ok := s.dcAuthenticate(h)
		if !ok {
			dcError(w, http.StatusUnauthorized, "", dcMsgBadCredentials, dcExBadCredentials)
			return
		}
		c.p = p
		w.Header().Set("X-AUSERNAME", p.tok.user.Name)
		w.Header().Set("X-AUSERID", strconv.Itoa(p.tok.user.ID))
		if wait, limited := s.dcRateLimited(p.tok.user.Slug()); limited {
			w.Header().Set("Retry-After", strconv.Itoa(wait))
			dcError(w, http.StatusTooManyRequests, "", fmt.Sprintf("Rate limit exceeded; retry in %d seconds.", wait), dcExRateLimited)
			return
		}
	} else if !rt.anonymous {
		dcError(w, http.StatusUnauthorized, "", dcMsgNotPermitted, dcExAuthorisation)
		return
	}
	rt.h(s, c)
}

// dcAuthenticate accepts an HTTP access token as Bearer, or as the password of Basic with
// its user's name (personal tokens only, as on the live server).
func (s *Server) dcAuthenticate(h string) (*dcPrincipal, bool) {
	scheme, cred, _ := strings.Cut(h, " ")
	cred = strings.TrimSpace(cred)
	s.mu.Lock()
	defer s.mu.Unlock()
	var tok *dcToken
	switch strings.ToLower(scheme) {
	case "bearer":
		tok = s.dc.tokens[cred]
	case "basic":
		raw, err := base64.StdEncoding.DecodeString(cred)
		name, secret, ok := strings.Cut(string(raw), ":")
		if err != nil || !ok {
			return nil, false
		}
		tok = s.dc.tokens[secret]
		if tok == nil || tok.kind != dcPersonalToken || !strings.EqualFold(tok.user.Name, name) {
			return nil, false
		}
	}
	if tok == nil || !tok.expires.IsZero() && !s.now().Before(tok.expires) {
		return nil, false
	}
	return &dcPrincipal{tok: tok}, true
}

// dcRateLimited takes a token from the user's bucket; when it is empty it returns the
// seconds until one is back.
func (s *Server) dcRateLimited(user string) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.dc
	if d.rateCap <= 0 {
		return 0, false
	}
	now := s.now()
	b := d.buckets[user]
	if b == nil {
		b = &dcBucket{tokens: float64(d.rateCap), last: now}
		d.buckets[user] = b
	}
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = min(float64(d.rateCap), b.tokens+el*d.ratePerSec)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return 0, false
	}
	if d.ratePerSec <= 0 {
		return 3600, true
	}
	return max(int(math.Ceil((1-b.tokens)/d.ratePerSec)), 1), true
}

// --- responses ---

func dcError(w http.ResponseWriter, status int, context, msg, exception string) {
	e := map[string]any{"context": nil, "message": msg, "exceptionName": exception}
	if context != "" {
		e["context"] = context
	}
	writeJSON(w, status, map[string]any{"errors": []any{e}})
}

func dcNotPermitted(w http.ResponseWriter) {
	dcError(w, http.StatusUnauthorized, "", dcMsgNotPermitted, dcExAuthorisation)
}

// dcPage writes one page of values: start and limit from the query (limit 25 by
// default, at most 1000), size the number of values on the page, nextPageStart unless
// it is the last.
func dcPage(c *dcCall, values []any) {
	q := c.r.URL.Query()
	start, limit := 0, 25
	if v := q.Get("start"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			dcError(c.w, http.StatusBadRequest, "start", "start must be a non-negative integer", dcExValidation)
			return
		}
		start = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			dcError(c.w, http.StatusBadRequest, "limit", "limit must be a positive integer", dcExValidation)
			return
		}
		limit = min(n, 1000)
	}
	from := min(start, len(values))
	to := min(from+limit, len(values))
	body := map[string]any{"size": to - from, "limit": limit, "start": start, "isLastPage": to >= len(values), "values": nonNilAny(values[from:to])}
	if to < len(values) {
		body["nextPageStart"] = to
	}
	writeJSON(c.w, http.StatusOK, body)
}

func (s *Server) dcSSHHostPort() (string, int) {
	host, port, _ := net.SplitHostPort(s.SSHEndpoint())
	n, _ := strconv.Atoi(port)
	if s.cfg.dcSSHHost != "" {
		host = s.cfg.dcSSHHost
	}
	return host, n
}

func (s *Server) dcProjectJSON(p *dcProject) map[string]any {
	m := map[string]any{
		"id": p.id, "key": p.key, "name": p.name, "public": false, "type": "NORMAL",
		"links": map[string]any{"self": []any{map[string]any{"href": s.baseURL + "/projects/" + url.PathEscape(p.key)}}},
	}
	if p.owner != nil {
		m["type"] = "PERSONAL"
		m["owner"] = s.dcUserJSON(p.owner)
		m["links"] = map[string]any{"self": []any{map[string]any{"href": s.baseURL + "/users/" + url.PathEscape(p.owner.Slug())}}}
	}
	return m
}

func (s *Server) dcRepoJSON(r *dcRepo) map[string]any {
	host, port := s.dcSSHHostPort()
	proj := strings.ToLower(r.project.key)
	return map[string]any{
		"id": r.id, "slug": r.slug, "name": r.name, "scmId": "git", "state": "AVAILABLE",
		"statusMessage": "Available", "forkable": true, "public": false, "archived": false,
		"hierarchyId": fmt.Sprintf("%020x", r.id), "project": s.dcProjectJSON(r.project),
		"links": map[string]any{
			"clone": []any{
				map[string]any{"href": "ssh://git@" + net.JoinHostPort(host, strconv.Itoa(port)) + "/" + dcSSHPath(r), "name": "ssh"},
				map[string]any{"href": s.baseURL + "/scm/" + proj + "/" + r.slug + ".git", "name": "http"},
			},
			"self": []any{map[string]any{"href": s.baseURL + "/projects/" + url.PathEscape(r.project.key) + "/repos/" + r.slug + "/browse"}},
		},
	}
}

func (s *Server) dcUserJSON(u *dcUser) map[string]any {
	typ := "NORMAL"
	if u.service {
		typ = "SERVICE"
	}
	m := map[string]any{"id": u.ID, "name": u.Name, "slug": u.Slug(), "displayName": u.DisplayName, "active": true, "type": typ}
	if u.Email != "" {
		m["emailAddress"] = u.Email
	}
	return m
}

func dcKeyJSON(k *dcKey) map[string]any {
	m := map[string]any{
		"id": k.ID, "text": k.Text, "label": k.Label, "fingerprint": k.Fingerprint,
		"algorithmType": k.algo, "bitLength": k.bits,
		"createdDate": k.CreatedDate.UTC().Format(time.RFC3339Nano),
	}
	if k.ExpiryDays > 0 {
		m["expiryDays"] = k.ExpiryDays
	}
	if k.LastAuthenticated != nil {
		m["lastAuthenticated"] = strconv.FormatInt(k.LastAuthenticated.UnixMilli(), 10)
	}
	return m
}

// --- handlers (each takes s.mu itself) ---

func (s *Server) dcAppProperties(c *dcCall) {
	writeJSON(c.w, http.StatusOK, map[string]any{"version": "9.2.0", "buildNumber": "9002000", "buildDate": "1718000000000", "displayName": "Bitbucket"})
}

func (s *Server) dcGetUser(c *dcCall) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.dc.users[strings.ToLower(c.r.PathValue("userSlug"))]
	if !ok {
		dcError(c.w, http.StatusNotFound, "", fmt.Sprintf("User %s does not exist.", c.r.PathValue("userSlug")), dcExNoSuchUser)
		return
	}
	writeJSON(c.w, http.StatusOK, s.dcUserJSON(u))
}

// dcMinPerm reads a permission filter with the given prefix ("" when absent).
func dcMinPerm(c *dcCall, prefix string) (Permission, bool) {
	v := c.r.URL.Query().Get("permission")
	if v == "" {
		return PermRead, true
	}
	p, ok := parsePerm(prefix, v)
	if !ok {
		dcError(c.w, http.StatusBadRequest, "permission", fmt.Sprintf("%q is not a valid permission here", v), dcExValidation)
	}
	return p, ok
}

func (s *Server) dcListProjects(c *dcCall) {
	minPerm, ok := dcMinPerm(c, "PROJECT_")
	if !ok {
		return
	}
	name := strings.ToLower(c.r.URL.Query().Get("name"))
	s.mu.Lock()
	var vals []any
	for _, key := range s.dc.projOrder {
		p := s.dc.projects[key]
		if p.owner != nil || name != "" && !strings.Contains(strings.ToLower(p.name), name) {
			continue
		}
		perm := s.dc.tokenProjectPerm(c.p.tok, p)
		if perm < minPerm && !(minPerm == PermRead && s.dc.anyRepoVisible(c.p.tok, p)) {
			continue
		}
		vals = append(vals, s.dcProjectJSON(p))
	}
	s.mu.Unlock()
	dcPage(c, vals)
}

func (d *dcState) anyRepoVisible(t *dcToken, p *dcProject) bool {
	return slices.ContainsFunc(p.repos, func(r *dcRepo) bool { return d.tokenRepoPerm(t, r) >= PermRead })
}

// dcProjectFor finds the path's project and checks the principal may see it; on failure
// it has answered.
func (s *Server) dcProjectFor(c *dcCall) (*dcProject, bool) {
	p, ok := s.dc.project(c.r.PathValue("projectKey"))
	if !ok || s.dc.tokenProjectPerm(c.p.tok, p) < PermRead && !s.dc.anyRepoVisible(c.p.tok, p) {
		dcError(c.w, http.StatusNotFound, "", fmt.Sprintf("Project %s does not exist.", c.r.PathValue("projectKey")), dcExNoSuchProject)
		return nil, false
	}
	return p, true
}

// dcRepoFor finds the path's repository and checks the principal may read it; on
// failure it has answered.
func (s *Server) dcRepoFor(c *dcCall) (*dcRepo, bool) {
	r, ok := s.dc.repo(c.r.PathValue("projectKey"), c.r.PathValue("repositorySlug"))
	if !ok || s.dc.tokenRepoPerm(c.p.tok, r) < PermRead {
		dcError(c.w, http.StatusNotFound, "", fmt.Sprintf("Repository %s/%s does not exist.", c.r.PathValue("projectKey"), c.r.PathValue("repositorySlug")), dcExNoSuchRepo)
		return nil, false
	}
	return r, true
}

func (s *Server) dcGetProject(c *dcCall) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.dcProjectFor(c); ok {
		writeJSON(c.w, http.StatusOK, s.dcProjectJSON(p))
	}
}

func (s *Server) dcListProjectRepos(c *dcCall) {
	s.mu.Lock()
	p, ok := s.dcProjectFor(c)
	var vals []any
	if ok {
		for _, r := range p.repos {
			if s.dc.tokenRepoPerm(c.p.tok, r) >= PermRead {
				vals = append(vals, s.dcRepoJSON(r))
			}
		}
	}
	s.mu.Unlock()
	if ok {
		dcPage(c, vals)
	}
}

func (s *Server) dcGetRepo(c *dcCall) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.dcRepoFor(c); ok {
		writeJSON(c.w, http.StatusOK, s.dcRepoJSON(r))
	}
}

func (s *Server) dcListRepos(c *dcCall) {
	minPerm, ok := dcMinPerm(c, "REPO_")
	if !ok {
		return
	}
	q := c.r.URL.Query()
	name, projKey := strings.ToLower(q.Get("name")), strings.ToUpper(q.Get("projectkey"))
	s.mu.Lock()
	var vals []any
	for _, key := range s.dc.projOrder {
		p := s.dc.projects[key]
		if projKey != "" && p.key != projKey {
			continue
		}
		for _, r := range p.repos {
			if name != "" && !strings.Contains(strings.ToLower(r.name), name) {
				continue
			}
			if s.dc.tokenRepoPerm(c.p.tok, r) >= minPerm {
				vals = append(vals, s.dcRepoJSON(r))
			}
		}
	}
	s.mu.Unlock()
	dcPage(c, vals)
}

func (s *Server) dcSSHSettings(c *dcCall) {
	host, port := s.dcSSHHostPort()
	s.mu.Lock()
	fp := s.dc.hostFP
	s.mu.Unlock()
	if fp == "" {
		fp = fingerprint(s.hostKey.PublicKey())
	}
	writeJSON(c.w, http.StatusOK, map[string]any{
		"enabled": true, "accessKeysEnabled": true,
		"baseUrl": "ssh://" + net.JoinHostPort(host, strconv.Itoa(port)), "port": port,
		"fingerprint": map[string]any{"algorithm": "SHA256", "value": fp},
	})
}

// --- user keys ---

// dcKeyOwner is the user whose keys a /rest/ssh request manages: the principal's own
// user, or with ?user= another one (system admins only). On failure it has answered.
func (s *Server) dcKeyOwner(c *dcCall) (*dcUser, bool) {
	t := c.p.tok
	if t.kind != dcPersonalToken || s.dc.refuseKeys {
		dcNotPermitted(c.w)
		return nil, false
	}
	other := c.r.URL.Query().Get("user")
	if other == "" {
		other = c.r.URL.Query().Get("userName")
	}
	if other == "" || strings.EqualFold(other, t.user.Name) {
		return t.user, true
	}
	if !t.user.SysAdmin || t.projectPerm < PermAdmin {
		dcNotPermitted(c.w)
		return nil, false
	}
	u, ok := s.dc.users[strings.ToLower(other)]
	if !ok {
		dcError(c.w, http.StatusNotFound, "user", fmt.Sprintf("User %s does not exist.", other), dcExNoSuchUser)
		return nil, false
	}
	return u, true
}

func (s *Server) dcListUserKeys(c *dcCall) {
	s.mu.Lock()
	u, ok := s.dcKeyOwner(c)
	var vals []any
	if ok {
		for _, k := range s.dc.sortedKeys() {
			if k.owner == u {
				vals = append(vals, dcKeyJSON(k))
			}
		}
	}
	s.mu.Unlock()
	if ok {
		dcPage(c, vals)
	}
}

type dcKeyBody struct {
	Text       *string `json:"text"`
	Label      string  `json:"label"`
	ExpiryDays *int    `json:"expiryDays"`
}

// dcNewKey validates a key body and makes the key (not yet stored). On failure it has
// answered.
func (s *Server) dcNewKey(c *dcCall, b dcKeyBody, owner *dcUser) (*dcKey, bool) {
	if b.Text == nil {
		dcError(c.w, http.StatusBadRequest, "text", "A key text is required.", dcExValidation)
		return nil, false
	}
	pub, comment, err := parseKey(*b.Text)
	if err != nil {
		dcError(c.w, http.StatusBadRequest, "text", "The SSH key is invalid: "+err.Error(), dcExValidation)
		return nil, false
	}
	days := 0
	if b.ExpiryDays != nil {
		days = *b.ExpiryDays
	}
	if days < 0 {
		dcError(c.w, http.StatusBadRequest, "expiryDays", "expiryDays must not be negative.", dcExValidation)
		return nil, false
	}
	if m := s.dc.maxExpiry; m > 0 {
		if days > m {
			dcError(c.w, http.StatusBadRequest, "expiryDays", fmt.Sprintf("SSH keys may not be valid for more than %d days.", m), dcExValidation)
			return nil, false
		}
		if days == 0 {
			days = m
		}
	}
	label := b.Label
	if label == "" {
		label = comment
	}
	bits := 0
	if ck, ok := pub.(interface{ CryptoPublicKey() any }); ok {
		if sz, ok := ck.CryptoPublicKey().(interface{ Size() int }); ok {
			bits = sz.Size() * 8
		}
	}
	if bits == 0 && pub.Type() == "ssh-ed25519" {
		bits = 256
	}
	k := &dcKey{
		DCKey: DCKey{Text: keyLine(pub), Label: label, Fingerprint: fingerprint(pub), CreatedDate: s.now(), ExpiryDays: days},
		blob:  string(pub.Marshal()), algo: dcAlgo(pub.Type()), bits: bits, owner: owner,
	}
	if owner != nil {
		k.Owner = owner.Slug()
	}
	return k, true
}

func dcAlgo(t string) string {
	switch {
	case strings.Contains(t, "ed25519"):
		return "ED25519"
	case strings.Contains(t, "ecdsa"):
		return "ECDSA"
	case strings.Contains(t, "rsa"):
		return "RSA"
	}
	return strings.ToUpper(t)
}

func dcDecode(c *dcCall, v any) bool {
	data, err := io.ReadAll(io.LimitReader(c.r.Body, 1<<20))
	if err == nil && len(bytes.TrimSpace(data)) > 0 {
		err = json.Unmarshal(data, v)
	} else if err == nil {
		err = fmt.Errorf("empty body")
	}
	if err != nil {
		dcError(c.w, http.StatusBadRequest, "", "The request body is not valid JSON: "+err.Error(), dcExValidation)
		return false
	}
	return true
}

func (s *Server) dcAddUserKey(c *dcCall) {
	var b dcKeyBody
	if !dcDecode(c, &b) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.dcKeyOwner(c)
	if !ok {
		return
	}
	k, ok := s.dcNewKey(c, b, u)
	if !ok {
		return
	}
	if s.dc.keyByBlob(k.blob) != nil {
		dcError(c.w, http.StatusConflict, "text", dcMsgDuplicateKey, dcExDuplicateKey)
		return
	}
	k.ID = s.dc.newID()
	s.dc.keys[k.ID] = k
	writeJSON(c.w, http.StatusCreated, dcKeyJSON(k))
}

// dcDeleteAllUserKeys is DELETE /rest/ssh/latest/keys without an id: it deletes every key
// of the user, as the live server does. bbkey must never send it; the request log shows
// whether it did.
func (s *Server) dcDeleteAllUserKeys(c *dcCall) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.dcKeyOwner(c)
	if !ok {
		return
	}
	for id, k := range s.dc.keys {
		if k.owner == u {
			delete(s.dc.keys, id)
		}
	}
	c.w.WriteHeader(http.StatusNoContent)
}

// dcUserKey finds the path's key among the owner's keys; on failure it has answered.
func (s *Server) dcUserKey(c *dcCall) (*dcKey, bool) {
	u, ok := s.dcKeyOwner(c)
	if !ok {
		return nil, false
	}
	id, err := strconv.Atoi(c.r.PathValue("keyId"))
	k := s.dc.keys[id]
	if err != nil || k == nil || k.owner != u {
		dcError(c.w, http.StatusNotFound, "", fmt.Sprintf("SSH key %s does not exist.", c.r.PathValue("keyId")), dcExNoSuchKey)
		return nil, false
	}
	return k, true
}

func (s *Server) dcGetUserKey(c *dcCall) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k, ok := s.dcUserKey(c); ok {
		writeJSON(c.w, http.StatusOK, dcKeyJSON(k))
	}
}

func (s *Server) dcDeleteUserKey(c *dcCall) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k, ok := s.dcUserKey(c); ok {
		delete(s.dc.keys, k.ID)
		c.w.WriteHeader(http.StatusNoContent)
	}
}

// --- access keys ---

// dcKeyPlace is a repository's or a project's access-key grants, found from the path and
// checked for admin permission. On failure it has answered.
type dcKeyPlace struct {
	grants  map[int]Permission
	prefix  string // "REPO_" or "PROJECT_"
	repo    *dcRepo
	project *dcProject
}

func (s *Server) dcRepoKeyPlace(c *dcCall) (*dcKeyPlace, bool) {
	r, ok := s.dcRepoFor(c)
	if !ok {
		return nil, false
	}
	if s.dc.tokenRepoPerm(c.p.tok, r) < PermAdmin {
		dcNotPermitted(c.w)
		return nil, false
	}
	return &dcKeyPlace{grants: r.access, prefix: "REPO_", repo: r}, true
}

func (s *Server) dcProjectKeyPlace(c *dcCall) (*dcKeyPlace, bool) {
	p, ok := s.dcProjectFor(c)
	if !ok {
		return nil, false
	}
	if s.dc.tokenProjectPerm(c.p.tok, p) < PermAdmin {
		dcNotPermitted(c.w)
		return nil, false
	}
	return &dcKeyPlace{grants: p.access, prefix: "PROJECT_", project: p}, true
}

func (s *Server) dcAccessKeyJSON(pl *dcKeyPlace, k *dcKey) map[string]any {
	m := map[string]any{"key": dcKeyJSON(k), "permission": permName(pl.prefix, pl.grants[k.ID])}
	if pl.repo != nil {
		m["repository"] = s.dcRepoJSON(pl.repo)
	} else {
		m["project"] = s.dcProjectJSON(pl.project)
	}
	return m
}

func (s *Server) dcListAccessKeys(c *dcCall, place func(*dcCall) (*dcKeyPlace, bool)) {
	s.mu.Lock()
	pl, ok := place(c)
	var vals []any
	if ok {
		for _, id := range slices.Sorted(maps.Keys(pl.grants)) {
			if k := s.dc.keys[id]; k != nil {
				vals = append(vals, s.dcAccessKeyJSON(pl, k))
			}
		}
	}
	s.mu.Unlock()
	if ok {
		dcPage(c, vals)
	}
}

type dcAccessKeyBody struct {
	Key        *dcKeyBody `json:"key"`
	Permission string     `json:"permission"`
}

// dcAddAccessKey grants a key on the place. A key already granted there gets the new
// permission (201, chosen: the live behaviour is unconfirmed); a key known as another
// access key's is reused; a user's key is a 409.
func (s *Server) dcAddAccessKey(c *dcCall, place func(*dcCall) (*dcKeyPlace, bool)) {
	var b dcAccessKeyBody
	if !dcDecode(c, &b) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	pl, ok := place(c)
	if !ok {
		return
	}
	if b.Key == nil {
		dcError(c.w, http.StatusBadRequest, "key", "A key is required.", dcExValidation)
		return
	}
	perm, ok := parsePerm(pl.prefix, b.Permission)
	if !ok || perm > PermWrite {
		dcError(c.w, http.StatusBadRequest, "permission", fmt.Sprintf("The permission must be %sREAD or %sWRITE.", pl.prefix, pl.prefix), dcExValidation)
		return
	}
	k, ok := s.dcNewKey(c, *b.Key, nil)
	if !ok {
		return
	}
	if old := s.dc.keyByBlob(k.blob); old != nil {
		if old.owner != nil {
			dcError(c.w, http.StatusConflict, "text", dcMsgDuplicateKey, dcExDuplicateKey)
			return
		}
		k = old
	} else {
		k.ID = s.dc.newID()
		s.dc.keys[k.ID] = k
	}
	pl.grants[k.ID] = perm
	writeJSON(c.w, http.StatusCreated, s.dcAccessKeyJSON(pl, k))
}

func (s *Server) dcAccessKey(c *dcCall, pl *dcKeyPlace) (*dcKey, bool) {
	id, err := strconv.Atoi(c.r.PathValue("keyId"))
	k := s.dc.keys[id]
	if err != nil || k == nil || pl.grants[id] == PermNone {
		dcError(c.w, http.StatusNotFound, "", fmt.Sprintf("SSH key %s does not exist.", c.r.PathValue("keyId")), dcExNoSuchKey)
		return nil, false
	}
	return k, true
}

func (s *Server) dcGetAccessKey(c *dcCall, place func(*dcCall) (*dcKeyPlace, bool)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pl, ok := place(c)
	if !ok {
		return
	}
	if k, ok := s.dcAccessKey(c, pl); ok {
		writeJSON(c.w, http.StatusOK, s.dcAccessKeyJSON(pl, k))
	}
}

// dcDeleteAccessKey revokes the grant; a key granted nowhere any more is deleted.
func (s *Server) dcDeleteAccessKey(c *dcCall, place func(*dcCall) (*dcKeyPlace, bool)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pl, ok := place(c)
	if !ok {
		return
	}
	k, ok := s.dcAccessKey(c, pl)
	if !ok {
		return
	}
	delete(pl.grants, k.ID)
	if !s.dc.granted(k.ID) {
		delete(s.dc.keys, k.ID)
	}
	c.w.WriteHeader(http.StatusNoContent)
}

func (s *Server) dcListRepoAccessKeys(c *dcCall)  { s.dcListAccessKeys(c, s.dcRepoKeyPlace) }
func (s *Server) dcAddRepoAccessKey(c *dcCall)    { s.dcAddAccessKey(c, s.dcRepoKeyPlace) }
func (s *Server) dcGetRepoAccessKey(c *dcCall)    { s.dcGetAccessKey(c, s.dcRepoKeyPlace) }
func (s *Server) dcDeleteRepoAccessKey(c *dcCall) { s.dcDeleteAccessKey(c, s.dcRepoKeyPlace) }

func (s *Server) dcListProjectAccessKeys(c *dcCall)  { s.dcListAccessKeys(c, s.dcProjectKeyPlace) }
func (s *Server) dcAddProjectAccessKey(c *dcCall)    { s.dcAddAccessKey(c, s.dcProjectKeyPlace) }
func (s *Server) dcGetProjectAccessKey(c *dcCall)    { s.dcGetAccessKey(c, s.dcProjectKeyPlace) }
func (s *Server) dcDeleteProjectAccessKey(c *dcCall) { s.dcDeleteAccessKey(c, s.dcProjectKeyPlace) }
