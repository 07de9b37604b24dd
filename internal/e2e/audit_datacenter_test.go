package e2e

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/bbapi/dc"
)

// TestAuditDataCenter runs the real binary against a Data Center server (the emulator
// in Data Center mode over HTTP; BITBUCKET_SERVER and BITBUCKET_SERVER_TOKEN in the
// environment): a stale bbkey key that may push to OPS/api, a foreign key on OPS/web, a
// fresh bbkey key on project OPS, and a key on a project the token does not administer.
// The audit names the server, lists only what the token administers with each key's
// permission, flags the stale key; --workspace has no meaning there (exit 2);
// --revoke-flagged --yes deletes exactly the stale key, by id; CSV reads back.
func TestAuditDataCenter(t *testing.T) {
	w := NewWorld(t, bbapitest.WithDataCenter())
	d := w.Emu.DataCenter()
	ctx := context.Background()
	c, err := dc.NewClient(d.ServerURL(), dc.Token{Token: d.DefaultToken()})
	if err != nil {
		t.Fatal(err)
	}
	today := time.Now().UTC()
	stale, staleFP := newAuthorizedKey(t, "old-ci")
	foreign, foreignFP := newAuthorizedKey(t, "laptop")
	fresh, freshFP := newAuthorizedKey(t, "build")
	other, otherFP := newAuthorizedKey(t, "other")
	staleLabel := "bbkey:old-ci:" + today.AddDate(0, 0, -200).Format(time.DateOnly) + ":ttl=90d"
	for _, add := range []func() error{
		func() error {
			_, _, err := c.RepoKeys("OPS", "api").Add(ctx, dc.AddAccessKeyOptions{Text: stale, Label: staleLabel, Permission: dc.RepoWrite})
			return err
		},
		func() error {
			_, _, err := c.RepoKeys("OPS", "web").Add(ctx, dc.AddAccessKeyOptions{Text: foreign, Label: "laptop"})
			return err
		},
		func() error {
			_, _, err := c.ProjectKeys("OPS").Add(ctx, dc.AddAccessKeyOptions{Text: fresh, Label: "bbkey:build:" + today.Format(time.DateOnly) + ":ttl=90d"})
			return err
		},
	} {
		if err := add(); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.AddProject("WEB", "Web"); err != nil {
		t.Fatal(err)
	}
	if err := d.AddRepo("WEB", "site"); err != nil {
		t.Fatal(err)
	}
	tok, err := d.AddProjectToken("WEB", bbapitest.PermAdmin)
	if err != nil {
		t.Fatal(err)
	}
	wc, err := dc.NewClient(d.ServerURL(), dc.Token{Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := wc.RepoKeys("WEB", "site").Add(ctx, dc.AddAccessKeyOptions{Text: other, Label: "other"}); err != nil {
		t.Fatal(err)
	}

	r := w.Run("", "audit", "--json")
	if r.Code != 6 {
		t.Fatalf("want exit 6 (flagged): %s", r)
	}
	var doc struct {
		Workspace string `json:"workspace"`
		Server    string `json:"server"`
		Complete  bool   `json:"complete"`
		Keys      []struct {
			Fingerprint string   `json:"fingerprint"`
			Flags       []string `json:"flags"`
			Placements  []struct {
				Kind, Target, Permission string
				ID                       int64
			} `json:"placements"`
		} `json:"keys"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatalf("%v\n%s", err, r)
	}
	if doc.Server != d.ServerURL() || doc.Workspace != "" || !doc.Complete {
		t.Errorf("server %q workspace %q complete %v", doc.Server, doc.Workspace, doc.Complete)
	}
	got := map[string]string{}
	for _, k := range doc.Keys {
		for _, p := range k.Placements {
			got[k.Fingerprint] += p.Kind + ":" + p.Target + "=" + p.Permission + " "
		}
		if k.Fingerprint == staleFP && !slices.Contains(k.Flags, "past-ttl") {
			t.Errorf("the stale key's flags %v lack past-ttl", k.Flags)
		}
	}
	for fp, want := range map[string]string{staleFP: "repo:OPS/api=REPO_WRITE ", foreignFP: "repo:OPS/web=REPO_READ ", freshFP: "project:OPS=PROJECT_READ "} {
		if got[fp] != want {
			t.Errorf("%s: placements %q, want %q", fp, got[fp], want)
		}
	}
	if _, ok := got[otherFP]; ok {
		t.Error("a key of a project the token does not administer was listed")
	}

	if r := w.Run("", "audit", "--workspace", "acme"); r.Code != 2 || !strings.Contains(r.Stderr, "--workspace") {
		t.Errorf("--workspace on a Data Center server: %s", r)
	}

	r = w.Run("", "audit", "--format", "csv")
	rows, err := csv.NewReader(strings.NewReader(r.Stdout)).ReadAll()
	if err != nil || len(rows) != 4 {
		t.Fatalf("csv: %v, %d rows\n%s", err, len(rows), r)
	}

	w.Emu.ResetRequests()
	r = w.Run("", "audit", "--server", d.ServerURL(), "--revoke-flagged", "--yes", "--json")
	if r.Code != 6 { // the foreign key stays flagged: being foreign alone is not stale
		t.Fatalf("revoke: %s", r)
	}
	if n := len(d.RepoAccessKeys("OPS", "api")); n != 0 {
		t.Errorf("the stale key is still on OPS/api")
	}
	if len(d.RepoAccessKeys("OPS", "web")) != 1 || len(d.ProjectAccessKeys("OPS")) != 1 || len(d.RepoAccessKeys("WEB", "site")) != 1 {
		t.Error("a key that is not stale was deleted")
	}
	byID := regexp.MustCompile(`/repos/api/ssh/[0-9]+$`)
	var deletes []string
	for _, q := range w.Emu.Requests() {
		if q.Method == http.MethodDelete {
			deletes = append(deletes, q.Path)
		}
	}
	if len(deletes) != 1 || !byID.MatchString(deletes[0]) {
		t.Errorf("DELETEs %v, want the stale key's one, by id", deletes)
	}
}
