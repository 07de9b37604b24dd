package bbapi

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bbkey/bbkey/internal/redact"
)

// debugBodyLen caps each body in the trace.
const debugBodyLen = 2048

// secretField matches token-bearing fields in JSON and form bodies, so a token the
// client has not learned yet (the answer of the token endpoint) is masked too.
var secretField = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?i)("(?:access_token|refresh_token|client_secret|token|password|secret)"\s*:\s*)"(?:[^"\\]|\\.)*"|((?:^|&)(?:access_token|refresh_token|client_secret|token|password)=)[^&\s]*`)
})

// redactAll masks what can be recognised without knowing the secret: URL userinfo,
// credential headers and token fields.
func redactAll(s string) string {
	s = redact.URLs(s)
	s = redact.Headers(s)
	return secretField().ReplaceAllStringFunc(s, func(m string) string {
		sub := secretField().FindStringSubmatch(m)
		if sub[1] != "" {
			return sub[1] + `"` + redact.Mask + `"`
		}
		return sub[2] + redact.Mask
	})
}

func scrubSecrets(s string, secrets ...string) string {
	// Longest first, so a secret that contains another is masked whole.
	secrets = slices.Clone(secrets)
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	return redact.Secrets(s, secrets...)
}

// Redact scrubs s of the credential's secrets and of recognisable credentials (URL
// userinfo, credential headers, token fields), as every error and the trace are.
func (c *Client) Redact(s string) string {
	if c.cred != nil {
		s = scrubSecrets(s, c.cred.Secrets()...)
	}
	return redactAll(s)
}

// RedactURL is Redact for a URL.
func (c *Client) RedactURL(u *url.URL) string { return c.Redact(redactURL(u)) }

func redactURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	return redact.URLs(u.Redacted())
}

func (c *Client) debugf(format string, args ...any) {
	if c.debug == nil {
		return
	}
	c.debugMu.Lock()
	defer c.debugMu.Unlock()
	fmt.Fprint(c.debug, c.Redact(fmt.Sprintf(format, args...)))
}

// trace writes one exchange to the debug writer as a single block, so concurrent
// requests do not interleave line by line.
func (c *Client) trace(req *http.Request, reqBody []byte, resp *http.Response, body []byte, start time.Time, err error) {
	if c.debug == nil {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "> %s %s\n", req.Method, redactURL(req.URL))
	writeHeaders(&b, "> ", req.Header)
	if len(reqBody) > 0 {
		fmt.Fprintf(&b, "> %s\n", snippet(reqBody, debugBodyLen))
	}
	elapsed := roundDur(c.now().Sub(start))
	switch {
	case resp == nil:
		fmt.Fprintf(&b, "< error after %s: %v\n", elapsed, err)
	default:
		if resp.Request != nil && resp.Request.URL.String() != req.URL.String() {
			fmt.Fprintf(&b, "< (redirected to %s)\n", redactURL(resp.Request.URL))
		}
		fmt.Fprintf(&b, "< %s %s (%s)\n", resp.Proto, resp.Status, elapsed)
		writeHeaders(&b, "< ", resp.Header)
		if len(body) > 0 {
			fmt.Fprintf(&b, "< %s\n", snippet(body, debugBodyLen))
		}
		if err != nil {
			fmt.Fprintf(&b, "< error: %v\n", err)
		}
	}
	b.WriteString("\n")
	c.debugMu.Lock()
	defer c.debugMu.Unlock()
	fmt.Fprint(c.debug, c.Redact(b.String()))
}

func writeHeaders(b *strings.Builder, prefix string, h http.Header) {
	for _, k := range slices.Sorted(maps.Keys(h)) {
		for _, v := range h[k] {
			switch http.CanonicalHeaderKey(k) {
			case "Authorization", "Proxy-Authorization":
				// Keep the scheme: "Basic" versus "Bearer" is what goes wrong most.
				scheme, _, _ := strings.Cut(v, " ")
				v = scheme + " " + redact.Mask
			case "Cookie", "Set-Cookie":
				v = redact.Mask
			}
			fmt.Fprintf(b, "%s%s: %s\n", prefix, k, v)
		}
	}
}
