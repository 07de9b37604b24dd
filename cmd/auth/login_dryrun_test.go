package auth

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/bbkey/bbkey/internal/credstore"
)

// login changes the keychain, so it takes --dry-run: the token is read and checked with
// Bitbucket as for real, and nothing is stored.
func TestLoginDryRun(t *testing.T) {
	fx := newFixture(t)
	fx.globals.JSON = true
	if err := fx.run(t, "--dry-run"); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.store.Get(t.Context(), credstore.DefaultAccount); !errors.Is(err, credstore.ErrNotFound) {
		t.Fatalf("a dry run stored the token (err %v)", err)
	}
	var st struct {
		DryRun   bool `json:"dry_run"`
		LoggedIn bool `json:"logged_in"`
	}
	if err := json.Unmarshal([]byte(fx.stdout.String()), &st); err != nil || !st.DryRun || !st.LoggedIn {
		t.Errorf("stdout %q (%v)", fx.stdout.String(), err)
	}
	if !strings.Contains(fx.stderr.String(), "would store") {
		t.Errorf("stderr does not say what would be stored:\n%s", fx.stderr.String())
	}
	if got := fx.emu.Requests(); len(got) != 1 || got[0].Method != "GET" {
		t.Errorf("requests %+v, want the one GET /user check", got)
	}
}
