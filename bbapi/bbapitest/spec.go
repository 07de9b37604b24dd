package bbapitest

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// specJSON is the subset of Atlassian's Bitbucket Cloud OpenAPI spec that bbkey touches
// (a copy of shared/bitbucket/openapi-cloud-keys.json, so tests are hermetic).
//
//go:embed testdata/openapi-cloud-keys.json
var specJSON []byte

// projectsJSON is GET /workspaces/{workspace}/projects and its schema, copied verbatim
// from the full spec (shared/bitbucket/openapi-cloud.json): the keys subset leaves out
// the project listing `bbkey audit` makes, so it is merged in before validating.
//
//go:embed testdata/openapi-cloud-projects.json
var projectsJSON []byte

// SpecJSON returns the embedded OpenAPI document as published, before the corrections
// WithSpecValidation applies.
func SpecJSON() []byte { return bytes.Clone(specJSON) }

type specValidator struct {
	router routers.Router
	// prefix selects the paths validated; scheme and host are the spec's own server, so
	// the route is found whatever our port; path maps a served path to the spec's (nil:
	// unchanged).
	prefix, scheme, host string
	path                 func(string) string
}

var loadSpec = sync.OnceValues(func() (*openapi3.T, error) {
	merged, err := mergeSpec(specJSON, projectsJSON)
	if err != nil {
		return nil, err
	}
	patched, err := correctSpec(merged)
	if err != nil {
		return nil, err
	}
	doc, err := openapi3.NewLoader().LoadFromData(patched)
	if err != nil {
		return nil, fmt.Errorf("load openapi spec: %w", err)
	}
	return doc, nil
})

func newSpecValidator() (*specValidator, error) {
	doc, err := loadSpec()
	if err != nil {
		return nil, err
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("openapi router: %w", err)
	}
	return &specValidator{router: router, prefix: "/2.0/", scheme: "https", host: "api.bitbucket.org"}, nil
}

// correctSpec fixes the places where the published spec contradicts the live API as
// API.md documents it, and nothing else:
//   - `error.error` is additionalProperties:false with a string `detail`, but the live API
//     sends `fields` and, for a missing scope, an object `detail` ({"required": […],
//     "granted": […]}, as quoted from the live API in gildas/bitbucket-cli#56).
//   - `last_used` and `expires_on` are non-nullable strings, but the live API (and the
//     spec's own examples) send null for a key never used or without expiry.
//   - `object.type` is required everywhere, so a request body without "type" (what every
//     client sends) would fail; it is marked readOnly, which keeps it required in responses.
func correctSpec(raw []byte) ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("parse openapi spec: %w", err)
	}
	schemas, _ := dig(doc, "components", "schemas").(map[string]any)
	if schemas == nil {
		return nil, fmt.Errorf("openapi spec has no components.schemas")
	}
	if props, ok := dig(schemas, "error", "properties", "error", "properties").(map[string]any); ok {
		props["fields"] = map[string]any{}
		props["detail"] = map[string]any{}
	} else {
		return nil, fmt.Errorf("openapi spec: error schema not as expected")
	}
	if typ, ok := dig(schemas, "object", "properties", "type").(map[string]any); ok {
		typ["readOnly"] = true
	}
	for _, name := range []string{"ssh_key", "ssh_account_key", "deploy_key", "project_deploy_key"} {
		all, _ := dig(schemas, name, "allOf").([]any)
		for _, part := range all {
			props, _ := dig(part, "properties").(map[string]any)
			for _, field := range []string{"last_used", "expires_on"} {
				if f, ok := props[field].(map[string]any); ok {
					f["nullable"] = true
				}
			}
		}
	}
	return json.Marshal(doc)
}

// mergeSpec adds the paths and schemas of a supplement to the spec; a name both define
// is an error, so the supplement can never silently replace what the subset says.
func mergeSpec(raw, supplement []byte) ([]byte, error) {
	var doc, sup map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("parse openapi spec: %w", err)
	}
	if err := json.Unmarshal(supplement, &sup); err != nil {
		return nil, fmt.Errorf("parse openapi supplement: %w", err)
	}
	for _, section := range [][]string{{"paths"}, {"components", "schemas"}} {
		dst, _ := dig(doc, section...).(map[string]any)
		src, _ := dig(sup, section...).(map[string]any)
		if dst == nil {
			return nil, fmt.Errorf("openapi spec has no %s", strings.Join(section, "."))
		}
		for k, v := range src {
			if _, dup := dst[k]; dup {
				return nil, fmt.Errorf("openapi supplement redefines %s %s", strings.Join(section, "."), k)
			}
			dst[k] = v
		}
	}
	return json.Marshal(doc)
}

func dig(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

// middleware validates requests under /2.0 and the JSON responses to them. Plain-text
// answers (a failed Basic login, the rate limit) are what the live API sends and are
// outside what the spec can describe, so only JSON bodies are checked.
func (v *specValidator) middleware(tb testing.TB, closed <-chan struct{}, next http.Handler) http.Handler {
	report := func(format string, args ...any) {
		select {
		case <-closed: // the test may be over: testing.T must not be used any more
		default:
			tb.Errorf(format, args...)
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, v.prefix) {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "read body", http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))

		// Match against the spec's own server so the route is found whatever our port.
		vr := r.Clone(context.Background())
		p, rawp := r.URL.Path, r.URL.RawPath
		if v.path != nil {
			p = v.path(p)
			if rawp != "" {
				rawp = v.path(rawp)
			}
		}
		vr.URL = &url.URL{Scheme: v.scheme, Host: v.host, Path: p, RawPath: rawp, RawQuery: r.URL.RawQuery}
		vr.Host = v.host
		vr.Body = io.NopCloser(bytes.NewReader(body))
		route, params, err := v.router.FindRoute(vr)
		if err != nil {
			report("bbapitest: %s %s is not an operation of the Bitbucket spec: %v", r.Method, r.URL.Path, err)
			next.ServeHTTP(w, r)
			return
		}
		in := &openapi3filter.RequestValidationInput{
			Request: vr, PathParams: params, Route: route,
			Options: &openapi3filter.Options{
				AuthenticationFunc:         openapi3filter.NoopAuthenticationFunc,
				ExcludeReadOnlyValidations: true,
				MultiError:                 true,
			},
		}
		if err := openapi3filter.ValidateRequest(r.Context(), in); err != nil {
			report("bbapitest: request %s %s violates the Bitbucket spec: %v", r.Method, r.URL.Path, err)
		}

		rec := &bufferedResponse{header: http.Header{}}
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		if mt, _, _ := mime.ParseMediaType(rec.header.Get("Content-Type")); mt == "application/json" {
			out := &openapi3filter.ResponseValidationInput{
				RequestValidationInput: in,
				Status:                 rec.status,
				Header:                 rec.header,
				Body:                   io.NopCloser(bytes.NewReader(rec.body.Bytes())),
				Options:                &openapi3filter.Options{MultiError: true},
			}
			if err := openapi3filter.ValidateResponse(r.Context(), out); err != nil {
				report("bbapitest: response %d to %s %s violates the Bitbucket spec: %v\nbody: %s", rec.status, r.Method, r.URL.Path, err, rec.body.Bytes())
			}
		}
		for k, vs := range rec.header {
			w.Header()[k] = vs
		}
		w.WriteHeader(rec.status)
		_, _ = w.Write(rec.body.Bytes())
	})
}

type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }
func (b *bufferedResponse) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}
func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}
