package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bbkey/bbkey/bbapi/bbapitest"
)

// Every command's --json writes '&', '<' and '>' as they are (a path, a label, a key
// comment, a hint "run: A && B"), never as \u0026, \u003c or \u003e, which a person
// reading the document, or a grep, would not recognise.
func TestJSONWritesAmpersandAndAnglesLiterally(t *testing.T) {
	w := NewWorld(t)
	const mark = "a&b<c>"
	dir := filepath.Join(w.Home.Dir, mark)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	repo := setupRepo(t, w, mark, "https://bitbucket.org/acme/api.git")
	key, ci := filepath.Join(dir, "id_ed25519"), filepath.Join(dir, "ci")
	accesskeyKeygen(w, "-q", "-t", "ed25519", "-N", w.Passphrase, "-C", "me", "-f", key)
	accesskeyKeygen(w, "-q", "-t", "ed25519", "-N", "", "-C", "ci "+mark, "-f", ci)
	removeOtherKey(t, w.Emu, "old "+mark)
	check := func(args ...string) {
		t.Helper()
		r := w.Run(repo, args...)
		out := r.Stdout
		switch {
		case !json.Valid([]byte(out)):
			t.Errorf("stdout is not one JSON document\n%s", r)
		case !strings.Contains(out, mark):
			t.Errorf("stdout does not hold %q literally\n%s", mark, r)
		case strings.Contains(out, `\u0026`) || strings.Contains(out, `\u003c`) || strings.Contains(out, `\u003e`):
			t.Errorf("stdout escapes '&', '<' or '>'\n%s", r)
		}
	}
	check("setup", "--json", "--key", key, "--passphrase-file", w.PassFile, "--no-remotes")
	check("remote", "--json", "--dry-run")
	check("list", "--json")
	check("doctor", "--json")
	check("rotate", "--json", "--dry-run", "--passphrase-file", w.PassFile)
	check("add-access-key", "--repo", "acme/api", "--key", ci+".pub", "--json")
	check("audit", "--json", "--workspace", "acme")
	check("remove", "old "+mark, "--json", "--yes")
	// An error is a --json document too.
	check("list", "--json", "--token-file", filepath.Join(dir, "missing"))
	// auth status names the account's email, the one place '&' can be in.
	if _, err := w.Emu.AddUser(bbapitest.User{Email: "ops&dev@example.com", Nickname: "ops"}); err != nil {
		t.Fatal(err)
	}
	tok, err := w.Emu.AddAPIToken("ops&dev@example.com", bbapitest.AllScopes...)
	if err != nil {
		t.Fatal(err)
	}
	w.Setenv("BITBUCKET_EMAIL", "ops&dev@example.com")
	w.Setenv("BITBUCKET_API_TOKEN", tok)
	r := w.Run(repo, "auth", "status", "--json")
	if !json.Valid([]byte(r.Stdout)) || !strings.Contains(r.Stdout, `"ops&dev@example.com"`) {
		t.Errorf("auth status: want the email with its '&'\n%s", r)
	}
}
