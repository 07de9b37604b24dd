package auth

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/cmdutil"
	"github.com/bbkey/bbkey/internal/credstore"
	"github.com/bbkey/bbkey/internal/credstore/credstoretest"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/iostreams/iostreamstest"
	"github.com/bbkey/bbkey/internal/prompt"
	"github.com/bbkey/bbkey/internal/prompt/prompttest"
	"github.com/bbkey/bbkey/internal/testutil"
)

type fixture struct {
	emu      *bbapitest.Server
	env      map[string]string
	ios      *iostreams.IOStreams
	stdout   *iostreamstest.SyncBuffer
	stderr   *iostreamstest.SyncBuffer
	globals  *cmdutil.GlobalOptions
	prompter *prompttest.Fake
	// store is used unless openStore is set.
	store     *credstoretest.Fake
	openStore func(ctx context.Context, allowInsecure bool) (credstore.Store, error)
}

func newFixture(t *testing.T) *fixture {
	fx := &fixture{
		emu:      bbapitest.Start(t),
		env:      map[string]string{},
		globals:  &cmdutil.GlobalOptions{MaxWait: 5 * time.Second},
		prompter: &prompttest.Fake{},
		store:    &credstoretest.Fake{},
	}
	for _, kv := range fx.emu.Env() {
		k, v, _ := strings.Cut(kv, "=")
		fx.env[k] = v
	}
	fx.ios, _, fx.stdout, fx.stderr = iostreamstest.Test()
	return fx
}

func (fx *fixture) run(t *testing.T, args ...string) error {
	t.Helper()
	f := &cmdutil.Factory{
		AppVersion: "test",
		IOStreams:  fx.ios,
		Globals:    fx.globals,
		LookupEnv: func(k string) (string, bool) {
			v, ok := fx.env[k]
			return v, ok
		},
		Now:        func() time.Time { return time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC) },
		HTTPClient: func() *http.Client { return &http.Client{Timeout: 10 * time.Second} },
		Prompter:   func() prompt.Prompter { return fx.prompter },
		CredStore: func(ctx context.Context, allowInsecure bool) (credstore.Store, error) {
			if fx.openStore != nil {
				return fx.openStore(ctx, allowInsecure)
			}
			return fx.store, nil
		},
	}
	cmd := newCmdLogin(f)
	cmd.SetArgs(args)
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	return cmd.ExecuteContext(t.Context())
}

func TestLoginFromEnvironment(t *testing.T) {
	fx := newFixture(t)
	fx.globals.JSON = true
	if err := fx.run(t); err != nil {
		t.Fatal(err)
	}
	sec, err := fx.store.Get(t.Context(), credstore.DefaultAccount)
	if err != nil || sec.Kind != credstore.KindAPIToken || sec.Email != bbapitest.DefaultEmail || string(sec.Secret) != fx.emu.DefaultAPIToken() {
		t.Fatalf("stored %v, %v", sec, err)
	}
	var st Status
	if err := json.Unmarshal([]byte(fx.stdout.String()), &st); err != nil {
		t.Fatal(err)
	}
	if !st.LoggedIn || st.Source != "memory" && st.Source != "keychain" || st.User == nil || st.User.Nickname != "ada" || len(st.MissingScopes) != 0 || len(st.Scopes) != len(bbapitest.AllScopes) {
		t.Errorf("status = %+v", st)
	}
	if !strings.Contains(fx.stderr.String(), "BITBUCKET_API_TOKEN is still set") {
		t.Errorf("no note that the environment still wins:\n%s", fx.stderr.String())
	}
	if strings.Contains(fx.stdout.String()+fx.stderr.String(), fx.emu.DefaultAPIToken()) {
		t.Error("the token was printed")
	}
}

// scopeHelpWords are what the token help must name: every scope and the token page.
func scopeHelpWords() []string {
	words := []string{TokenPage}
	for _, s := range Scopes {
		words = append(words, s.Name)
	}
	return words
}

func TestLoginPrompts(t *testing.T) {
	fx := newFixture(t)
	tok := fx.env["BITBUCKET_API_TOKEN"]
	delete(fx.env, "BITBUCKET_EMAIL")
	delete(fx.env, "BITBUCKET_API_TOKEN")
	fx.ios.StdinTTY = true
	fx.ios.StderrTTY = true
	fx.prompter.Answers = []string{"not an email", bbapitest.DefaultEmail, "  " + tok + "\n"}
	if err := fx.run(t); err != nil {
		t.Fatal(err)
	}
	want := []string{"Atlassian account email", "Atlassian account email", "API token"}
	if !slices.Equal(fx.prompter.Asked, want) {
		t.Errorf("asked %q, want %q", fx.prompter.Asked, want)
	}
	for _, s := range scopeHelpWords() {
		if !strings.Contains(fx.stderr.String(), s) {
			t.Errorf("the token help does not mention %s", s)
		}
	}
	sec, err := fx.store.Get(t.Context(), credstore.DefaultAccount)
	if err != nil || string(sec.Secret) != tok {
		t.Errorf("stored %v, %v: want the trimmed token", sec, err)
	}
}

func TestLoginNoInputNamesTheFlags(t *testing.T) {
	fx := newFixture(t)
	delete(fx.env, "BITBUCKET_EMAIL")
	delete(fx.env, "BITBUCKET_API_TOKEN")
	err := fx.run(t)
	if apierr.ExitCode(err) != errkind.ExitUsage {
		t.Fatalf("exit %d (%v), want 2", apierr.ExitCode(err), err)
	}
	for _, w := range []string{"--email", "BITBUCKET_EMAIL", "--token-file", "BITBUCKET_API_TOKEN"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%q does not name %s", err, w)
		}
	}
	if len(fx.prompter.Asked) != 0 || len(fx.emu.Requests()) != 0 || len(fx.store.Accounts()) != 0 {
		t.Error("prompted, called Bitbucket or stored something")
	}
}

func TestLoginTokenFile(t *testing.T) {
	fx := newFixture(t)
	delete(fx.env, "BITBUCKET_API_TOKEN")
	delete(fx.env, "BITBUCKET_EMAIL")
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(fx.emu.DefaultAPIToken()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fx.globals.TokenFile = file
	if err := fx.run(t, "--email", bbapitest.DefaultEmail); err != nil {
		t.Fatal(err)
	}
	if sec, err := fx.store.Get(t.Context(), credstore.DefaultAccount); err != nil || string(sec.Secret) != fx.emu.DefaultAPIToken() {
		t.Errorf("stored %v, %v", sec, err)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(file)
	testutil.WriteOpenFile(t, file, b) // Unix: 0644; Windows: Everyone may read it
	if err := fx.run(t, "--email", bbapitest.DefaultEmail); apierr.ExitCode(err) != errkind.ExitUsage ||
		!strings.Contains(err.Error(), "readable by other users") && !strings.Contains(err.Error(), "is open to Everyone") {
		t.Errorf("a token file others can read: %v", err)
	}
}

// A --token-file that is missing or empty is a usage error whose hint says what the file
// must hold; one that others can read keeps its own hints (the chmod, and the variables
// for a file that cannot be chmod'ed).
func TestLoginTokenFileErrorsSayWhatToDo(t *testing.T) {
	fx := newFixture(t)
	delete(fx.env, "BITBUCKET_API_TOKEN")
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{filepath.Join(dir, "missing"), empty} {
		fx.globals.TokenFile = file
		err := fx.run(t, "--email", bbapitest.DefaultEmail)
		hints := apierr.Hints(err)
		if apierr.ExitCode(err) != errkind.ExitUsage || len(hints) != 1 || !strings.Contains(hints[0], "--token-file") {
			t.Errorf("--token-file %s: %v, hints %q: want exit 2 and a hint saying what the file holds", file, err, hints)
		}
	}
	open := filepath.Join(dir, "open")
	testutil.WriteOpenFile(t, open, []byte(fx.emu.DefaultAPIToken()))
	fx.globals.TokenFile = open
	if hints := apierr.Hints(fx.run(t, "--email", bbapitest.DefaultEmail)); len(hints) != 2 || !strings.Contains(hints[1], "BITBUCKET_API_TOKEN") {
		t.Errorf("a token file others can read: hints %q, want its fix and the variables", hints)
	}
}

func TestLoginRefusedTokenStoresNothing(t *testing.T) {
	fx := newFixture(t)
	fx.env["BITBUCKET_API_TOKEN"] = "wrong-token"
	err := fx.run(t)
	if apierr.ExitCode(err) != errkind.ExitAuth {
		t.Fatalf("exit %d (%v), want 4", apierr.ExitCode(err), err)
	}
	if strings.Contains(err.Error(), "wrong-token") {
		t.Error("the token is in the error")
	}
	if len(fx.store.Accounts()) != 0 {
		t.Error("a refused token was stored")
	}
}

func TestLoginMissingScopesWarn(t *testing.T) {
	fx := newFixture(t)
	tok, err := fx.emu.AddAPIToken(bbapitest.DefaultEmail, "read:user:bitbucket", "read:ssh-key:bitbucket")
	if err != nil {
		t.Fatal(err)
	}
	fx.env["BITBUCKET_API_TOKEN"] = tok
	if err := fx.run(t); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(fx.stderr.String(), "! the token lacks scope write:ssh-key:bitbucket") {
		t.Errorf("no missing-scope warning:\n%s", fx.stderr.String())
	}
}

// noBus opens the real credential store as on a Linux machine without a session bus.
func noBus(dir string) func(context.Context, bool) (credstore.Store, error) {
	return func(ctx context.Context, allowInsecure bool) (credstore.Store, error) {
		return credstore.Open(ctx, credstore.Options{
			ConfigDir:     dir,
			AllowInsecure: allowInsecure,
			GOOS:          "linux",
			LookupEnv:     func(string) (string, bool) { return "", false },
		})
	}
}

func TestLoginWithoutKeychain(t *testing.T) {
	fx := newFixture(t)
	dir := filepath.Join(t.TempDir(), "bbkey")
	fx.openStore = noBus(dir)

	err := fx.run(t)
	if !errors.Is(err, credstore.ErrNoKeychain) || !strings.Contains(strings.Join(apierr.Hints(err), "\n"), "--insecure-storage") {
		t.Fatalf("err = %v, hints %q: want a refusal naming --insecure-storage", err, apierr.Hints(err))
	}
	if len(fx.emu.Requests()) != 0 {
		t.Error("the token was checked although it could not be stored")
	}
	if _, err := os.Stat(filepath.Join(dir, credstore.FileName)); !errors.Is(err, os.ErrNotExist) {
		t.Error("a credentials file was written without --insecure-storage")
	}

	if err := fx.run(t, "--insecure-storage"); err != nil {
		t.Fatal(err)
	}
	testutil.AssertPrivate(t, filepath.Join(dir, credstore.FileName))
	if !strings.Contains(fx.stderr.String(), "bbkey: warning:") {
		t.Errorf("no warning about the plain file:\n%s", fx.stderr.String())
	}
	b, _ := os.ReadFile(filepath.Join(dir, credstore.FileName))
	if !strings.Contains(string(b), bbapitest.DefaultEmail) {
		t.Errorf("file does not hold the credential: %s", b)
	}
}
