package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bbkey/bbkey/bbapi/bbapitest"
)

// rotateDoc is the part of `bbkey rotate --json` the end-to-end tests read.
type rotateDoc struct {
	DryRun    bool   `json:"dry_run"`
	Kind      string `json:"kind"`
	Result    string `json:"result"`
	Rotations []struct {
		Kind           string            `json:"kind"`
		Name           string            `json:"name"`
		Server         string            `json:"server"`
		Result         string            `json:"result"`
		Resumed        bool              `json:"resumed"`
		OldFingerprint string            `json:"old_fingerprint"`
		NewFingerprint string            `json:"new_fingerprint"`
		OldKeyIDs      map[string]string `json:"old_key_ids"`
		NewKeyIDs      map[string]string `json:"new_key_ids"`
		Steps          []string          `json:"steps"`
	} `json:"rotations"`
	ChangedFiles []string `json:"changed_files"`
}

func rotateDecode(t *testing.T, r Result) rotateDoc {
	t.Helper()
	var d rotateDoc
	if err := json.Unmarshal([]byte(r.Stdout), &d); err != nil {
		t.Fatalf("decoding rotate --json: %v\n%s", err, r)
	}
	return d
}

// rotateSetup runs `bbkey setup` in the world: Ada's account key, agent, config, pins.
func rotateSetup(t *testing.T, w *World) string {
	t.Helper()
	w.MustRun("", "setup", "--passphrase-file", w.PassFile, "--no-remotes")
	return rotateConfigKey(t, w, "ssh.bitbucket.org")
}

// rotateAccountKeys lists the fingerprints on Ada's account.
func rotateAccountKeys(w *World) []string {
	var out []string
	for _, k := range w.Emu.UserKeys(bbapitest.DefaultAccountID) {
		out = append(out, "SHA256:"+k.Fingerprint)
	}
	return out
}

// rotateRepoKeys lists the fingerprints of a repository's access keys.
func rotateRepoKeys(w *World, slug string) []string {
	var out []string
	for _, k := range w.Emu.RepoDeployKeys(bbapitest.DefaultWorkspace, slug) {
		out = append(out, "SHA256:"+k.Fingerprint)
	}
	return out
}

// rotateConfigKey returns the fingerprint of the key the written ssh config gives alias,
// read with ssh-keygen from the IdentityFile's .pub (OpenSSH's view, not bbkey's).
func rotateConfigKey(t *testing.T, w *World, alias string) string {
	t.Helper()
	id := rotateIdentityFile(t, w, alias)
	out, err := rotateExec(w, "ssh-keygen", "-l", "-f", id+".pub")
	if err != nil {
		t.Fatalf("ssh-keygen -l %s: %v\n%s", id, err, out)
	}
	f := strings.Fields(out)
	if len(f) < 2 {
		t.Fatalf("ssh-keygen -l: %q", out)
	}
	return f[1]
}

// rotateIdentityFile asks ssh itself (ssh -G) which IdentityFile the config gives alias.
func rotateIdentityFile(t *testing.T, w *World, alias string) string {
	t.Helper()
	out, err := rotateExec(w, "ssh", "-G", "-F", filepath.Join(w.Home.SSHDir, "config"), alias)
	if err != nil {
		t.Fatalf("ssh -G %s: %v\n%s", alias, err, out)
	}
	for line := range strings.Lines(out) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "identityfile "); ok {
			return strings.Trim(v, `"`)
		}
	}
	t.Fatalf("ssh -G %s shows no identityfile:\n%s", alias, out)
	return ""
}

// rotateLsRemote runs git ls-remote through the written config (and the real agent).
func rotateLsRemote(t *testing.T, w *World, host, repo string) {
	t.Helper()
	out, err := w.Git(w.Home.Dir, "ls-remote", "git@"+host+":acme/"+repo+".git")
	if err != nil || !strings.Contains(out, "refs/heads/main") {
		t.Errorf("git ls-remote %s through the written config: %v\n%s\nagent:\n%s", repo, err, out, w.AgentList())
	}
}

// rotateAgentHolds reports whether the real agent holds fp.
func rotateAgentHolds(w *World, fp string) bool { return strings.Contains(w.AgentList(), fp) }

// rotateFakeTimerTools puts stand-ins for systemctl and crontab first on PATH: they
// record their arguments in calls.log; `systemctl --user show-environment` succeeds when
// systemd is true (so bbkey picks systemd), and crontab keeps its table in crontab.txt.
func rotateFakeTimerTools(t *testing.T, w *World, systemd bool) (bin string) {
	t.Helper()
	bin = filepath.Join(w.Home.Dir, "fakebin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(bin, "calls.log")
	show := "exit 1"
	if systemd {
		show = "exit 0"
	}
	systemctl := "#!/bin/sh\necho \"systemctl $*\" >> '" + log + "'\nif [ \"$2\" = show-environment ]; then " + show + "; fi\nexit 0\n"
	tab := filepath.Join(bin, "crontab.txt")
	crontab := "#!/bin/sh\necho \"crontab $*\" >> '" + log + "'\n" +
		"if [ \"$1\" = -l ]; then if [ -f '" + tab + "' ]; then cat '" + tab + "'; exit 0; fi; echo 'no crontab for user' >&2; exit 1; fi\n" +
		"if [ \"$1\" = - ]; then cat > '" + tab + "'; exit 0; fi\nexit 2\n"
	for name, body := range map[string]string{"systemctl": systemctl, "crontab": crontab} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, kv := range w.Env {
		if p, ok := strings.CutPrefix(kv, "PATH="); ok {
			w.Setenv("PATH", bin+string(os.PathListSeparator)+p)
			break
		}
	}
	return bin
}

// rotateOnly fails unless have is exactly want.
func rotateOnly(t *testing.T, what string, have []string, want string) {
	t.Helper()
	if !slices.Equal(have, []string{want}) {
		t.Errorf("%s = %v, want only %s", what, have, want)
	}
}

// rotateExec runs a tool with the world's environment and returns its combined output.
func rotateExec(w *World, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = w.Env
	cmd.Dir = w.Home.Dir
	b, err := cmd.CombinedOutput()
	return string(b), err
}
