package bbapitest

import (
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// correctDCSpec changes exactly what the live server contradicts: the published spec
// rejects what Data Center sends, the corrected one accepts it, and both still reject
// real mistakes.
func TestCorrectDCSpec(t *testing.T) {
	raw, err := openapi3.NewLoader().LoadFromData(dcSpecJSON)
	if err != nil {
		t.Fatal(err)
	}
	fixed, err := loadDCSpec()
	if err != nil {
		t.Fatal(err)
	}
	errMsg := map[string]any{"context": nil, "message": "You are not permitted to access this resource", "exceptionName": "com.atlassian.bitbucket.AuthorisationException"}
	repo := map[string]any{"slug": "api", "name": "api", "project": map[string]any{"key": "OPS"},
		"links": map[string]any{"clone": []any{map[string]any{"href": "ssh://git@h:7999/ops/api.git", "name": "ssh"}}}}
	cases := []struct {
		schema       string
		value        any
		rawOK, fixOK bool
		scenario     string
	}{
		{"RestErrorMessage", errMsg, false, true, "context null"},
		{"RestErrorMessage", map[string]any{"context": "text", "message": 5}, false, false, "message not a string"},
		{"RestRepository", repo, false, true, "links in an answer"},
		{"RestRepository", map[string]any{"slug": 5}, false, false, "slug not a string"},
		{"RestSshKey", map[string]any{"id": 1, "text": "ssh-ed25519 AAAA", "expiryDays": "30"}, false, false, "expiryDays not an integer"},
	}
	for _, c := range cases {
		rawErr := raw.Components.Schemas[c.schema].Value.VisitJSON(c.value, openapi3.VisitAsResponse())
		fixErr := fixed.Components.Schemas[c.schema].Value.VisitJSON(c.value, openapi3.VisitAsResponse())
		if (rawErr == nil) != c.rawOK || (fixErr == nil) != c.fixOK {
			t.Errorf("%s: published spec err=%v, corrected err=%v", c.scenario, rawErr, fixErr)
		}
	}
}

func TestLatestPath(t *testing.T) {
	for in, want := range map[string]string{
		"/rest/ssh/1.0/keys":              "/rest/ssh/latest/keys",
		"/rest/keys/1.0/projects/OPS/ssh": "/rest/keys/latest/projects/OPS/ssh",
		"/rest/api/latest/repos":          "/rest/api/latest/repos",
		"/rest/api/latest/projects/1.0":   "/rest/api/latest/projects/1.0",
	} {
		if got := latestPath(in); got != want {
			t.Errorf("latestPath(%q) = %q, want %q", in, got, want)
		}
	}
}
