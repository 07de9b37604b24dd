package dc

import (
	"context"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
)

// page is Data Center's paged envelope.
type page[T any] struct {
	Size          int  `json:"size"`
	Limit         int  `json:"limit"`
	IsLastPage    bool `json:"isLastPage"`
	Start         int  `json:"start"`
	NextPageStart *int `json:"nextPageStart"`
	Values        []T  `json:"values"`
}

// list iterates over every value of a paged collection: it asks for start=0 and the
// client's page length, then for each nextPageStart until isLastPage. A nextPageStart
// that is missing or does not move forward ends the iteration with an error rather than
// looping or silently stopping short.
func list[T any](ctx context.Context, c *Client, route string, u *url.URL, query url.Values) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		start := 0
		for {
			q := url.Values{}
			for k, v := range query {
				q[k] = v
			}
			q.Set("start", strconv.Itoa(start))
			q.Set("limit", strconv.Itoa(c.t.PageLen()))
			pu := *u
			var p page[T]
			if _, err := c.do(ctx, &call{method: http.MethodGet, route: route, url: withQuery(&pu, q), out: &p}); err != nil {
				yield(zero, err)
				return
			}
			for _, v := range p.Values {
				if !yield(v, nil) {
					return
				}
			}
			if p.IsLastPage {
				return
			}
			if p.NextPageStart == nil || *p.NextPageStart <= start {
				yield(zero, fmt.Errorf("listing %s: the server's page at start=%d is not the last but its nextPageStart does not move forward", route, start))
				return
			}
			start = *p.NextPageStart
		}
	}
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
