//go:build windows

package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/internal/testutil"
)

// The Windows rotation timer, run the way Task Scheduler runs it. schtasks (and Task
// Scheduler) may not exist here (Wine has neither), so the task's command line is taken
// from `rotate --schedule --dry-run`, which shows it as Windows will run it, and started
// as Task Scheduler starts it: CreateProcess of that exact line (cmd.exe, %SystemRoot%
// expanded), with none of this shell's BITBUCKET_* variables. The job must rotate the
// account key against the emulator, exit 0, and say so in its log.
func TestScheduledTaskRunsAsTaskSchedulerRuns(t *testing.T) {
	emu := bbapitest.Start(t)
	home := testutil.NewHome(t)
	pass := filepath.Join(home.Dir, "pass.txt")
	if err := os.WriteFile(pass, []byte("correct horse battery staple\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The user's session: Windows' own variables, the throw-away profile.
	var session []string
	for _, k := range []string{"SystemRoot", "SystemDrive", "windir", "PATH", "PATHEXT", "TEMP", "TMP", "USERNAME", "COMSPEC"} {
		if v, ok := os.LookupEnv(k); ok {
			session = append(session, k+"="+v)
		}
	}
	session = append(session, home.Env()...)
	session = append(session, "APPDATA="+home.ConfigDir, "NO_COLOR=1")
	shell := append(append([]string{}, session...), emu.Env()...)
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bbkeyBin, args...)
		cmd.Env, cmd.Dir = shell, home.Dir
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			t.Fatalf("bbkey %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errOut.String())
		}
		return out.String()
	}
	// The credential in the plain file (Task Scheduler tasks reach Credential Manager too;
	// the file is what every Wine can do), the account key, and a Bitbucket label that
	// makes the key 200+ days old, so the job's --if-older-than 90d finds it due.
	run("auth", "login", "--insecure-storage", "--no-input")
	run("setup", "--passphrase-file", pass, "--no-remotes", "--no-git-ssh", "--no-input")
	keys := emu.UserKeys(bbapitest.DefaultAccountID)
	if len(keys) != 1 {
		t.Fatalf("account keys after setup: %+v", keys)
	}
	old := keys[0]
	relabel(t, emu, old.UUID, "bbkey:ada:2026-01-01")

	var doc struct {
		Backend string   `json:"backend"`
		Actions []string `json:"actions"`
		LogFile string   `json:"log_file"`
	}
	out := run("rotate", "--schedule", "weekly", "--passphrase-file", pass, "--dry-run", "--json", "--no-input")
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var line string
	for _, a := range doc.Actions {
		if s, ok := strings.CutPrefix(a, "register the task to run: "); ok {
			line = s
		}
	}
	if doc.Backend != "taskscheduler" || line == "" {
		t.Fatalf("the dry run shows no task command line: %+v", doc)
	}
	t.Logf("the task: %s", line)
	if !strings.HasPrefix(line, `%SystemRoot%\System32\cmd.exe /d /s /c "set "BBKEY_SCHEDULED=rotate" && `) || strings.Contains(line, "'") {
		t.Errorf("not Windows' quoting: %s", line)
	}

	// As Task Scheduler starts it: the program is the command line's first word with
	// %SystemRoot% expanded, and the line goes to CreateProcess as is.
	expanded := strings.ReplaceAll(line, "%SystemRoot%", os.Getenv("SystemRoot"))
	prog, _, _ := strings.Cut(expanded, " ")
	task := exec.Command(prog)
	task.SysProcAttr = &syscall.SysProcAttr{CmdLine: expanded}
	task.Env, task.Dir = session, os.Getenv("SystemRoot")
	if out, err := task.CombinedOutput(); err != nil {
		log, _ := os.ReadFile(doc.LogFile)
		t.Fatalf("the task: %v\n%s\nlog:\n%s", err, out, log)
	}
	log, err := os.ReadFile(doc.LogFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"older than 90d; replacing it", "proved it over SSH", "revoked the old key SHA256:" + old.Fingerprint} {
		if !strings.Contains(string(log), want) {
			t.Errorf("the log lacks %q:\n%s", want, log)
		}
	}
	keys = emu.UserKeys(bbapitest.DefaultAccountID)
	if len(keys) != 1 || keys[0].Fingerprint == old.Fingerprint {
		t.Errorf("account keys after the job: %+v (old %s)", keys, old.Fingerprint)
	}
}

// relabel renames an account key on the emulator through its REST API (PUT ssh-keys),
// as a user could on Bitbucket.
func relabel(t *testing.T, emu *bbapitest.Server, uuid, label string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"label": label})
	req, err := http.NewRequest("PUT", emu.APIURL()+"/users/"+bbapitest.DefaultAccountID+"/ssh-keys/"+uuid, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(bbapitest.DefaultEmail, emu.DefaultAPIToken())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("PUT label: %s", resp.Status)
	}
}
