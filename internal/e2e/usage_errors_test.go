package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// usageCase is one mistake a user makes without a terminal: the exit code it must end
// with, what the error says, and what its hint tells the user to do.
type usageCase struct {
	args       []string
	code       int
	says, hint string
}

// usageCheck runs each case in w and asserts the exit code, a "bbkey: error:" line, a
// "bbkey: hint:" line saying what to do, no file changed under the home, and nothing
// added on Bitbucket (no POST, PUT or DELETE).
func usageCheck(t *testing.T, w *World, cases []usageCase) {
	t.Helper()
	for _, c := range cases {
		before := w.Snapshot()
		w.Emu.ResetRequests()
		r := w.Run("", c.args...)
		if r.Code != c.code {
			t.Errorf("exit %d, want %d\n%s", r.Code, c.code, r)
			continue
		}
		var errLine bool
		var hints []string
		for _, l := range strings.Split(r.Stderr, "\n") {
			if s, ok := strings.CutPrefix(l, "bbkey: error: "); ok && strings.Contains(s, c.says) {
				errLine = true
			}
			if s, ok := strings.CutPrefix(l, "bbkey: hint: "); ok {
				hints = append(hints, s)
			}
		}
		if !errLine {
			t.Errorf("no 'bbkey: error:' line saying %q\n%s", c.says, r)
		}
		if !strings.Contains(strings.Join(hints, "\n"), c.hint) {
			t.Errorf("no 'bbkey: hint:' line saying %q\n%s", c.hint, r)
		}
		if d := DiffSnapshots(before, w.Snapshot()); d != "" {
			t.Errorf("%v changed files:\n%s", c.args, d)
		}
		for _, req := range w.Emu.Requests() {
			if req.Method != "GET" {
				t.Errorf("%v: %s %s", c.args, req.Method, req.Path)
			}
		}
	}
}

// usageFiles writes what the cases read: an encrypted key, a passphrase file that does not
// open it, repository lists with a bad line and with none, and a "key" (both files) that
// is not one.
func usageFiles(t *testing.T, w *World) (key, wrongPass, badList, emptyList, notKey string) {
	t.Helper()
	key = filepath.Join(w.Home.Dir, "deploy_ed25519")
	accesskeyKeygen(w, "-q", "-t", "ed25519", "-N", "the right one", "-C", "ci", "-f", key)
	wrongPass = filepath.Join(w.Home.Dir, "wrong-pass")
	badList = filepath.Join(w.Home.Dir, "repos.txt")
	emptyList = filepath.Join(w.Home.Dir, "empty.txt")
	notKey = filepath.Join(w.Home.Dir, "notes")
	for f, s := range map[string]string{wrongPass: "not the passphrase\n", badList: "acme/api\n\n  \nnot a repository\n", emptyList: "\n  \n# none yet\n",
		notKey: "shopping list\n", notKey + ".pub": "shopping list\n"} {
		if err := os.WriteFile(f, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return key, wrongPass, badList, emptyList, notKey
}

// Every mistake a user can make with add-access-key on a build server (no terminal)
// ends with an error, a hint saying what to pass instead, the documented exit code
// (docs/add-access-key.md) and nothing written, here or on Bitbucket.
func TestAccessKeyUsageErrorsSayWhatToDo(t *testing.T) {
	w := NewWorld(t)
	key, wrongPass, badList, emptyList, notKey := usageFiles(t, w)
	pass := w.PassFile
	missing := filepath.Join(w.Home.Dir, "missing")
	usageCheck(t, w, []usageCase{
		{[]string{"add-access-key"}, 2, "no target", "give --repo WS/SLUG, --repos-from FILE, --project WS/KEY, or --workspace WS"},
		{[]string{"add-access-key", "--passphrase-file", pass, "--json"}, 2, "no target", "--repo WS/SLUG"},
		{[]string{"add-access-key", "--all", "--passphrase-file", pass}, 2, "need --workspace", "add --workspace WS"},
		{[]string{"add-access-key", "--workspace", "acme", "--passphrase-file", pass}, 2, "needs --all or --query", "--all adds the key"},
		{[]string{"add-access-key", "--repo", "acme", "--passphrase-file", pass}, 2, "--repo: ", "e.g. --repo acme/api"},
		{[]string{"add-access-key", "--repo", "acme/api", "--key", missing + ".pub", "--passphrase-file", pass}, 2, "no such key file", "give an existing public key"},
		{[]string{"add-access-key", "--repo", "acme/api", "--key", notKey + ".pub", "--passphrase-file", pass}, 2, "--key: reading the key", "'ssh-keygen -y -f " + notKey + "' prints it"},
		{[]string{"add-access-key", "--repo", "acme/api", "--key", key + ".pub", "--agent", "--passphrase-file", wrongPass}, 1, "incorrect passphrase", "the passphrase came from " + wrongPass},
		{[]string{"add-access-key", "--repo", "acme/api", "--passphrase-file", missing}, 2, "reading --passphrase-file", "check the path: --passphrase-file names a file you can read"},
		{[]string{"add-access-key", "--repo", "acme/api", "--passphrase-file", w.Home.Dir}, 2, "reading --passphrase-file", "check the path: --passphrase-file names a file you can read"},
		{[]string{"add-access-key", "--repo", "acme/api"}, 2, "cannot prompt", "--passphrase-file FILE"},
		{[]string{"add-access-key", "--repos-from", badList, "--passphrase-file", pass}, 2, badList + ":4: ", "e.g. --repo acme/api"},
		{[]string{"add-access-key", "--repos-from", emptyList, "--passphrase-file", pass}, 2, "names no repository", "one WORKSPACE/REPO"},
		{[]string{"add-access-key", "--repos-from", missing, "--passphrase-file", pass}, 2, "reading --repos-from", "'-' to read them from stdin"},
		{[]string{"add-access-key", "--repo", "acme/api", "--concurrency", "0", "--passphrase-file", pass}, 2, "--concurrency 0 is out of range 1-32", "give --concurrency from 1 to 32"},
		{[]string{"add-access-key", "--repo", "acme/api", "--ttl", "soon", "--passphrase-file", pass}, 2, `--ttl "soon"`, "write it like 90d"},
		{[]string{"add-access-key", "--repo", "acme/api", "--name", "CI Box", "--passphrase-file", pass}, 2, "--name: ", "e.g. --name ci-01"},
		{[]string{"add-access-key", "--repo", "acme/api", "--write", "--passphrase-file", pass}, 2, "--write", "drop --write"},
	})
	// Not logged in yet: the missing target is the mistake to report first.
	w.Unsetenv("BITBUCKET_API_TOKEN")
	usageCheck(t, w, []usageCase{{[]string{"add-access-key"}, 2, "no target", "give --repo WS/SLUG"}})
}

// The same on Data Center: its own flag mistakes (--workspace, --query, no target) are
// refused with what to use there.
func TestAccessKeyDataCenterUsageErrorsSayWhatToDo(t *testing.T) {
	w, _ := newDCWorld(t)
	pass := w.PassFile
	usageCheck(t, w, []usageCase{
		{[]string{"add-access-key", "--passphrase-file", pass}, 2, "no target", "give --repo PROJ/slug, --repos-from FILE, --project KEY, or --all"},
		{[]string{"add-access-key", "--workspace", "OPS", "--all", "--passphrase-file", pass}, 2, "--workspace is Bitbucket Cloud's", "use --all"},
		{[]string{"add-access-key", "--query", "x", "--passphrase-file", pass}, 2, "--query is Bitbucket Cloud's", "--project KEY"},
		{[]string{"add-access-key", "--repo", "api", "--passphrase-file", pass}, 2, "--repo: ", "e.g. --repo OPS/api"},
	})
	w.Unsetenv("BITBUCKET_SERVER_TOKEN")
	usageCheck(t, w, []usageCase{{[]string{"add-access-key"}, 2, "no target", "--project KEY, or --all"}})
}

// setup's mistakes without a terminal, the same way: a hint, the documented exit code
// (docs/setup.md), nothing written and no key on the account.
func TestSetupUsageErrorsSayWhatToDo(t *testing.T) {
	w := NewWorld(t)
	key, wrongPass, _, _, notKey := usageFiles(t, w)
	missing := filepath.Join(w.Home.Dir, "missing")
	usageCheck(t, w, []usageCase{
		{[]string{"setup", "--key", missing}, 2, "no such private key file", "give the private key"},
		{[]string{"setup", "--key", notKey}, 2, "--key: reading the key", "'ssh-keygen -y -f " + notKey + "' prints it"},
		{[]string{"setup", "--key", key, "--passphrase-file", wrongPass}, 1, "incorrect passphrase", "the passphrase came from " + wrongPass},
		{[]string{"setup", "--key", key}, 2, "cannot prompt", "--passphrase-file FILE"},
		{[]string{"setup", "--passphrase-file", missing}, 2, "reading --passphrase-file", "check the path: --passphrase-file names a file you can read"},
		{[]string{"setup", "--passphrase-file", w.Home.Dir}, 2, "reading --passphrase-file", "check the path: --passphrase-file names a file you can read"},
		{[]string{"setup", "--expires-in", "soon"}, 2, `--expires-in "soon"`, "write it like 365d"},
		{[]string{"setup", "--agent-lifetime", "-1h"}, 2, `--agent-lifetime "-1h"`, "write it like 8h"},
		{[]string{"setup", "--name", "Work Box"}, 2, "--name: ", "--name work"},
	})
}

// A flag or argument cobra refuses (a value that does not parse, flags that exclude each
// other, an argument too many, an unknown flag) is a usage error whose hint names the
// command's own help, where its flags are, for every command.
func TestFlagErrorsPointAtTheCommandsHelp(t *testing.T) {
	w := NewWorld(t)
	pass := w.PassFile
	usageCheck(t, w, []usageCase{
		{[]string{"setup", "--no-passphrase", "--passphrase-file", pass}, 2, "none of the others can be", "see 'bbkey setup --help'"},
		{[]string{"add-access-key", "--repo", "acme/api", "--concurrency", "x", "--passphrase-file", pass}, 2, `invalid argument "x"`, "see 'bbkey add-access-key --help'"},
		{[]string{"add-access-key", "--all", "--query", "x"}, 2, "none of the others can be", "see 'bbkey add-access-key --help'"},
		{[]string{"rotate", "--max-wait", "soon"}, 2, `invalid argument "soon"`, "see 'bbkey rotate --help'"},
		{[]string{"rotate", "--schedule", "weekly", "--status"}, 2, "none of the others can be", "see 'bbkey rotate --help'"},
		{[]string{"list", "extra"}, 2, "unknown command", "see 'bbkey list --help'"},
		{[]string{"doctor", "--bogus"}, 2, "unknown flag: --bogus", "see 'bbkey doctor --help'"},
		{[]string{"audit", "extra"}, 2, "unknown command", "see 'bbkey audit --help'"},
		{[]string{"remote", "--bogus"}, 2, "unknown flag: --bogus", "see 'bbkey remote --help'"},
		{[]string{"remove", "x", "--yes=maybe"}, 2, `invalid argument "maybe"`, "see 'bbkey remove --help'"},
		{[]string{"auth", "login", "extra"}, 2, "unknown command", "see 'bbkey auth login --help'"},
		{[]string{"auth", "status", "--max-wait", "soon"}, 2, `invalid argument "soon"`, "see 'bbkey auth status --help'"},
		{[]string{"nosuch"}, 2, "unknown command", "see 'bbkey --help'"},
	})
}

// A malformed --repo or --project is the mistake remove and list report, exit 2, whether
// or not a credential is there (not logged in, they said exit 4 first), on Cloud and on
// Data Center, whose names differ.
func TestPlaceUsageErrorsComeBeforeTheCredential(t *testing.T) {
	w := NewWorld(t)
	w.Unsetenv("BITBUCKET_API_TOKEN")
	usageCheck(t, w, []usageCase{
		{[]string{"remove", "bbkey:x", "--repo", "acme"}, 2, "--repo: ", "e.g. --repo acme/api"},
		{[]string{"remove", "bbkey:x", "--project", "acme"}, 2, "--project: ", "acme/OPS"},
		{[]string{"list", "--repo", "acme"}, 2, "--repo: ", "e.g. --repo acme/api"},
	})
	dw, _ := newDCWorld(t)
	dw.Unsetenv("BITBUCKET_SERVER_TOKEN")
	usageCheck(t, dw, []usageCase{
		{[]string{"remove", "bbkey:x", "--repo", "api"}, 2, "--repo: ", "e.g. --repo OPS/api"},
		{[]string{"list", "--repo", "api"}, 2, "--repo: ", "e.g. --repo OPS/api"},
	})
}
