package dc

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/bbkey/bbkey/bbapi"
)

// The last line of defence: whatever builds the URL, no DELETE of the user-key
// collection leaves the client, in either version form, with or without a context path.
func TestUnscopedKeyDeleteIsRefused(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	c, err := NewClient(srv.URL+"/bitbucket", Token{Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/bitbucket/rest/ssh/latest/keys", "/bitbucket/rest/ssh/1.0/keys", "/bitbucket/rest/ssh/latest/keys/"} {
		u, _ := url.Parse(srv.URL + p)
		if _, err := c.Do(context.Background(), &bbapi.Call{Method: http.MethodDelete, Route: routeUserKeys, URL: u}); !errors.Is(err, ErrUnscopedKeyDelete) {
			t.Errorf("DELETE %s: %v", p, err)
		}
	}
	if hits.Load() != 0 {
		t.Fatalf("%d requests reached the server", hits.Load())
	}
	// A key id, or another method, goes through.
	u, _ := url.Parse(srv.URL + "/bitbucket/rest/ssh/latest/keys/7")
	if _, err := c.Do(context.Background(), &bbapi.Call{Method: http.MethodDelete, Route: routeUserKeys + routeKeySuffix, URL: u}); err != nil {
		t.Errorf("DELETE with an id: %v", err)
	}
	if c.BaseURL() != srv.URL+"/bitbucket/rest" || c.ServerURL() != srv.URL+"/bitbucket" {
		t.Errorf("base %s, server %s", c.BaseURL(), c.ServerURL())
	}
}
