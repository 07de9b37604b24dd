package bbapitest

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// dcSpecJSON is the subset of Atlassian's Bitbucket Data Center 9.2 OpenAPI spec
// (shared/bitbucket/openapi-datacenter-9.2.json) that bbkey touches: the paths it calls,
// unchanged, and the schemas they reference. TestDCSpecSubsetIsCurrent checks it against
// the shared file.
//
//go:embed testdata/openapi-datacenter-keys.json
var dcSpecJSON []byte

// DCSpecJSON returns the embedded Data Center OpenAPI subset as published, before the
// corrections WithSpecValidation applies in Data Center mode.
func DCSpecJSON() []byte { return bytes.Clone(dcSpecJSON) }

// DCSpecPaths are the paths (relative to the spec's {baseurl}/rest server) in the subset.
var DCSpecPaths = []string{
	"/api/latest/application-properties",
	"/api/latest/users/{userSlug}",
	"/api/latest/projects",
	"/api/latest/projects/{projectKey}",
	"/api/latest/projects/{projectKey}/repos",
	"/api/latest/projects/{projectKey}/repos/{repositorySlug}",
	"/api/latest/repos",
	"/ssh/latest/keys",
	"/ssh/latest/keys/{keyId}",
	"/ssh/latest/settings",
	"/keys/latest/projects/{projectKey}/repos/{repositorySlug}/ssh",
	"/keys/latest/projects/{projectKey}/repos/{repositorySlug}/ssh/{keyId}",
	"/keys/latest/projects/{projectKey}/ssh",
	"/keys/latest/projects/{projectKey}/ssh/{keyId}",
}

var loadDCSpec = sync.OnceValues(func() (*openapi3.T, error) {
	patched, err := correctDCSpec(dcSpecJSON)
	if err != nil {
		return nil, err
	}
	doc, err := openapi3.NewLoader().LoadFromData(patched)
	if err != nil {
		return nil, fmt.Errorf("load data center openapi spec: %w", err)
	}
	// The spec's one server is "http://{baseurl}/rest"; the router matches the variable's
	// default written out (the validator rewrites every request to that origin).
	if len(doc.Servers) != 1 || doc.Servers[0].URL != "http://{baseurl}/rest" {
		return nil, fmt.Errorf("data center openapi spec: servers not as expected")
	}
	doc.Servers[0] = &openapi3.Server{URL: "http://" + dcSpecHost + "/rest"}
	return doc, nil
})

func newDCSpecValidator() (*specValidator, error) {
	doc, err := loadDCSpec()
	if err != nil {
		return nil, err
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("data center openapi router: %w", err)
	}
	return &specValidator{router: router, prefix: "/rest/", scheme: "http", host: dcSpecHost, path: latestPath}, nil
}

// dcSpecHost is the default of the spec's {baseurl} server variable.
const dcSpecHost = "example.com:7990"

// latestPath maps the "1.0" form of a path, which real servers serve as well, to the
// spec's "latest" (/rest/ssh/1.0/keys → /rest/ssh/latest/keys).
func latestPath(p string) string {
	segs := strings.SplitN(p, "/", 5) // "", "rest", api, version, rest
	if len(segs) >= 4 && segs[1] == "rest" && segs[3] == "1.0" {
		segs[3] = "latest"
	}
	return strings.Join(segs, "/")
}

// correctDCSpec fixes the places where the published Data Center spec contradicts what
// the live server sends, and nothing else:
//   - RestErrorMessage.context is a non-nullable string, but the live API sends
//     "context": null for an error about no particular field (e.g. the 401
//     AuthorisationException {"context":null,"message":"You are not permitted to access
//     this resource",…} quoted in monitorjbl/stash-token-auth#11).
//   - RestRepository.links and RestProject.links (and the nested project and origin ones)
//     are writeOnly, so any answer carrying them fails; every live answer carries them
//     (links.clone with the ssh and http clone URLs, links.self).
func correctDCSpec(raw []byte) ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("parse data center openapi spec: %w", err)
	}
	schemas, _ := dig(doc, "components", "schemas").(map[string]any)
	if schemas == nil {
		return nil, fmt.Errorf("data center openapi spec has no components.schemas")
	}
	ctx, ok := dig(schemas, "RestErrorMessage", "properties", "context").(map[string]any)
	if !ok {
		return nil, fmt.Errorf("data center openapi spec: RestErrorMessage not as expected")
	}
	ctx["nullable"] = true
	n := 0
	var unWriteOnlyLinks func(v any)
	unWriteOnlyLinks = func(v any) {
		switch t := v.(type) {
		case map[string]any:
			if props, ok := t["properties"].(map[string]any); ok {
				if l, ok := props["links"].(map[string]any); ok && l["writeOnly"] == true {
					delete(l, "writeOnly")
					n++
				}
			}
			for _, x := range t {
				unWriteOnlyLinks(x)
			}
		case []any:
			for _, x := range t {
				unWriteOnlyLinks(x)
			}
		}
	}
	for _, name := range []string{"RestRepository", "RestProject", "RestSshAccessKey"} {
		unWriteOnlyLinks(schemas[name])
	}
	if n == 0 {
		return nil, fmt.Errorf("data center openapi spec: no writeOnly links found to correct")
	}
	return json.Marshal(doc)
}
