package bbapitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// route is one REST endpoint: the scopes it needs and its handler.
type route struct {
	pattern       string
	apiScopes     []string // Atlassian API token scopes (spec x-atlassian-oauth2-scopes)
	classicScopes []string // OAuth consumer and access token scopes (spec security oauth2)
	noAccessToken bool     // access tokens are pseudo-users: 403 here
	deployKeys    bool     // WithAccessTokensRefusedOnDeployKeys applies
	// tokenRefused: Bitbucket refuses access tokens here whatever their permission (the
	// spec's access-token section lists the repository deploy-key add, update and delete
	// as "inaccessible for Access tokens"): 403 msgNotThisMechanism.
	tokenRefused bool
	tokenNoScope bool // access tokens need no scope here (their own pseudo-user)
	h            func(s *Server, c *call)
}

// call is one authenticated request.
type call struct {
	w http.ResponseWriter
	r *http.Request
	p *principal
}

var routes = []*route{
	{pattern: "GET /2.0/user", apiScopes: []string{"read:user:bitbucket"}, classicScopes: []string{"account"}, tokenNoScope: true, h: (*Server).getUser},
	{pattern: "GET /2.0/user/workspaces", apiScopes: []string{"read:workspace:bitbucket"}, classicScopes: []string{"account"}, noAccessToken: true, h: (*Server).listWorkspaces},
	{pattern: "GET /2.0/users/{user}", apiScopes: []string{"read:user:bitbucket"}, classicScopes: nil, h: (*Server).getOtherUser},
	{pattern: "GET /2.0/users/{user}/ssh-keys", apiScopes: []string{"read:ssh-key:bitbucket"}, classicScopes: []string{"account"}, noAccessToken: true, h: (*Server).listUserKeys},
	{pattern: "POST /2.0/users/{user}/ssh-keys", apiScopes: []string{"read:ssh-key:bitbucket", "write:ssh-key:bitbucket"}, classicScopes: []string{"account:write"}, noAccessToken: true, h: (*Server).addUserKey},
	{pattern: "GET /2.0/users/{user}/ssh-keys/{key}", apiScopes: []string{"read:ssh-key:bitbucket"}, classicScopes: []string{"account"}, noAccessToken: true, h: (*Server).getUserKey},
	{pattern: "PUT /2.0/users/{user}/ssh-keys/{key}", apiScopes: []string{"read:ssh-key:bitbucket", "write:ssh-key:bitbucket"}, classicScopes: []string{"account:write"}, noAccessToken: true, h: (*Server).putUserKey},
	{pattern: "DELETE /2.0/users/{user}/ssh-keys/{key}", apiScopes: []string{"delete:ssh-key:bitbucket"}, classicScopes: []string{"account:write"}, noAccessToken: true, h: (*Server).deleteUserKey},
	{pattern: "GET /2.0/repositories/{ws}", apiScopes: []string{"read:repository:bitbucket"}, classicScopes: []string{"repository"}, h: (*Server).listRepos},
	{pattern: "GET /2.0/repositories/{ws}/{slug}", apiScopes: []string{"read:repository:bitbucket"}, classicScopes: []string{"repository"}, h: (*Server).getRepo},
	{pattern: "GET /2.0/repositories/{ws}/{slug}/deploy-keys", apiScopes: []string{"admin:repository:bitbucket"}, classicScopes: []string{"repository", "repository:admin"}, deployKeys: true, h: (*Server).listRepoKeys},
	{pattern: "POST /2.0/repositories/{ws}/{slug}/deploy-keys", apiScopes: []string{"admin:repository:bitbucket", "write:ssh-key:bitbucket"}, classicScopes: []string{"repository", "repository:admin"}, deployKeys: true, tokenRefused: true, h: (*Server).addRepoKey},
	{pattern: "GET /2.0/repositories/{ws}/{slug}/deploy-keys/{id}", apiScopes: []string{"admin:repository:bitbucket"}, classicScopes: []string{"repository", "repository:admin"}, deployKeys: true, h: (*Server).getRepoKey},
	{pattern: "PUT /2.0/repositories/{ws}/{slug}/deploy-keys/{id}", apiScopes: []string{"admin:repository:bitbucket", "write:ssh-key:bitbucket"}, classicScopes: []string{"repository", "repository:admin"}, deployKeys: true, tokenRefused: true, h: (*Server).putRepoKey},
	{pattern: "DELETE /2.0/repositories/{ws}/{slug}/deploy-keys/{id}", apiScopes: []string{"admin:repository:bitbucket", "delete:ssh-key:bitbucket"}, classicScopes: []string{"repository", "repository:admin"}, deployKeys: true, tokenRefused: true, h: (*Server).deleteRepoKey},
	{pattern: "GET /2.0/workspaces/{ws}/projects", apiScopes: []string{"read:project:bitbucket"}, classicScopes: []string{"project"}, h: (*Server).listProjects},
	{pattern: "GET /2.0/workspaces/{ws}/projects/{proj}/deploy-keys", apiScopes: []string{"admin:project:bitbucket"}, classicScopes: []string{"project", "project:admin"}, deployKeys: true, h: (*Server).listProjectKeys},
	{pattern: "POST /2.0/workspaces/{ws}/projects/{proj}/deploy-keys", apiScopes: []string{"admin:project:bitbucket", "write:ssh-key:bitbucket"}, classicScopes: []string{"project", "project:admin"}, deployKeys: true, h: (*Server).addProjectKey},
	{pattern: "GET /2.0/workspaces/{ws}/projects/{proj}/deploy-keys/{id}", apiScopes: []string{"admin:project:bitbucket"}, classicScopes: []string{"project", "project:admin"}, deployKeys: true, h: (*Server).getProjectKey},
	{pattern: "DELETE /2.0/workspaces/{ws}/projects/{proj}/deploy-keys/{id}", apiScopes: []string{"admin:project:bitbucket", "delete:ssh-key:bitbucket"}, classicScopes: []string{"project", "project:admin"}, deployKeys: true, h: (*Server).deleteProjectKey},
}

func (s *Server) handler() http.Handler {
	if s.dc != nil {
		return s.dcHandler()
	}
	mux := http.NewServeMux()
	for _, rt := range routes {
		mux.HandleFunc(rt.pattern, func(w http.ResponseWriter, r *http.Request) { s.serveRoute(w, r, rt) })
	}
	mux.HandleFunc("POST /site/oauth2/access_token", s.oauthToken)
	var h http.Handler = mux
	if s.spec != nil {
		h = s.spec.middleware(s.cfg.specTB, s.closed, h)
	}
	return s.front(h)
}

// front logs every request, applies latency and injected faults, then serves it.
func (s *Server) front(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		latency := s.latency
		s.mu.Unlock()
		entry := Request{
			Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, AuthScheme: authScheme(r),
			Repositories: strings.HasPrefix(r.URL.Path, "/2.0/repositories/"), Time: s.now(),
		}
		// The log is in order of arrival, and an entry has its status before the client
		// sees the answer: a client's next request (after a reset, say) is never logged
		// before this one, however the goroutines are scheduled.
		update := s.logArrival(entry)
		if latency > 0 {
			s.addHanging(1)
			t := time.NewTimer(latency)
			select {
			case <-t.C:
				s.addHanging(-1)
			case <-r.Context().Done():
				t.Stop()
				s.addHanging(-1)
				return
			case <-s.closed:
				t.Stop()
				s.addHanging(-1)
				return
			}
		}
		if f := s.takeFault(r); f != nil {
			update(func(e *Request) { e.Fault, e.Status = true, f.answerStatus() })
			s.serveFault(w, r, f)
			return
		}
		rec := &statusRecorder{ResponseWriter: w, onStatus: func(code int) { update(func(e *Request) { e.Status = code }) }}
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			update(func(e *Request) { e.Status = http.StatusOK })
		}
	})
}

// logArrival appends entry to the request log and returns how to update it later (a no-op
// once ResetRequests has emptied the log).
func (s *Server) logArrival(entry Request) func(func(*Request)) {
	s.reqMu.Lock()
	defer s.reqMu.Unlock()
	idx, gen := len(s.requests), s.requestsGen
	s.requests = append(s.requests, entry)
	return func(fn func(*Request)) {
		s.reqMu.Lock()
		defer s.reqMu.Unlock()
		if s.requestsGen == gen && idx < len(s.requests) {
			fn(&s.requests[idx])
		}
	}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	// onStatus is called with the status before it is sent.
	onStatus func(int)
}

func (r *statusRecorder) setStatus(code int) {
	if r.status == 0 {
		r.status = code
		if r.onStatus != nil {
			r.onStatus(code)
		}
	}
}

func (r *statusRecorder) WriteHeader(code int) {
	r.setStatus(code)
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.setStatus(http.StatusOK)
	return r.ResponseWriter.Write(b)
}

func (s *Server) serveRoute(w http.ResponseWriter, r *http.Request, rt *route) {
	p := s.authenticate(w, r)
	if p == nil {
		return
	}
	if p.tok.kind == kindAPIToken || p.tok.kind == kindOAuth {
		w.Header().Set("X-OAuth-Scopes", strings.Join(p.tok.scopes, ", "))
	}
	if strings.HasPrefix(r.URL.Path, "/2.0/repositories/") && s.overBudget(p.tok.id) {
		writePlain(w, http.StatusTooManyRequests, msgRateLimited)
		return
	}
	if p.isAccessToken() && (rt.noAccessToken || rt.tokenRefused || rt.deployKeys && s.cfg.refuseTokenKeys) {
		writeError(w, http.StatusForbidden, msgNotThisMechanism, nil, nil)
		return
	}
	if !(p.isAccessToken() && rt.tokenNoScope) && !checkScopes(w, p, rt) {
		return
	}
	rt.h(s, &call{w: w, r: r, p: p})
}

// --- response helpers ---

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writePlain(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg)
}

// writeError writes Bitbucket's error envelope. detail is a string or, for a missing scope,
// an object; fields names the offending request fields.
func writeError(w http.ResponseWriter, status int, msg string, detail any, fields map[string][]string) {
	e := map[string]any{"message": msg}
	if detail != nil {
		e["detail"] = detail
	}
	if fields != nil {
		e["fields"] = fields
	}
	writeJSON(w, status, map[string]any{"type": "error", "error": e})
}

func badRequest(w http.ResponseWriter, field, msg string) {
	writeError(w, http.StatusBadRequest, msg, nil, map[string][]string{field: {msg}})
}

func notFound(w http.ResponseWriter, msg string) {
	writeError(w, http.StatusNotFound, msg, nil, nil)
}

func forbidden(w http.ResponseWriter, msg string) {
	writeError(w, http.StatusForbidden, msg, nil, nil)
}

// paginate writes one page of values in Bitbucket's envelope, with pagelen 10 by default
// (100 at most) and absolute next/previous links that keep the rest of the query.
func (s *Server) paginate(c *call, values []any) {
	q := c.r.URL.Query()
	pagelen := 10
	if v := q.Get("pagelen"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(c.w, http.StatusBadRequest, "Invalid pagelen", nil, nil)
			return
		}
		pagelen = min(n, 100)
	}
	page := 1
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(c.w, http.StatusBadRequest, "Invalid page", nil, nil)
			return
		}
		page = n
	}
	start := (page - 1) * pagelen
	if page > 1 && start >= len(values) {
		notFound(c.w, "Invalid page")
		return
	}
	end := min(start+pagelen, len(values))
	body := map[string]any{"size": len(values), "page": page, "pagelen": pagelen, "values": nonNilAny(values[start:end])}
	link := func(p int) string {
		q.Set("page", strconv.Itoa(p))
		return s.baseURL + c.r.URL.EscapedPath() + "?" + q.Encode()
	}
	if end < len(values) {
		body["next"] = link(page + 1)
	}
	if page > 1 {
		body["previous"] = link(page - 1)
	}
	writeJSON(c.w, http.StatusOK, body)
}

func nonNilAny(v []any) []any {
	if v == nil {
		return []any{}
	}
	return v
}

// --- JSON shapes ---

func (s *Server) userURL(u *User) string {
	return s.apiURL + "/users/" + url.PathEscape(u.UUID)
}

func (s *Server) userJSON(u *User) map[string]any {
	return map[string]any{
		"type":           "user",
		"uuid":           u.UUID,
		"account_id":     u.AccountID,
		"display_name":   u.DisplayName,
		"nickname":       u.Nickname,
		"account_status": "active",
		"links": map[string]any{
			"self":   map[string]any{"href": s.userURL(u)},
			"html":   map[string]any{"href": "https://bitbucket.org/" + url.PathEscape(u.UUID) + "/"},
			"avatar": map[string]any{"href": "https://secure.gravatar.com/avatar/" + url.PathEscape(u.Nickname)},
		},
	}
}

func timeJSON(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func (s *Server) userKeyJSON(k *UserKey) map[string]any {
	u := s.users[k.Owner]
	m := map[string]any{
		"type":        "ssh_key",
		"uuid":        k.UUID,
		"key":         k.Key,
		"comment":     k.Comment,
		"label":       k.Label,
		"fingerprint": k.Fingerprint,
		"created_on":  timeJSON(&k.CreatedOn),
		"last_used":   timeJSON(k.LastUsed),
		"expires_on":  timeJSON(k.ExpiresOn),
		"links": map[string]any{"self": map[string]any{
			"href": s.userURL(u) + "/ssh-keys/" + stripBraces(k.UUID),
		}},
	}
	if u != nil {
		m["owner"] = s.userJSON(u)
	}
	return m
}

func (s *Server) repoURL(r *repo) string {
	return s.apiURL + "/repositories/" + url.PathEscape(r.ws.slug) + "/" + url.PathEscape(r.slug)
}

func (s *Server) projectJSON(p *project) map[string]any {
	return map[string]any{
		"type":       "project",
		"uuid":       p.uuid,
		"key":        p.key,
		"name":       p.name,
		"is_private": true,
		"created_on": timeJSON(&p.createdOn),
		"links": map[string]any{
			"html": map[string]any{"href": "https://bitbucket.org/" + p.ws.slug + "/workspace/projects/" + p.key},
		},
	}
}

func (s *Server) repoJSON(r *repo) map[string]any {
	return map[string]any{
		"type":       "repository",
		"uuid":       r.uuid,
		"name":       r.name,
		"slug":       r.slug,
		"full_name":  r.fullName(),
		"is_private": true,
		"scm":        "git",
		"created_on": timeJSON(&r.createdOn),
		"updated_on": timeJSON(&r.createdOn),
		"project":    s.projectJSON(r.project),
		"workspace":  map[string]any{"type": "workspace", "slug": r.ws.slug, "name": r.ws.name, "uuid": r.ws.uuid},
		"mainbranch": map[string]any{"type": "branch", "name": "main"},
		"links": map[string]any{
			"self": map[string]any{"href": s.repoURL(r)},
			"html": map[string]any{"href": "https://bitbucket.org/" + r.fullName()},
			"clone": []any{
				map[string]any{"name": "https", "href": "https://bitbucket.org/" + r.fullName() + ".git"},
				// scp-like, as the live API writes it (not a URI, though the spec says uri).
				map[string]any{"name": "ssh", "href": "git@ssh.bitbucket.org:" + r.fullName() + ".git"},
			},
		},
	}
}

func (s *Server) repoKeyJSON(r *repo, k *DeployKey) map[string]any {
	m := map[string]any{
		"type":    "deploy_key",
		"id":      k.ID,
		"key":     k.Key,
		"label":   k.Label,
		"comment": k.Comment,
		// The live API (and the spec's examples) say created_on; the schema says added_on.
		"created_on": timeJSON(&k.AddedOn),
		"last_used":  timeJSON(k.LastUsed),
		"repository": map[string]any{
			"type": "repository", "full_name": r.fullName(), "name": r.name, "uuid": r.uuid,
			"links": map[string]any{"self": map[string]any{"href": s.repoURL(r)}},
		},
		"links": map[string]any{"self": map[string]any{"href": s.repoURL(r) + "/deploy-keys/" + strconv.Itoa(k.ID)}},
	}
	if u := s.users[k.CreatedBy]; u != nil {
		m["owner"] = s.userJSON(u)
	}
	return m
}

func (s *Server) projectKeyJSON(p *project, k *DeployKey) map[string]any {
	m := map[string]any{
		"type":      "project_deploy_key",
		"id":        k.ID,
		"key":       k.Key,
		"label":     k.Label,
		"comment":   k.Comment,
		"added_on":  timeJSON(&k.AddedOn),
		"last_used": timeJSON(k.LastUsed),
		"project":   s.projectJSON(p),
		"links": map[string]any{"self": map[string]any{
			"href": s.apiURL + "/workspaces/" + p.ws.slug + "/projects/" + p.key + "/deploy-keys/" + strconv.Itoa(k.ID),
		}},
	}
	if u := s.users[k.CreatedBy]; u != nil {
		m["created_by"] = s.userJSON(u)
	}
	return m
}

// keyBody is what clients send to add or update a key.
type keyBody struct {
	Key   *string `json:"key"`
	Label *string `json:"label"`
}

func decodeKeyBody(c *call) (keyBody, bool) {
	var b keyBody
	data, err := io.ReadAll(io.LimitReader(c.r.Body, 1<<20))
	if err != nil {
		writeError(c.w, http.StatusBadRequest, "Bad request", "could not read the request body", nil)
		return b, false
	}
	if len(bytes.TrimSpace(data)) == 0 {
		badRequest(c.w, "key", "This field is required.")
		return b, false
	}
	if err := json.Unmarshal(data, &b); err != nil {
		writeError(c.w, http.StatusBadRequest, "Bad request", fmt.Sprintf("malformed JSON: %v", err), nil)
		return b, false
	}
	return b, true
}

// parseExpiry reads expires_on: an ISO-8601 date or date-time.
func parseExpiry(v string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.000Z0700", "2006-01-02T15:04:05Z0700", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}
