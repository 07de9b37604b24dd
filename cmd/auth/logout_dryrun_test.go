package auth

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/bbkey/bbkey/internal/cmdutil"
	"github.com/bbkey/bbkey/internal/credstore"
	"github.com/bbkey/bbkey/internal/credstore/credstoretest"
	"github.com/bbkey/bbkey/internal/iostreams/iostreamstest"
)

// logout changes the keychain, so it takes --dry-run (DESIGN.md: "--dry-run where a
// command changes anything"): it says what it would remove and removes nothing.
func TestLogoutDryRun(t *testing.T) {
	store := &credstoretest.Fake{}
	if err := store.Set(t.Context(), credstore.DefaultAccount, credstore.Secret{Kind: credstore.KindAPIToken, Email: "a@b.c", Secret: []byte("t")}); err != nil {
		t.Fatal(err)
	}
	ios, _, out, errb := iostreamstest.Test()
	f := &cmdutil.Factory{IOStreams: ios, Globals: &cmdutil.GlobalOptions{JSON: true},
		LookupEnv: func(string) (string, bool) { return "", false },
		CredStore: func(context.Context, bool) (credstore.Store, error) { return store, nil }}
	cmd := newCmdLogout(f)
	cmd.SetArgs([]string{"--dry-run"})
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	if err := cmd.ExecuteContext(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Get(t.Context(), credstore.DefaultAccount); err != nil {
		t.Fatalf("a dry run removed the credential: %v", err)
	}
	var res struct {
		DryRun  bool `json:"dry_run"`
		Removed bool `json:"removed"`
	}
	if err := json.Unmarshal([]byte(out.String()), &res); err != nil || !res.DryRun || !res.Removed {
		t.Errorf("stdout %q (%v): want dry_run and removed (would be) true", out, err)
	}
	if !strings.Contains(errb.String(), "would remove") {
		t.Errorf("stderr %q does not say what would be removed", errb)
	}
}
