package bbapi_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/bbkey/bbkey/bbapi"
)

// TestEmulatorProjectKeyDeleteByID covers the call remove and rotate make for a project
// access key, DELETE by workspace, project and id (TestEmulatorAccessKeys deletes through
// the key's self link, as the emulator provides one): 204, then gone from the listing and
// from the emulator, and a second delete is a not-found.
func TestEmulatorProjectKeyDeleteByID(t *testing.T) {
	e := startEmulator(t)
	c := e.client(t, e.envCred(t))
	ctx := context.Background()
	key, fp := pubKey(t, "ci")
	pk := must[*bbapi.DeployKey](t)(c.ProjectKeys("acme", "OPS").Add(ctx, bbapi.AddDeployKeyOptions{Key: key, Label: "bbkey:ci:2026-11-22"}))
	if pk.ID == 0 || pk.SHA256() != fp {
		t.Fatalf("added %+v", pk)
	}
	if got := must[*bbapi.DeployKey](t)(c.ProjectKeys("acme", "OPS").Get(ctx, pk.ID)); got.ID != pk.ID || got.Label != "bbkey:ci:2026-11-22" {
		t.Errorf("get by id = %+v", got)
	}
	resp, err := c.ProjectKeys("acme", "OPS").Delete(ctx, pk.ID)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete by id: %v (%+v)", err, resp)
	}
	if n := len(all(t, c.ProjectKeys("acme", "OPS").List(ctx))); n != 0 {
		t.Errorf("%d project keys listed after the delete", n)
	}
	if n := len(e.srv.ProjectDeployKeys("acme", "OPS")); n != 0 {
		t.Errorf("the emulator still holds %d project keys", n)
	}
	if _, err := c.ProjectKeys("acme", "OPS").Delete(ctx, pk.ID); !bbapi.IsNotFound(err) {
		t.Errorf("second delete: %v, want not found", err)
	}
}
