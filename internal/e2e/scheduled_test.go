package e2e

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Each scheduler's job, run the way that scheduler runs it: `rotate --schedule` installs
// it (the scheduler's own command is a stand-in that records what it is given: a real
// crontab or launchctl would change this machine's user, not the throw-away home), then
// the test reads the job back from what bbkey wrote and executes exactly that, in the
// environment the scheduler gives a job: no SSH_AUTH_SOCK, no D-Bus, no terminal, none of
// the test's variables. Afterwards the account holds only the new key, git works with it
// while the user's agent still holds the revoked one, the log says what happened, and
// --status and doctor report the run.

// scheduledJob is an installed job as its scheduler would start it.
type scheduledJob struct {
	argv []string
	env  []string
	// log receives stdout and stderr, unless the command line redirects itself (cron).
	log string
}

func TestScheduledJobCron(t *testing.T) {
	t.Parallel()
	scheduledRun(t, "cron", cronJob)
}

func TestScheduledJobSystemd(t *testing.T) {
	t.Parallel()
	scheduledRun(t, "systemd", func(t *testing.T, w *World, bin string) scheduledJob {
		unit := filepath.Join(w.Home.ConfigDir, "systemd", "user", "bbkey-rotate.service")
		b, err := os.ReadFile(unit)
		if err != nil {
			t.Fatal(err)
		}
		// The user manager's environment (no agent: a user manager has SSH_AUTH_SOCK only
		// when the user imports it), then the unit's Environment= lines.
		j := scheduledJob{env: []string{"HOME=" + w.Home.Dir, "USER=ada", "LOGNAME=ada", "SHELL=/bin/sh",
			"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}}
		for line := range strings.Lines(string(b)) {
			k, v, _ := strings.Cut(strings.TrimSpace(line), "=")
			switch k {
			case "ExecStart":
				j.argv = systemdWords(t, v)
			case "Environment":
				j.env = append(j.env, systemdWords(t, v)...)
			case "StandardOutput":
				j.log = strings.ReplaceAll(strings.TrimPrefix(v, "append:"), "%%", "%")
			}
		}
		if len(j.argv) == 0 || j.log == "" {
			t.Fatalf("no ExecStart or StandardOutput in %s:\n%s", unit, b)
		}
		return j
	})
}

func TestScheduledJobLaunchd(t *testing.T) {
	t.Parallel()
	scheduledRun(t, "launchd", func(t *testing.T, w *World, bin string) scheduledJob {
		plist := filepath.Join(w.Home.Dir, "Library", "LaunchAgents", "com.github.bbkey.rotate.plist")
		b, err := os.ReadFile(plist)
		if err != nil {
			t.Fatal(err)
		}
		p := parsePlist(t, b)
		// launchd gives an agent HOME, USER, LOGNAME, SHELL, TMPDIR and this PATH, then
		// the plist's EnvironmentVariables.
		j := scheduledJob{argv: p.strings["ProgramArguments"], log: p.string["StandardOutPath"],
			env: []string{"HOME=" + w.Home.Dir, "USER=ada", "LOGNAME=ada", "SHELL=/bin/zsh", "TMPDIR=" + os.TempDir(),
				"PATH=/usr/bin:/bin:/usr/sbin:/sbin"}}
		for k, v := range p.dict["EnvironmentVariables"] {
			j.env = append(j.env, k+"="+v)
		}
		if p.string["StandardErrorPath"] != j.log || len(j.argv) == 0 {
			t.Fatalf("plist: %+v\n%s", p, b)
		}
		return j
	})
}

// cronJob reads the installed crontab line as cron would run it.
func cronJob(t *testing.T, w *World, bin string) scheduledJob {
	tab, err := os.ReadFile(filepath.Join(bin, "crontab.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var line string
	for l := range strings.Lines(string(tab)) {
		if strings.Contains(l, "bbkey") {
			line = strings.TrimSpace(l)
		}
	}
	if len(strings.Fields(line)) < 6 {
		t.Fatalf("no bbkey line in the crontab:\n%s", tab)
	}
	// cron hands the text after the five time fields to /bin/sh -c, \% turned into %.
	cmd := line
	for range 5 {
		cmd = strings.TrimSpace(cmd[strings.IndexAny(cmd, " \t"):])
	}
	cmd = strings.ReplaceAll(cmd, `\%`, "%")
	// Debian's cron: HOME and SHELL from the passwd entry, LOGNAME, PATH=/usr/bin:/bin.
	return scheduledJob{argv: []string{"/bin/sh", "-c", cmd},
		env: []string{"HOME=" + w.Home.Dir, "LOGNAME=ada", "PATH=/usr/bin:/bin", "SHELL=/bin/sh"}}
}

// TestScheduledJobFailuresShow: a cron job that fails (the stored credential is gone),
// then one that cannot even start bbkey (the binary was moved): the job's exit code says
// so to cron, and --status and doctor show each from the log.
func TestScheduledJobFailuresShow(t *testing.T) {
	t.Parallel()
	w := NewWorld(t)
	rotateSetup(t, w)
	w.MustRun("", "auth", "login", "--insecure-storage")
	bin := rotateFakeTimerTools(t, w, false)
	// Installed from a copy of bbkey, which is then moved away.
	exe := filepath.Join(t.TempDir(), "bbkey")
	// A hard link, not a copy: a copy is written through a file descriptor that a test
	// forking in parallel inherits for a moment, and exec of a file open for writing
	// fails with "text file busy".
	if err := os.Link(bbkeyBin, exe); err != nil {
		t.Fatalf("linking a copy of bbkey: %v", err)
	}
	install := exec.Command(exe, "rotate", "--schedule", "weekly", "--passphrase-file", w.PassFile)
	install.Env = w.Env
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("--schedule: %v\n%s", err, out)
	}
	job := cronJob(t, w, bin)

	w.MustRun("", "auth", "logout")
	if code, out := scheduledExec(t, job); code != 4 {
		t.Fatalf("the job without a credential exited %d, want 4\n%s", code, out)
	}
	st := w.MustRun("", "rotate", "--status")
	if !strings.Contains(st.Stdout, "failed (exit 4): not logged in to Bitbucket") {
		t.Errorf("--status:\n%s", st)
	}
	d := w.Run("", "doctor")
	if d.Code != 1 || !strings.Contains(d.Stdout, "✗ rotation timer: rotate: the last run") || !strings.Contains(d.Stdout, "failed with exit 4") {
		t.Errorf("doctor:\n%s", d)
	}

	if err := os.Remove(exe); err != nil {
		t.Fatal(err)
	}
	if code, out := scheduledExec(t, job); code != 127 {
		t.Fatalf("the job without its binary exited %d, want the shell's 127\n%s", code, out)
	}
	st = w.MustRun("", "rotate", "--status")
	if !strings.Contains(st.Stdout, "failed: the job did not start bbkey") || !strings.Contains(st.Stdout, "not found") {
		t.Errorf("--status:\n%s", st)
	}
	d = w.Run("", "doctor")
	if d.Code != 1 || !strings.Contains(d.Stdout, "the job did not start bbkey") || !strings.Contains(d.Stdout, "bbkey rotate --schedule weekly") {
		t.Errorf("doctor:\n%s", d)
	}
}

func scheduledRun(t *testing.T, backend string, read func(t *testing.T, w *World, bin string) scheduledJob) {
	w := NewWorld(t)
	old := rotateSetup(t, w)
	w.MustRun("", "auth", "login", "--insecure-storage") // a job reads only a stored credential
	bin := rotateFakeTimerTools(t, w, backend == "systemd")
	scheduledFakeLaunchctl(t, bin)
	w.Setenv("BBKEY_TEST_SCHEDULER", backend)
	w.MustRun("", "rotate", "--schedule", "daily", "--if-older-than", "1s", "--passphrase-file", w.PassFile)
	w.Unsetenv("BBKEY_TEST_SCHEDULER")
	job := read(t, w, bin)

	code, out := scheduledExec(t, job)
	log, _ := os.ReadFile(filepath.Join(w.Home.ConfigDir, "bbkey", "rotate.log"))
	if code != 0 {
		t.Fatalf("the %s job exited %d\n%s\nlog:\n%s", backend, code, out, log)
	}
	newFP := rotateConfigKey(t, w, "ssh.bitbucket.org")
	if newFP == old {
		t.Fatalf("the job did not rotate\nlog:\n%s", log)
	}
	rotateOnly(t, "account keys", rotateAccountKeys(w), newFP)
	for _, want := range []string{`scheduled run "rotate" started`, "generated the new key " + newFP,
		"no ssh agent (no ssh agent: SSH_AUTH_SOCK is not set)", "revoked the old key " + old, `scheduled run "rotate" finished: ok (exit 0)`} {
		if !strings.Contains(string(log), want) {
			t.Errorf("the log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(string(log), w.Passphrase) {
		t.Error("the passphrase is in the log")
	}

	// The user's running agent still holds the revoked key (the job had no agent). The
	// next interactive git works: ssh does not stop at the revoked key, reads the new
	// key's file with the passphrase the user types (askpass here), and AddKeysToAgent
	// loads it.
	if !rotateAgentHolds(w, old) || rotateAgentHolds(w, newFP) {
		t.Fatalf("the agent should hold only the old key now:\n%s", w.AgentList())
	}
	headlessAskpass(t, w)
	rotateLsRemote(t, w, "ssh.bitbucket.org", "api")
	if !rotateAgentHolds(w, newFP) {
		t.Errorf("ssh did not load the new key into the agent at first use:\n%s", w.AgentList())
	}

	st := w.MustRun("", "rotate", "--status")
	if !strings.Contains(st.Stdout, "last run (account key)") || !strings.Contains(st.Stdout, " ok (exit 0)") {
		t.Errorf("--status does not show the job's run:\n%s", st)
	}
	d := w.Run("", "doctor", "--json")
	if !strings.Contains(d.Stdout, `"id": "schedule"`) || !strings.Contains(d.Stdout, "rotate: last run") {
		t.Errorf("doctor does not report the timer's run:\n%s", d)
	}
}

// scheduledExec runs the job as its scheduler would: the environment given, stdin from
// /dev/null, output appended to the log (or left to the command line's own redirection).
func scheduledExec(t *testing.T, j scheduledJob) (int, string) {
	cmd := exec.Command(j.argv[0], j.argv[1:]...)
	cmd.Env = j.env
	cmd.Dir = "/"
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if j.log != "" {
		f, err := os.OpenFile(j.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		out := io.MultiWriter(f, &buf) // one writer, so exec copies both streams in one goroutine
		cmd.Stdout, cmd.Stderr = out, out
	}
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), buf.String()
	}
	if err != nil {
		t.Fatalf("starting the job %q: %v", j.argv, err)
	}
	return 0, buf.String()
}

// scheduledFakeLaunchctl records launchctl's arguments, as the other stand-ins do.
func scheduledFakeLaunchctl(t *testing.T, bin string) {
	script := "#!/bin/sh\necho \"launchctl $*\" >> '" + filepath.Join(bin, "calls.log") + "'\nexit 0\n"
	if err := os.WriteFile(filepath.Join(bin, "launchctl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// systemdWords splits a unit value into words as systemd does: whitespace separates,
// "…" and '…' quote, a backslash escapes, %% is %, $$ is $.
func systemdWords(t *testing.T, v string) []string {
	var words []string
	var cur strings.Builder
	in := false
	var quote byte
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '\\' && i+1 < len(v):
			i++
			switch v[i] {
			case 'n':
				cur.WriteByte('\n')
			case 't':
				cur.WriteByte('\t')
			default:
				cur.WriteByte(v[i])
			}
			in = true
		case quote != 0 && c == quote:
			quote = 0
		case quote == 0 && (c == '"' || c == '\''):
			quote, in = c, true
		case quote == 0 && (c == ' ' || c == '\t'):
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		case (c == '%' || c == '$') && i+1 < len(v) && v[i+1] == c:
			cur.WriteByte(c)
			i++
			in = true
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if quote != 0 {
		t.Fatalf("unterminated quote in %q", v)
	}
	if in {
		words = append(words, cur.String())
	}
	return words
}

// plist is the top-level dict of a launchd property list: strings, string arrays and
// string dicts (all a job uses).
type plist struct {
	string  map[string]string
	strings map[string][]string
	dict    map[string]map[string]string
}

func (p plist) String() string { return fmt.Sprintf("%v %v %v", p.string, p.strings, p.dict) }

func parsePlist(t *testing.T, b []byte) plist {
	p := plist{string: map[string]string{}, strings: map[string][]string{}, dict: map[string]map[string]string{}}
	dec := xml.NewDecoder(bytes.NewReader(b))
	dec.Strict = true
	depth := 0 // of <dict>
	var key, subKey string
	inArray := false
	var text string
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("plist: %v\n%s", err, b)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			text = ""
			switch e.Name.Local {
			case "dict":
				depth++
				if depth == 2 {
					p.dict[key] = map[string]string{}
				}
			case "array":
				inArray = true
			}
		case xml.CharData:
			text += string(e)
		case xml.EndElement:
			switch e.Name.Local {
			case "dict":
				depth--
			case "array":
				inArray = false
			case "key":
				if depth == 1 {
					key = text
				} else {
					subKey = text
				}
			case "string":
				switch {
				case depth == 2:
					p.dict[key][subKey] = text
				case inArray:
					p.strings[key] = append(p.strings[key], text)
				default:
					p.string[key] = text
				}
			}
		}
	}
	return p
}

// TestScheduleRefusesCredentialOnlyInEnvironment: the world's credential is only in its
// environment, which no scheduler passes on: --schedule exits 2 naming `auth login`, and
// installs nothing (no crontab line, no units, no state change).
func TestScheduleRefusesCredentialOnlyInEnvironment(t *testing.T) {
	t.Parallel()
	w := NewWorld(t)
	rotateSetup(t, w)
	for _, systemd := range []bool{false, true} {
		bin := rotateFakeTimerTools(t, w, systemd)
		before := w.Snapshot("fakebin") // calls.log records the detection (systemctl --user show-environment)
		r := w.Run("", "rotate", "--schedule", "daily", "--passphrase-file", w.PassFile)
		if r.Code != 2 || !strings.Contains(r.Stderr, "bbkey: error: the timer's job would have no Bitbucket credential") ||
			!strings.Contains(r.Stderr, "bbkey auth login") || !strings.Contains(r.Stderr, "--insecure-storage") {
			t.Fatalf("systemd=%v: %s", systemd, r)
		}
		if diff := DiffSnapshots(before, w.Snapshot("fakebin")); diff != "" {
			t.Errorf("systemd=%v: a refused --schedule changed files:\n%s", systemd, diff)
		}
		if calls, _ := os.ReadFile(filepath.Join(bin, "calls.log")); strings.Contains(string(calls), "crontab -") || strings.Contains(string(calls), "enable") {
			t.Errorf("systemd=%v: a refused --schedule ran:\n%s", systemd, calls)
		}
	}
}

// TestScheduleCronWarnsWithoutDaemon: the cron line is installed without a cron daemon
// running (this machine in CI, WSL, a container) with a warning and exit 0; pgrep is the
// independent witness of whether one runs here.
func TestScheduleCronWarnsWithoutDaemon(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/proc/1/comm"); err != nil {
		t.Skip("no readable /proc here: bbkey cannot tell whether cron runs")
	}
	pgrep, err := exec.LookPath("pgrep")
	if err != nil {
		t.Skip("pgrep is missing: nothing to compare bbkey's answer with")
	}
	daemon := exec.Command(pgrep, "-x", "cron|crond|fcron").Run() == nil
	w := NewWorld(t)
	rotateSetup(t, w)
	w.MustRun("", "auth", "login", "--insecure-storage")
	bin := rotateFakeTimerTools(t, w, false)
	w.Setenv("BBKEY_TEST_SCHEDULER", "cron")
	r := w.MustRun("", "rotate", "--schedule", "weekly", "--passphrase-file", w.PassFile, "--json")
	var doc struct{ Warnings []string }
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatalf("%v\n%s", err, r)
	}
	if tab, _ := os.ReadFile(filepath.Join(bin, "crontab.txt")); !strings.Contains(string(tab), "# bbkey:rotate") {
		t.Errorf("no bbkey line in the crontab:\n%s", tab)
	}
	warned := strings.Contains(r.Stderr, "bbkey: warning: no cron daemon is running") &&
		strings.Contains(r.Stderr, "bbkey: hint: start the cron service") && len(doc.Warnings) == 1
	if warned == daemon {
		t.Errorf("a cron daemon runs: %v; bbkey warned: %v\n%s", daemon, warned, r)
	}
}

// TestCIAgentAfterScheduledAccessKeyRotation pins what docs/rotate.md tells a build server:
// its scheduled `rotate --access-keys` runs without the CI's agent, which keeps only the
// revoked key, so a job with no terminal cannot clone through the encrypted new key until
// it loads it: `add-access-key … --agent` with the same name loads the existing key (no
// key is added again), and so does `ssh-add` fed by SSH_ASKPASS.
func TestCIAgentAfterScheduledAccessKeyRotation(t *testing.T) {
	t.Parallel()
	w := NewWorld(t)
	w.MustRun("", "add-access-key", "--repo", "acme/api", "--name", "ci", "--passphrase-file", w.PassFile, "--agent", "--write-ssh-config")
	old := rotateConfigKey(t, w, "ssh.bitbucket.org")
	var sock string
	for _, kv := range w.Env {
		if v, ok := strings.CutPrefix(kv, "SSH_AUTH_SOCK="); ok {
			sock = v
		}
	}
	w.Unsetenv("SSH_AUTH_SOCK") // the timer's job
	w.MustRun("", "rotate", "--access-keys", "--passphrase-file", w.PassFile, "--no-input")
	w.Setenv("SSH_AUTH_SOCK", sock)
	newFP := rotateConfigKey(t, w, "ssh.bitbucket.org")
	if newFP == old || !rotateAgentHolds(w, old) || rotateAgentHolds(w, newFP) {
		t.Fatalf("want the CI's agent to hold only the old key %s (new %s):\n%s", old, newFP, w.AgentList())
	}
	out, err := w.Git(w.Home.Dir, "ls-remote", "git@ssh.bitbucket.org:acme/api.git")
	if err == nil || !strings.Contains(out, "Permission denied (publickey)") {
		t.Fatalf("want a clone without a terminal to be refused before the new key is loaded: %v\n%s", err, out)
	}

	w.Emu.ResetRequests()
	w.MustRun("", "add-access-key", "--repo", "acme/api", "--name", "ci", "--passphrase-file", w.PassFile, "--agent")
	for _, r := range w.Emu.Requests() {
		if r.Method != "GET" {
			t.Errorf("loading the existing key changed Bitbucket: %s %s", r.Method, r.Path)
		}
	}
	if !rotateAgentHolds(w, newFP) {
		t.Fatalf("add-access-key --agent did not load the existing key:\n%s", w.AgentList())
	}
	rotateLsRemote(t, w, "ssh.bitbucket.org", "api")

	// The other way: ssh-add, the passphrase from the CI's secret through SSH_ASKPASS.
	if out, err := rotateExec(w, "ssh-add", "-D"); err != nil {
		t.Fatalf("ssh-add -D: %v\n%s", err, out)
	}
	headlessAskpass(t, w)
	if out, err := rotateExec(w, "ssh-add", rotateIdentityFile(t, w, "ssh.bitbucket.org")); err != nil || !rotateAgentHolds(w, newFP) {
		t.Fatalf("ssh-add with SSH_ASKPASS: %v\n%s\n%s", err, out, w.AgentList())
	}
}
