package bbapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Kind names a kind of credential; safe to print.
type Kind string

// The credentials Bitbucket Cloud accepts for the REST API (API.md §2).
const (
	// KindAPIToken is an Atlassian API token with scopes, sent as Basic email:token.
	KindAPIToken Kind = "api-token"
	// KindAccessToken is a repository, project or workspace access token, sent as Bearer.
	KindAccessToken Kind = "access-token"
	// KindOAuth is an OAuth consumer using the client credentials grant.
	KindOAuth Kind = "oauth"
)

// Credential authenticates requests. Implementations must be safe for concurrent use.
type Credential interface {
	// Kind is the kind of credential.
	Kind() Kind
	// String describes the credential without revealing it, e.g. "API token for a@b.c".
	String() string
	// Secrets lists every value that must never be shown: tokens, client secrets, and
	// encodings of them that could appear on the wire. Errors and the debug trace are
	// scrubbed of them.
	Secrets() []string
	// Authorize sets the Authorization header of req. env lets a credential fetch a token
	// through the client's own (traced, redirect-safe) transport and clock.
	Authorize(ctx context.Context, req *http.Request, env AuthEnv) error
}

// AuthEnv is what a Credential may use while authorizing.
type AuthEnv struct {
	// Do performs an HTTP exchange; the returned body is already read into memory.
	Do func(*http.Request) (*http.Response, error)
	// Now is the client's clock.
	Now func() time.Time
}

// Invalidator is implemented by credentials that cache a token. On a 401 the client
// calls Invalidate with the Authorization value that was refused; a true answer means a
// fresh token may work and the request is tried once more.
type Invalidator interface {
	Invalidate(authorization string) bool
}

// APIToken is an Atlassian API token with scopes, the replacement for app passwords. It
// is sent as HTTP Basic with the Atlassian account email as the user name; Bitbucket
// refuses it as Bearer.
type APIToken struct {
	Email string
	Token string
}

// Value receivers, so that printing an APIToken value with %v or %#v shows String and
// never the token.

func (t APIToken) Kind() Kind        { return KindAPIToken }
func (t APIToken) String() string    { return "API token for " + t.Email }
func (t APIToken) GoString() string  { return "bbapi.APIToken{" + t.String() + "}" }
func (t APIToken) Secrets() []string { return []string{t.Token, t.basic()} }
func (t APIToken) basic() string {
	return base64.StdEncoding.EncodeToString([]byte(t.Email + ":" + t.Token))
}

// Authorize sets Basic email:token.
func (t APIToken) Authorize(_ context.Context, req *http.Request, _ AuthEnv) error {
	if t.Email == "" || t.Token == "" {
		return errors.New("api token credential is missing the email or the token")
	}
	req.Header.Set("Authorization", "Basic "+t.basic())
	return nil
}

// AccessToken is a repository, project or workspace access token (a pseudo-user), sent
// as Bearer. It can manage access keys but not a person's SSH keys.
type AccessToken struct {
	Token string
}

func (t AccessToken) Kind() Kind        { return KindAccessToken }
func (t AccessToken) String() string    { return "access token" }
func (t AccessToken) GoString() string  { return "bbapi.AccessToken{access token}" }
func (t AccessToken) Secrets() []string { return []string{t.Token} }

// Authorize sets Bearer token.
func (t AccessToken) Authorize(_ context.Context, req *http.Request, _ AuthEnv) error {
	if t.Token == "" {
		return errors.New("access token credential is empty")
	}
	req.Header.Set("Authorization", "Bearer "+t.Token)
	return nil
}

// DefaultOAuthTokenURL is Bitbucket's OAuth 2.0 token endpoint.
const DefaultOAuthTokenURL = "https://bitbucket.org/site/oauth2/access_token"

// OAuthClient is an OAuth 2.0 consumer using the client credentials grant: it fetches an
// access token from TokenURL, sends it as Bearer, keeps it until shortly before
// expires_in runs out, and fetches a new one then or when Bitbucket refuses it.
// Use it by pointer; it caches the token.
type OAuthClient struct {
	ClientID     string
	ClientSecret string
	// TokenURL defaults to DefaultOAuthTokenURL.
	TokenURL string

	// mu guards the cached token and is held during a fetch; smu guards issued alone,
	// because the trace of that very fetch asks for Secrets.
	mu      sync.Mutex
	token   string
	expiry  time.Time
	fetches int
	smu     sync.Mutex
	issued  []string // every token ever fetched, for redaction
}

func (o *OAuthClient) Kind() Kind     { return KindOAuth }
func (o *OAuthClient) String() string { return "OAuth consumer " + o.ClientID }

// GoString keeps %#v from printing the client secret and the cached token.
func (o *OAuthClient) GoString() string { return "&bbapi.OAuthClient{" + o.String() + "}" }

func (o *OAuthClient) tokenURL() string {
	if o.TokenURL == "" {
		return DefaultOAuthTokenURL
	}
	return o.TokenURL
}

// Secrets includes the client secret and every token fetched so far.
func (o *OAuthClient) Secrets() []string {
	o.smu.Lock()
	defer o.smu.Unlock()
	basic := base64.StdEncoding.EncodeToString([]byte(o.ClientID + ":" + o.ClientSecret))
	return append([]string{o.ClientSecret, basic}, o.issued...)
}

// Invalidate forgets the cached token if it is the one that was refused.
func (o *OAuthClient) Invalidate(authorization string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.token == "" || authorization != "Bearer "+o.token {
		return false
	}
	o.token, o.expiry = "", time.Time{}
	return true
}

// Authorize sets Bearer with a cached or freshly fetched token. The lock is held during
// a fetch so concurrent requests wait for one token instead of each fetching their own.
func (o *OAuthClient) Authorize(ctx context.Context, req *http.Request, env AuthEnv) error {
	now := time.Now
	if env.Now != nil {
		now = env.Now
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.token == "" || !now().Before(o.expiry) {
		if err := o.fetch(ctx, env, now); err != nil {
			return err
		}
	}
	req.Header.Set("Authorization", "Bearer "+o.token)
	return nil
}

type tokenAnswer struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
	Scopes      string `json:"scopes"`
}

// fetch runs the client credentials grant. Called with o.mu held.
func (o *OAuthClient) fetch(ctx context.Context, env AuthEnv, now func() time.Time) error {
	if o.ClientID == "" || o.ClientSecret == "" {
		return errors.New("oauth credential is missing the client id or the client secret")
	}
	if env.Do == nil {
		return errors.New("oauth credential used without a client")
	}
	u, err := parseSafeURL(o.tokenURL())
	if err != nil {
		return fmt.Errorf("oauth token url: %w", err)
	}
	form := url.Values{"grant_type": {"client_credentials"}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(form))
	if err != nil {
		return fmt.Errorf("building oauth token request: %w", err)
	}
	req.SetBasicAuth(o.ClientID, o.ClientSecret)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	start := now()
	resp, err := env.Do(req)
	if err != nil {
		return fmt.Errorf("fetching oauth token: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	o.fetches++
	var ans tokenAnswer
	if resp.StatusCode/100 == 2 && json.Unmarshal(body, &ans) == nil && ans.AccessToken != "" {
		o.smu.Lock()
		o.issued = append(o.issued, ans.AccessToken)
		o.smu.Unlock()
		o.token = ans.AccessToken
		life := time.Duration(ans.ExpiresIn) * time.Second
		if ans.ExpiresIn <= 0 {
			life = time.Hour // Bitbucket's tokens live 2 hours; be conservative when unsaid
		}
		// Refresh a little early so a token does not run out between check and use.
		o.expiry = start.Add(life - min(time.Minute, life/10))
		return nil
	}
	scrub := func(s string) string { return redactAll(scrubSecrets(s, o.ClientSecret)) }
	e := parseErrorBody(resp, body, scrub)
	e.Method, e.URL, e.Route, e.CredentialKind = http.MethodPost, u.Redacted(), "oauth token", KindOAuth
	if resp.StatusCode/100 == 2 {
		e.Message = "the token endpoint answered without an access_token"
	}
	return rateLimited(e, resp, now())
}

// EnvCredentialError names the half of a credential pair that is missing from the
// environment.
type EnvCredentialError struct {
	Set, Missing string
	// What describes the missing variable, e.g. "the Atlassian account email".
	What string
}

func (e *EnvCredentialError) Error() string {
	what := e.Missing
	if e.What != "" {
		what += " (" + e.What + ")"
	}
	return fmt.Sprintf("incomplete credential in the environment: %s is set but %s is not", e.Set, what)
}

// CredentialFromEnv resolves the credential from the environment variables of DESIGN.md,
// in this order: BITBUCKET_EMAIL + BITBUCKET_API_TOKEN, BITBUCKET_ACCESS_TOKEN,
// BITBUCKET_CLIENT_ID + BITBUCKET_CLIENT_SECRET. It returns nil, nil when none is set,
// and an *EnvCredentialError naming the missing half when only one of a pair is (a
// caller that keeps the API token in the keychain may accept BITBUCKET_EMAIL alone by
// checking its Set field).
func CredentialFromEnv(lookupEnv func(string) (string, bool), oauthTokenURL string) (Credential, error) {
	get := func(k string) string {
		v, _ := lookupEnv(k)
		return strings.TrimSpace(v)
	}
	email, token := get("BITBUCKET_EMAIL"), get("BITBUCKET_API_TOKEN")
	access := get("BITBUCKET_ACCESS_TOKEN")
	id, secret := get("BITBUCKET_CLIENT_ID"), get("BITBUCKET_CLIENT_SECRET")
	switch {
	case token != "" && email == "":
		return nil, &EnvCredentialError{Set: "BITBUCKET_API_TOKEN", Missing: "BITBUCKET_EMAIL", What: "the Atlassian account email"}
	case token != "":
		return &APIToken{Email: email, Token: token}, nil
	case access != "":
		return &AccessToken{Token: access}, nil
	case id != "" && secret == "":
		return nil, &EnvCredentialError{Set: "BITBUCKET_CLIENT_ID", Missing: "BITBUCKET_CLIENT_SECRET"}
	case secret != "" && id == "":
		return nil, &EnvCredentialError{Set: "BITBUCKET_CLIENT_SECRET", Missing: "BITBUCKET_CLIENT_ID"}
	case id != "":
		if oauthTokenURL != "" {
			if _, err := parseSafeURL(oauthTokenURL); err != nil {
				return nil, fmt.Errorf("oauth token url: %w", err)
			}
		}
		return &OAuthClient{ClientID: id, ClientSecret: secret, TokenURL: oauthTokenURL}, nil
	case email != "":
		return nil, &EnvCredentialError{Set: "BITBUCKET_EMAIL", Missing: "BITBUCKET_API_TOKEN"}
	}
	return nil, nil
}
