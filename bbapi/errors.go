package bbapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
)

// ErrorResponse is a non-2xx answer from Bitbucket. Nothing in it is assumed to be JSON:
// a 401 may be plain text and a proxy may answer with HTML, so whatever did not parse is
// kept, capped, in Body. Every field has been scrubbed of the credential's secrets.
type ErrorResponse struct {
	Method string
	// URL is the request URL, redacted.
	URL        string
	StatusCode int
	// Message and Detail come from Bitbucket's {"type":"error","error":{…}} envelope (or
	// error_description of an OAuth token endpoint error).
	Message string
	Detail  string
	// Fields is error.fields as sent: sometimes an object of arrays, sometimes an array.
	Fields json.RawMessage
	// Body is a capped snippet of a body that was not a JSON error envelope.
	Body string
	// OAuthError is the "error" code of an OAuth token endpoint answer (invalid_client…).
	OAuthError string
	// Errors is Data Center's envelope, when the answer was one.
	Errors []ErrorMessage
	// RequiredScopes and GrantedScopes come from a 403's detail when Bitbucket lists them,
	// GrantedScopes else from the x-oauth-scopes header.
	RequiredScopes []string
	GrantedScopes  []string
	// Route is the endpoint template, e.g. "/users/{selected_user}/ssh-keys"; with
	// CredentialKind it lets the error say which scope is probably missing.
	Route          string
	CredentialKind Kind
}

func (e *ErrorResponse) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d %s", e.Method, e.URL, e.StatusCode, http.StatusText(e.StatusCode))
	if msg := e.summary(); msg != "" {
		b.WriteString(": ")
		b.WriteString(msg)
	}
	if len(e.Fields) > 0 && !bytes.Equal(e.Fields, []byte("null")) {
		fmt.Fprintf(&b, " (fields: %s)", snippet(compactJSON(e.Fields), 300))
	}
	return b.String()
}

func (e *ErrorResponse) summary() string {
	var msgs []string
	for _, m := range e.Errors {
		if s := strings.TrimSpace(m.Message); s != "" && m.Context != "" {
			msgs = append(msgs, m.Context+": "+s)
		} else if s != "" {
			msgs = append(msgs, s)
		}
	}
	switch {
	case len(msgs) > 0:
		return strings.Join(msgs, "; ")
	case e.Message != "" && e.Detail != "" && e.Detail != e.Message:
		return strings.TrimSpace(e.Message) + " (" + strings.TrimSpace(e.Detail) + ")"
	case e.Message != "":
		return strings.TrimSpace(e.Message)
	case e.Detail != "":
		return strings.TrimSpace(e.Detail)
	case e.Body != "":
		return bodySummary(e.Body)
	}
	return ""
}

func (e *ErrorResponse) unauthorized() bool {
	switch e.OAuthError {
	case "invalid_client", "unauthorized_client", "invalid_grant":
		return true
	}
	return e.StatusCode == http.StatusUnauthorized && !e.PermissionRefusal()
}

// PermissionRefusal reports a refusal for want of a permission, not of the credential: a
// 403, or Data Center's 401 with an AuthorisationException (the credential was accepted;
// what it acts as may not do this).
func (e *ErrorResponse) PermissionRefusal() bool {
	return e.StatusCode == http.StatusForbidden ||
		e.StatusCode == http.StatusUnauthorized && (e.Exception("AuthorisationException") || strings.Contains(e.text(), "not permitted"))
}

// Field reports whether one of Data Center's errors is about the request body's field
// name (e.g. "expiryDays" for a lifetime the server does not allow).
func (e *ErrorResponse) Field(name string) bool {
	return slices.ContainsFunc(e.Errors, func(m ErrorMessage) bool { return m.Context == name })
}

// Exception reports whether one of Data Center's errors names the Java exception whose
// simple name is simple.
func (e *ErrorResponse) Exception(simple string) bool {
	return slices.ContainsFunc(e.Errors, func(m ErrorMessage) bool {
		return m.ExceptionName == simple || strings.HasSuffix(m.ExceptionName, "."+simple)
	})
}

// text is every message of the answer, lowercased, for matching.
func (e *ErrorResponse) text() string {
	s := e.Message + " " + e.Detail + " " + string(e.Fields) + " " + e.Body
	for _, m := range e.Errors {
		s += " " + m.Message + " " + m.ExceptionName
	}
	return strings.ToLower(s)
}

// RepoAccessKeyWrite reports adding or deleting a repository's access key: what the
// spec lists as "inaccessible for Access tokens", answered with 403 "This API is not
// accessible by this authentication mechanism." (listing them, and project access keys,
// stay open to access tokens).
func RepoAccessKeyWrite(method, route string) bool {
	return method != http.MethodGet && strings.HasPrefix(route, routeRepoKeys)
}

// RateLimitError is a 429: Bitbucket's hourly request limit is used up. Bitbucket Cloud
// sends no Retry-After; Data Center and proxies may.
type RateLimitError struct {
	*ErrorResponse
	// RetryAfter is the wait the server asked for, when HasRetryAfter.
	RetryAfter    time.Duration
	HasRetryAfter bool
}

func (e *RateLimitError) Unwrap() error { return e.ErrorResponse }

// IsDuplicateKey reports Bitbucket refusing a key that is already registered: "Someone
// has already added that SSH key." (user keys, status unconfirmed: 400 or 409), "…already
// added that access key…" (access keys), Data Center's 409 DuplicateSshKeyException.
func IsDuplicateKey(err error) bool {
	e, ok := errors.AsType[*ErrorResponse](err)
	if !ok {
		return false
	}
	switch e.StatusCode {
	case http.StatusBadRequest, http.StatusConflict, http.StatusUnprocessableEntity:
	default:
		return false
	}
	for _, s := range []string{"already added", "already been added", "already exists", "already in use", "duplicatesshkeyexception"} {
		if strings.Contains(e.text(), s) {
			return true
		}
	}
	return false
}

// IsNotFound reports a 404.
func IsNotFound(err error) bool { return hasStatus(err, http.StatusNotFound) }

// IsForbidden reports a 403: authenticated, but missing a scope or a permission.
func IsForbidden(err error) bool { return hasStatus(err, http.StatusForbidden) }

// IsUnauthorized reports refused credentials: a 401, or an OAuth token endpoint refusing
// the client id and secret.
func IsUnauthorized(err error) bool {
	e, ok := errors.AsType[*ErrorResponse](err)
	return ok && e.unauthorized()
}

// IsRateLimited reports a 429, whether or not retries were attempted.
func IsRateLimited(err error) bool {
	_, ok := errors.AsType[*RateLimitError](err)
	return ok
}

func hasStatus(err error, code int) bool {
	e, ok := errors.AsType[*ErrorResponse](err)
	return ok && e.StatusCode == code
}

// MissingScope names the scope(s) a 403 (or 401) probably lacked, comma-separated: the
// required scopes Bitbucket listed less those granted, else what the endpoint needs for
// this kind of credential less the granted ones (x-oauth-scopes). "" when err is not such
// an error or nothing is known.
func MissingScope(err error) string {
	e, ok := errors.AsType[*ErrorResponse](err)
	if !ok || (e.StatusCode != http.StatusForbidden && e.StatusCode != http.StatusUnauthorized) {
		return ""
	}
	need := e.RequiredScopes
	if len(need) == 0 {
		need = ScopesFor(e.Method, e.Route, e.CredentialKind)
	}
	var missing []string
	for _, s := range need {
		if !slices.Contains(e.GrantedScopes, s) {
			missing = append(missing, s)
		}
	}
	if len(missing) == 0 {
		missing = need
	}
	return strings.Join(missing, ", ")
}

// endpointScopes lists what each endpoint needs: API tokens use Atlassian's granular
// scopes (spec x-atlassian-oauth2-scopes; write does not imply read), OAuth consumers and
// access tokens the classic ones (spec security.oauth2).
var endpointScopes = map[string]struct{ token, classic []string }{
	"GET /user":                                   {[]string{"read:user:bitbucket"}, []string{"account"}},
	"GET " + routeRepos:                           {[]string{"read:repository:bitbucket"}, []string{"repository"}},
	"GET " + routeProjects:                        {[]string{"read:project:bitbucket"}, []string{"project"}},
	"GET " + routeUserKeys:                        {[]string{"read:ssh-key:bitbucket"}, []string{"account"}},
	"POST " + routeUserKeys:                       {[]string{"read:ssh-key:bitbucket", "write:ssh-key:bitbucket"}, []string{"account:write"}},
	"DELETE " + routeUserKeys + routeKeySuffix:    {[]string{"delete:ssh-key:bitbucket"}, []string{"account:write"}},
	"GET " + routeRepoKeys:                        {[]string{"admin:repository:bitbucket"}, []string{"repository:admin"}},
	"POST " + routeRepoKeys:                       {[]string{"admin:repository:bitbucket", "write:ssh-key:bitbucket"}, []string{"repository:admin"}},
	"DELETE " + routeRepoKeys + routeKeySuffix:    {[]string{"admin:repository:bitbucket", "delete:ssh-key:bitbucket"}, []string{"repository:admin"}},
	"GET " + routeProjectKeys:                     {[]string{"admin:project:bitbucket"}, []string{"project:admin"}},
	"POST " + routeProjectKeys:                    {[]string{"admin:project:bitbucket", "write:ssh-key:bitbucket"}, []string{"project:admin"}},
	"DELETE " + routeProjectKeys + routeKeySuffix: {[]string{"admin:project:bitbucket", "delete:ssh-key:bitbucket"}, []string{"project:admin"}},
}

// ScopesFor lists the scopes the endpoint (method and route template) needs for this kind
// of credential; nil for an endpoint it does not know.
func ScopesFor(method, route string, k Kind) []string {
	s, ok := endpointScopes[method+" "+route]
	if !ok {
		return nil
	}
	if k == KindAPIToken || k == "" {
		return s.token
	}
	return s.classic
}

// ErrorMessage is one entry of Data Center's error envelope
// {"errors": [{"context", "message", "exceptionName"}]}.
type ErrorMessage struct {
	// Context names the offending field, when there is one.
	Context string `json:"context"`
	Message string `json:"message"`
	// ExceptionName is the Java exception, e.g.
	// "com.atlassian.bitbucket.AuthorisationException".
	ExceptionName string `json:"exceptionName"`
}

// errorEnvelope is Bitbucket Cloud's error body, the OAuth token endpoint's and Data
// Center's, read leniently: "error" is an object for the API and a string for OAuth,
// "detail" is usually a string but an object listing scopes on some 403s.
type errorEnvelope struct {
	Error            json.RawMessage `json:"error"`
	ErrorDescription string          `json:"error_description"`
	Errors           []ErrorMessage  `json:"errors"`
}

type errorObject struct {
	Message string          `json:"message"`
	Detail  json.RawMessage `json:"detail"`
	Fields  json.RawMessage `json:"fields"`
}

type scopeDetail struct {
	Required []string `json:"required"`
	Granted  []string `json:"granted"`
}

const (
	bodySnippetLen = 512
	// messageLen caps a message or detail from the envelope: a broken server may send
	// megabytes, and an error is read on a terminal.
	messageLen = 1000
)

// capText cuts a scrubbed message to messageLen (cutting after scrubbing, so a secret is
// masked whole rather than left as a prefix).
func capText(s string) string { return snippet([]byte(s), messageLen) }

func parseErrorBody(resp *http.Response, body []byte, scrub func(string) string) *ErrorResponse {
	e := &ErrorResponse{StatusCode: resp.StatusCode, GrantedScopes: scrubEach(splitScopes(resp.Header.Get("X-Oauth-Scopes")), scrub)}
	trimmed := bytes.TrimSpace(body)
	var env errorEnvelope
	isJSON := len(trimmed) > 0 && trimmed[0] == '{' && json.Unmarshal(trimmed, &env) == nil
	if isJSON && len(env.Errors) > 0 {
		for _, m := range env.Errors {
			e.Errors = append(e.Errors, ErrorMessage{Context: capText(scrub(m.Context)), Message: capText(scrub(m.Message)), ExceptionName: capText(scrub(m.ExceptionName))})
		}
		return e
	}
	if isJSON && len(env.Error) > 0 {
		var obj errorObject
		var code string
		switch {
		case json.Unmarshal(env.Error, &obj) == nil:
			e.Message = capText(scrub(obj.Message))
			e.Detail = capText(scrub(detailText(obj.Detail)))
			if sd, ok := decodeScopeDetail(obj.Detail); ok {
				e.RequiredScopes = scrubEach(sd.Required, scrub)
				if len(sd.Granted) > 0 {
					e.GrantedScopes = scrubEach(sd.Granted, scrub)
				}
				e.Detail = "required scopes: " + strings.Join(e.RequiredScopes, ", ")
				if len(sd.Granted) > 0 {
					e.Detail += "; granted: " + strings.Join(e.GrantedScopes, ", ")
				}
			}
			e.Fields = scrubJSON(obj.Fields, scrub)
			return e
		case json.Unmarshal(env.Error, &code) == nil:
			e.OAuthError = capText(scrub(code))
			e.Message = capText(scrub(env.ErrorDescription))
			if e.Message == "" {
				e.Message = e.OAuthError
			}
			return e
		}
	}
	e.Body = scrub(snippet(trimmed, bodySnippetLen))
	// bodySummary (and any browser) decodes character references, so a secret written as
	// &#84;&#48;… is still the secret: scrub the decoded form when it hides one.
	if un := html.UnescapeString(e.Body); scrub(un) != un {
		e.Body = scrub(un)
	}
	return e
}

// scrubEach scrubs scope names too: they come from the server and are shown in hints.
func scrubEach(ss []string, scrub func(string) string) []string {
	for i, s := range ss {
		ss[i] = scrub(s)
	}
	return ss
}

func detailText(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	if bytes.Equal(raw, []byte("null")) {
		return ""
	}
	return snippet(compactJSON(raw), 300)
}

func decodeScopeDetail(raw json.RawMessage) (scopeDetail, bool) {
	var sd scopeDetail
	if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &sd) != nil {
		return sd, false
	}
	return sd, len(sd.Required) > 0
}

func scrubJSON(raw json.RawMessage, scrub func(string) string) json.RawMessage {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	// Scrub the decoded strings rather than the raw text: a secret sent with \u escapes
	// is still the secret to whoever reads the JSON. raw is part of a body that decoded.
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	_ = dec.Decode(&v)
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(scrubValue(v, scrub))
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// scrubValue scrubs every string, and every object key, of a decoded JSON value.
func scrubValue(v any, scrub func(string) string) any {
	switch x := v.(type) {
	case string:
		return scrub(x)
	case []any:
		for i := range x {
			x[i] = scrubValue(x[i], scrub)
		}
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			out[scrub(k)] = scrubValue(val, scrub)
		}
		return out
	}
	return v
}

func compactJSON(raw []byte) []byte {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return raw
	}
	return b.Bytes()
}

// snippet returns at most n bytes of b as valid UTF-8, marked when cut.
func snippet(b []byte, n int) string {
	if len(b) <= n {
		return strings.ToValidUTF8(string(b), "?")
	}
	return strings.ToValidUTF8(string(b[:n]), "") + "…"
}

var (
	titleRe = regexp.MustCompile(`(?is)<title[^>]*>(.*?)</title>`)
	tagRe   = regexp.MustCompile(`(?s)<[^>]*>`)
	spaceRe = regexp.MustCompile(`\s+`)
)

// bodySummary makes a body that is not Bitbucket's JSON readable in one line: an HTML
// page by its title (or its text), plain text by its collapsed text.
func bodySummary(body string) string {
	s := body
	if looksHTML(s) {
		if m := titleRe.FindStringSubmatch(s); m != nil && strings.TrimSpace(m[1]) != "" {
			s = m[1]
		} else {
			s = tagRe.ReplaceAllString(s, " ")
		}
		s = html.UnescapeString(s)
	}
	s = strings.TrimSpace(spaceRe.ReplaceAllString(s, " "))
	if len(s) > 200 {
		s = snippet([]byte(s), 200)
	}
	return s
}

func looksHTML(s string) bool {
	l := strings.ToLower(strings.TrimSpace(s))
	return strings.HasPrefix(l, "<!doctype html") || strings.HasPrefix(l, "<html") || strings.Contains(l, "<body") || strings.Contains(l, "<title")
}
