package bbapitest

import (
	"net/http"
	"strconv"
	"strings"
)

// PageLenClient is an HTTP client (for bbapi.WithHTTPClient) that asks for pages of n
// values: it rewrites the page length of every request, Cloud's pagelen and Data
// Center's limit, so a test walks many pages of a short list.
func PageLenClient(n int) *http.Client {
	return &http.Client{Transport: pageLen{n}}
}

type pageLen struct{ n int }

func (p pageLen) RoundTrip(req *http.Request) (*http.Response, error) {
	q := req.URL.Query()
	changed := false
	for _, k := range []string{"pagelen", "limit"} {
		if q.Has(k) {
			q.Set(k, strconv.Itoa(p.n))
			changed = true
		}
	}
	if changed {
		req = req.Clone(req.Context())
		req.URL.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
	}
	return http.DefaultTransport.RoundTrip(req)
}
