package bbapi

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

// Caps FuzzDecodeError holds the decoder to: an error message is one readable line, not a
// dump of whatever a proxy sent.
const (
	fuzzMaxBody  = bodySnippetLen + len("…")
	fuzzMaxError = 4096
)

// In fuzz bodies the placeholders {{S}}, {{H}}, {{U}} and {{B}} stand for the configured
// secret as a server might echo it: verbatim, as HTML character references, as JSON \u
// escapes, and as the Basic credential. The fuzzer cannot guess a secret; it can move
// the placeholders around.
func fuzzErrorSeeds() [][]byte {
	return [][]byte{
		[]byte(`{"type":"error","error":{"message":"Bad request {{S}}","detail":"token {{S}} refused","fields":{"key":["{{S}}"]},"data":{"t":"{{U}}"}}}`),
		[]byte(`{"type":"error","error":{"message":"Someone has already added that SSH key.","fields":["{{U}}",{"a":"{{S}}"}]}}`),
		[]byte(`{"type":"error","error":{"message":"Your credentials lack one or more required privilege scopes.","detail":{"required":["write:ssh-key:bitbucket"],"granted":["{{S}}"]}}}`),
		[]byte(`{"error":"invalid_client","error_description":"client {{S}} is unknown"}`),
		[]byte(`{"error":"{{U}}"}`),
		[]byte("Login failed due to incorrect login credentials or method. {{S}}\n"),
		[]byte("<!DOCTYPE html>\n<html><head><title>502 {{H}}</title></head><body><h1>Bad Gateway {{S}}</h1></body></html>\n"),
		[]byte("<html><body><p>Authorization: Basic {{B}}</p><p>{{H}}</p></body></html>"),
		[]byte("<html><body>" + strings.Repeat("<p>x</p>", 200) + "{{S}}</body></html>"),
		[]byte(malformedJSONSeed),
		[]byte(`{"type":"error","error":{"message":"` + strings.Repeat("m", 5000) + `{{S}}"}}`),
		[]byte(`{"type":"error","error":{"message":null,"detail":["{{S}}"],"fields":"{{U}}"}}`),
		[]byte("Rate limit for this resource has been exceeded."),
		[]byte(strings.Repeat("b", 700) + "{{S}}"),
		[]byte("https://x-token-auth:{{S}}@bitbucket.org/ws/repo.git"),
		[]byte{0xff, 0xfe, '{', '{', 'S', '}', '}'},
		nil,
	}
}

// malformedJSONSeed is a JSON error envelope cut off mid-string, as bbapitest sends.
const malformedJSONSeed = `{"type": "error", "error": {"message": "trunc {{S}}`

// FuzzDecodeError drives the decoder every non-2xx answer goes through (Client.newError →
// parseErrorBody) with any status, content type, body and credential: it never panics,
// keeps every part of the error under the caps, stays valid UTF-8, and never shows the
// credential's secret, verbatim or in an encoding a reader (or a browser) would decode.
func FuzzDecodeError(f *testing.F) {
	for i, body := range fuzzErrorSeeds() {
		for _, status := range []int{400, 401, 403, 404, 409, 429, 500, 502, 503} {
			f.Add(status, []string{"application/json", "text/html", "text/plain", ""}[i%4], body, "ATATT3xFfGF0"+fmt.Sprint(i)+"abcdefghijklmnopqrstuvwxyz", uint8(i%3))
		}
	}
	f.Fuzz(func(t *testing.T, status int, contentType string, body []byte, rawSecret string, kind uint8) {
		if status < 100 || status > 999 {
			status = 400 + (status%200+200)%200
		}
		secret := tokenLike(rawSecret)
		var cred Credential
		switch kind % 3 {
		case 0:
			cred = APIToken{Email: "ada@example.com", Token: secret}
		case 1:
			cred = AccessToken{Token: secret}
		default:
			cred = &OAuthClient{ClientID: "client-id-1", ClientSecret: secret}
		}
		c, err := NewClient("http://127.0.0.1:1/2.0", cred)
		if err != nil {
			t.Fatal(err)
		}
		// The Basic credential the client would send, which a proxy may echo: email:token
		// for an API token, id:secret for an OAuth consumer; an access token has none.
		var basic string
		switch cr := cred.(type) {
		case APIToken:
			basic = cr.basic()
		case *OAuthClient:
			basic = base64.StdEncoding.EncodeToString([]byte(cr.ClientID + ":" + secret))
		default:
			basic = base64.StdEncoding.EncodeToString([]byte("x-token-auth:" + secret))
		}
		body = []byte(strings.NewReplacer(
			"{{S}}", secret,
			"{{H}}", htmlRefs(secret),
			"{{U}}", jsonEscapes(secret),
			"{{B}}", basic,
		).Replace(string(body)))
		resp := &http.Response{StatusCode: status, Header: http.Header{}}
		resp.Header.Set("Content-Type", contentType)
		resp.Header.Set("X-Oauth-Scopes", "read:user:bitbucket, "+secret)
		u, _ := url.Parse("http://127.0.0.1:1/2.0/users/%7Buuid%7D/ssh-keys")
		err = c.newError(&Call{Method: "POST", Route: "/users/{selected_user}/ssh-keys", URL: u}, resp, body)
		e, ok := err.(*ErrorResponse)
		if rl, isRL := err.(*RateLimitError); isRL {
			e, ok = rl.ErrorResponse, true
			if status != http.StatusTooManyRequests {
				t.Fatalf("status %d decoded as a rate limit", status)
			}
		}
		if !ok {
			t.Fatalf("newError returned %T", err)
		}
		if e.StatusCode != status {
			t.Fatalf("StatusCode = %d, want %d", e.StatusCode, status)
		}
		switch code := codeOf(e); code {
		case 0, 3, 4:
		default:
			t.Fatalf("ExitCode = %d", code)
		}
		if len(e.Body) > fuzzMaxBody {
			t.Fatalf("Body is %d bytes, cap %d", len(e.Body), fuzzMaxBody)
		}
		msg := err.Error()
		if len(msg) > fuzzMaxError {
			t.Fatalf("Error() is %d bytes, cap %d: %.200q…", len(msg), fuzzMaxError, msg)
		}
		shown := map[string]string{
			"Error()": msg, "Body": e.Body, "Message": e.Message, "Detail": e.Detail,
			"OAuthError": e.OAuthError, "Fields": string(e.Fields),
			"Hints": strings.Join(hintsOf(e), "\n"), "MissingScope": MissingScope(e),
			"RequiredScopes": strings.Join(e.RequiredScopes, " "), "GrantedScopes": strings.Join(e.GrantedScopes, " "),
		}
		for name, s := range shown {
			if !utf8.ValidString(s) && name != "Fields" {
				t.Fatalf("%s is not valid UTF-8: %q", name, s)
			}
			forms := []string{s, html.UnescapeString(s)}
			if name == "Fields" {
				forms = append(forms, jsonText([]byte(s)))
			}
			for _, form := range forms {
				if strings.Contains(form, secret) || (kind%3 != 1 && strings.Contains(form, basic)) {
					t.Fatalf("%s shows the secret %q: %q", name, secret, s)
				}
			}
		}
		if len(e.Fields) > 0 && !json.Valid(e.Fields) {
			t.Fatalf("Fields is not valid JSON: %q", e.Fields)
		}
	})
}

// tokenLike turns fuzz input into a plausible secret: 12 to 64 characters of the base64
// and base64url alphabets Atlassian, Bitbucket and OAuth tokens use. A secret of a few
// common letters would be found by chance in every message, which proves nothing.
func tokenLike(raw string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_="
	var b strings.Builder
	b.WriteString("T0k") // never a prefix of the words in bbapi's own messages
	for i := range min(len(raw), 61) {
		b.WriteByte(alphabet[int(raw[i])%len(alphabet)])
	}
	for b.Len() < 12 {
		b.WriteByte(alphabet[b.Len()*7%len(alphabet)])
	}
	return b.String()
}

func htmlRefs(s string) string {
	var b strings.Builder
	for _, r := range s {
		fmt.Fprintf(&b, "&#%d;", r)
	}
	return b.String()
}

func jsonEscapes(s string) string {
	var b strings.Builder
	for _, r := range s {
		fmt.Fprintf(&b, `\u%04x`, r)
	}
	return b.String()
}

// jsonText is every string and key of a JSON value, decoded, as a program reading it sees
// them.
func jsonText(raw []byte) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return ""
	}
	var b strings.Builder
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			b.WriteString(x + "\n")
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for k, e := range x {
				b.WriteString(k + "\n")
				walk(e)
			}
		}
	}
	walk(v)
	return b.String()
}
