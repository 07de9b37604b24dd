package bbapi

import (
	"context"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// page is Bitbucket's paginated envelope; only next and values matter, because the
// client never builds page URLs itself.
type page[T any] struct {
	Next   string `json:"next"`
	Values []T    `json:"values"`
}

// list iterates over every value of a paginated collection, asking for the client's
// page length and then following `next` until it is absent. A `next` that leaves the API
// or repeats a page ends the iteration with an error.
func list[T any](ctx context.Context, c *Client, route string, u *url.URL, query url.Values) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		q := url.Values{}
		for k, v := range query {
			q[k] = v
		}
		q.Set("pagelen", strconv.Itoa(c.pageLen))
		first := *u
		first.RawQuery = encodeQuery(q)
		seen := map[string]bool{}
		for next := &first; next != nil; {
			key := next.String()
			if seen[key] {
				yield(zero, fmt.Errorf("listing %s: bitbucket's next link repeats %s", route, c.redactURL(next)))
				return
			}
			seen[key] = true
			var p page[T]
			if _, err := c.do(ctx, &call{endpoint: endpoint{method: http.MethodGet, route: route, url: next}, out: &p}); err != nil {
				yield(zero, err)
				return
			}
			for _, v := range p.Values {
				if !yield(v, nil) {
					return
				}
			}
			if p.Next == "" {
				return
			}
			n, err := c.apiURL(p.Next)
			if err != nil {
				yield(zero, fmt.Errorf("listing %s: %w", route, err))
				return
			}
			next = n
		}
	}
}

// encodeQuery encodes spaces as %20: Bitbucket's filter language (q=name ~ "api") is
// full of them, and %20 is read the same by every server, unlike +.
func encodeQuery(q url.Values) string {
	return strings.ReplaceAll(q.Encode(), "+", "%20")
}

// collect drains an iterator into a slice, stopping at the first error.
func collect[T any](seq iter.Seq2[T, error]) ([]T, error) {
	var out []T
	for v, err := range seq {
		if err != nil {
			return out, err
		}
		out = append(out, v)
	}
	return out, nil
}
