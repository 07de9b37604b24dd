package bbapitest

import (
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Messages of the real service (API.md §2, and the reports cited there).
const (
	msgLoginFailed        = "Login failed due to incorrect login credentials or method."
	msgTokenInvalid       = "Token is invalid, expired, or not supported for this endpoint."
	msgOAuthExpired       = "Access token expired. Use your refresh token to obtain a new access token."
	msgLackScopes         = "Your credentials lack one or more required privilege scopes."
	msgNotThisMechanism   = "This API is not accessible by this authentication mechanism"
	msgRateLimited        = "Rate limit for this resource has been exceeded."
	msgAuthRequired       = "Authentication is required to access this resource."
	msgDupUserKey         = "Someone has already added that SSH key."
	msgDupRepoKey         = "Someone has already added that access key to this repository."
	msgDupProjectKey      = "Someone has already added that access key to this project."
	msgKeyRecentlyDeleted = "This SSH key was deleted recently and cannot be added again yet."
)

// principal is who a request acts as.
type principal struct {
	scheme string // "basic" or "bearer"
	tok    *token
	user   *User // nil for access tokens
}

func (p *principal) isAccessToken() bool {
	switch p.tok.kind {
	case kindRepoToken, kindProjectToken, kindWorkspaceToken:
		return true
	}
	return false
}

func authScheme(r *http.Request) string {
	h := r.Header.Get("Authorization")
	scheme, _, _ := strings.Cut(h, " ")
	switch strings.ToLower(scheme) {
	case "basic":
		return "basic"
	case "bearer":
		return "bearer"
	case "":
		return ""
	}
	return "other"
}

// authenticate finds the credential of r. On failure it has written the real service's
// 401 and returns nil.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) *principal {
	h := r.Header.Get("Authorization")
	scheme, cred, _ := strings.Cut(h, " ")
	cred = strings.TrimSpace(cred)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	switch strings.ToLower(scheme) {
	case "":
		writeError(w, http.StatusUnauthorized, msgAuthRequired, nil, nil)
		return nil
	case "basic":
		raw, err := base64.StdEncoding.DecodeString(cred)
		email, secret, ok := strings.Cut(string(raw), ":")
		tok := s.tokens[secret]
		if err != nil || !ok || tok == nil || tok.kind != kindAPIToken || expired(tok, now) {
			basicFailed(w)
			return nil
		}
		u := s.users[tok.user]
		if u == nil || !strings.EqualFold(u.Email, email) {
			basicFailed(w)
			return nil
		}
		return &principal{scheme: "basic", tok: tok, user: u}
	case "bearer":
		tok := s.tokens[cred]
		if tok == nil || tok.kind == kindAPIToken {
			// An API token sent as Bearer gets the same answer as garbage (API.md §2).
			writeError(w, http.StatusUnauthorized, msgTokenInvalid, nil, nil)
			return nil
		}
		if expired(tok, now) {
			msg := msgTokenInvalid
			if tok.kind == kindOAuth {
				msg = msgOAuthExpired
			}
			writeError(w, http.StatusUnauthorized, msg, nil, nil)
			return nil
		}
		p := &principal{scheme: "bearer", tok: tok}
		if tok.kind == kindOAuth {
			p.user = s.users[tok.user]
		}
		return p
	}
	basicFailed(w)
	return nil
}

func expired(t *token, now time.Time) bool { return !t.expires.IsZero() && !now.Before(t.expires) }

func basicFailed(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Basic realm="Bitbucket.org HTTP"`)
	writePlain(w, http.StatusUnauthorized, msgLoginFailed)
}

// classicImplied lists, for a classic OAuth scope, the scopes that include it.
var classicImplied = map[string][]string{
	"account":          {"account:write"},
	"repository":       {"repository:write"},
	"project":          {"project:write", "project:admin"},
	"project:write":    {"project:admin"},
	"team":             {"team:write"},
	"pullrequest":      {"pullrequest:write"},
	"repository:write": nil, // repository:admin implies neither read nor write
}

func hasScope(granted []string, want string, classic bool) bool {
	if slices.Contains(granted, want) {
		return true
	}
	if classic {
		for _, alt := range classicImplied[want] {
			if slices.Contains(granted, alt) {
				return true
			}
		}
	}
	return false
}

// checkScopes writes the 403 of a missing scope and reports false when the credential lacks
// one the route needs. API tokens are checked against the API-token scopes (write does not
// imply read), OAuth and access tokens against the classic ones.
func checkScopes(w http.ResponseWriter, p *principal, rt *route) bool {
	required, classic := rt.apiScopes, false
	if p.tok.kind != kindAPIToken {
		required, classic = rt.classicScopes, true
	}
	for _, want := range required {
		if !hasScope(p.tok.scopes, want, classic) {
			detail := map[string]any{"required": required, "granted": nonNil(p.tok.scopes)}
			writeError(w, http.StatusForbidden, msgLackScopes, detail, nil)
			return false
		}
	}
	return true
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
