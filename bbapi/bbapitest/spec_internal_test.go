package bbapitest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// correctSpec changes exactly what the live API contradicts: the published spec rejects
// what Bitbucket sends, the corrected one accepts it, and both still reject real mistakes.
func TestCorrectSpec(t *testing.T) {
	raw, err := openapi3.NewLoader().LoadFromData(specJSON)
	if err != nil {
		t.Fatal(err)
	}
	fixed, err := loadSpec()
	if err != nil {
		t.Fatal(err)
	}
	key := map[string]any{"type": "ssh_key", "key": "ssh-ed25519 AAAA", "last_used": nil, "expires_on": nil}
	scopeErr := map[string]any{"type": "error", "error": map[string]any{
		"message": "Your credentials lack one or more required privilege scopes.",
		"detail":  map[string]any{"required": []any{"read:user:bitbucket"}},
		"fields":  map[string]any{"key": []any{"x"}},
	}}
	cases := []struct {
		schema   string
		value    any
		rawOK    bool
		fixedOK  bool
		scenario string
	}{
		{"ssh_account_key", key, false, true, "null last_used and expires_on"},
		{"error", scopeErr, false, true, "object detail and fields"},
		{"ssh_account_key", map[string]any{"key": "ssh-ed25519 AAAA"}, false, false, "response without type"},
		{"ssh_account_key", map[string]any{"type": "ssh_key", "key": 5}, false, false, "key not a string"},
		{"error", map[string]any{"type": "error", "error": map[string]any{"detail": "no message"}}, false, false, "error without message"},
	}
	for _, c := range cases {
		rawErr := raw.Components.Schemas[c.schema].Value.VisitJSON(c.value, openapi3.VisitAsResponse())
		fixedErr := fixed.Components.Schemas[c.schema].Value.VisitJSON(c.value, openapi3.VisitAsResponse())
		if (rawErr == nil) != c.rawOK || (fixedErr == nil) != c.fixedOK {
			t.Errorf("%s: published spec err=%v, corrected err=%v", c.scenario, rawErr, fixedErr)
		}
	}
	// A request body may leave out "type" once it is readOnly.
	body := map[string]any{"key": "ssh-ed25519 AAAA", "label": "x"}
	if err := raw.Components.Schemas["ssh_account_key"].Value.VisitJSON(body, openapi3.VisitAsRequest()); err == nil {
		t.Error("published spec accepts a request body without type; the correction would be unneeded")
	}
	if err := fixed.Components.Schemas["ssh_account_key"].Value.VisitJSON(body, openapi3.VisitAsRequest(), openapi3.DisableReadOnlyValidation()); err != nil {
		t.Errorf("corrected spec rejects a request body without type: %v", err)
	}
}

// The projects supplement is the full spec's own text for that path and schema (when
// shared/ sits beside the repository), and the merged spec routes the listing.
func TestSpecProjectsSupplement(t *testing.T) {
	doc, err := loadSpec()
	if err != nil {
		t.Fatal(err)
	}
	if doc.Paths.Find("/workspaces/{workspace}/projects") == nil || doc.Components.Schemas["paginated_projects"] == nil {
		t.Fatal("merged spec lacks the project listing")
	}
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", "bitbucket", "openapi-cloud.json"))
	if err != nil {
		t.Skipf("no shared full spec beside the repository: %v", err)
	}
	var full, sup map[string]any
	if err := json.Unmarshal(raw, &full); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(projectsJSON, &sup); err != nil {
		t.Fatal(err)
	}
	path, _ := dig(full, "paths", "/workspaces/{workspace}/projects").(map[string]any)
	delete(path, "post") // bbkey never creates projects
	for _, c := range []struct {
		want, got any
		what      string
	}{
		{path, dig(sup, "paths", "/workspaces/{workspace}/projects"), "path"},
		{dig(full, "components", "schemas", "paginated_projects"), dig(sup, "components", "schemas", "paginated_projects"), "schema"},
	} {
		if !reflect.DeepEqual(c.want, c.got) {
			t.Errorf("testdata/openapi-cloud-projects.json: the %s differs from the full spec: copy it again", c.what)
		}
	}
}
