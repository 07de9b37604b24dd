package schedule

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/bbkey/bbkey/internal/fsutil"
	"github.com/bbkey/bbkey/internal/redact"
	"github.com/bbkey/bbkey/internal/text"
)

// Backend is the timer a job is installed into.
type Backend string

// The backends.
const (
	Systemd       Backend = "systemd"       // user timer + service in $XDG_CONFIG_HOME/systemd/user
	Cron          Backend = "cron"          // a marked line in the user's crontab
	Launchd       Backend = "launchd"       // a launch agent in ~/Library/LaunchAgents
	TaskScheduler Backend = "taskscheduler" // a task registered with schtasks
)

// CheckHint says how to look at job id's timer when it does not fire; "" for an unknown
// backend.
func (b Backend) CheckHint(id string) string {
	switch b {
	case Systemd:
		return "check `systemctl --user list-timers " + jobName(id) + ".timer`; a user manager stops at logout unless `loginctl enable-linger $USER`"
	case Cron:
		return "check that cron runs (`systemctl status cron`) and that `crontab -l` still has the bbkey line"
	case Launchd:
		return "check `launchctl print gui/$(id -u)/" + launchdLabel(id) + "`; launch agents run only while you are logged in"
	case TaskScheduler:
		return "check `schtasks /Query /TN " + jobName(id) + " /V /FO LIST`"
	}
	return ""
}

// Runner runs the backend's commands (systemctl, launchctl, schtasks, crontab).
type Runner interface {
	// Run runs name with args and stdin, returning stdout. A non-zero exit is an error
	// that includes stderr (*CommandError).
	Run(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error)
}

// CommandError is a command that failed.
type CommandError struct {
	Args   []string
	Stderr string
	Err    error
}

func (e *CommandError) Error() string {
	msg := fmt.Sprintf("%s: %v", strings.Join(e.Args, " "), e.Err)
	if s := strings.TrimSpace(e.Stderr); s != "" {
		msg += ": " + s
	}
	return msg
}

func (e *CommandError) Unwrap() error { return e.Err }

// ExecRunner runs real commands.
type ExecRunner struct{}

// Run runs the command.
func (ExecRunner) Run(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = redact.Environ(cmd.Environ()) // the timer tools need none of bbkey's secrets
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), &CommandError{Args: append([]string{name}, args...), Stderr: stderr.String(), Err: err}
	}
	return stdout.Bytes(), nil
}

// Detect picks the backend for goos: launchd on macOS, Task Scheduler on Windows, a
// systemd user timer where `systemctl --user show-environment` answers, cron otherwise.
func Detect(ctx context.Context, goos string, r Runner) Backend {
	switch goos {
	case "darwin":
		return Launchd
	case "windows":
		return TaskScheduler
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := r.Run(ctx, nil, "systemctl", "--user", "show-environment"); err == nil {
		return Systemd
	}
	return Cron
}

// Installer installs jobs into one backend.
type Installer struct {
	Backend Backend
	Runner  Runner
	// Home is the user's home (launchd: ~/Library/LaunchAgents).
	Home string
	// ConfigDir is bbkey's config directory: the Task Scheduler XML is kept there, and
	// systemd's user units in systemd/user beside it ($XDG_CONFIG_HOME/systemd/user).
	ConfigDir string
	// UID is the user's id, for the launchd domain gui/<uid>.
	UID int
	Now func() time.Time
	// ProcDir is where a cron daemon is looked for after installing a crontab line; "" is /proc.
	ProcDir string
}

// File is a file a plan writes.
type File struct {
	Path    string
	Content []byte
	Mode    fs.FileMode
}

// Command is a command a plan runs.
type Command struct {
	Args  []string
	Stdin []byte
	// MayFail marks commands whose failure means "nothing to undo" (stopping a job that
	// is not loaded).
	MayFail bool
}

// Plan is what installing or removing a job does, in order: Before, Write, Remove,
// After. Print it for --dry-run; Apply carries it out.
type Plan struct {
	Backend Backend
	Before  []Command
	Write   []File
	Remove  []string
	After   []Command
	// Task is, for Task Scheduler, the command line the task runs (its program and
	// arguments), as Windows will run it.
	Task string
}

// Empty reports whether the plan changes nothing.
func (p *Plan) Empty() bool {
	return len(p.Before)+len(p.Write)+len(p.Remove)+len(p.After) == 0
}

// Lines describes the plan, one action a line, for --dry-run and progress output.
// Task Scheduler's commands are shown quoted for Windows (cmd.exe and PowerShell take
// them), then the command line the task will run, as Task Scheduler starts it.
func (p *Plan) Lines() []string {
	quote := text.ShellQuote
	if p.Backend == TaskScheduler {
		quote = text.WindowsQuote
	}
	var out []string
	run := func(cmds []Command) {
		for _, c := range cmds {
			line := "run " + text.JoinQuoted(c.Args, quote)
			if c.Stdin != nil {
				line += fmt.Sprintf(" < (%d lines)", strings.Count(string(c.Stdin), "\n"))
			}
			out = append(out, line)
		}
	}
	run(p.Before)
	for _, f := range p.Write {
		out = append(out, "write "+f.Path)
	}
	for _, r := range p.Remove {
		out = append(out, "remove "+r)
	}
	run(p.After)
	if p.Task != "" {
		out = append(out, "register the task to run: "+p.Task)
	}
	return out
}

// Files lists the files the backend keeps for job id (none for cron).
func (in *Installer) Files(id string) []string {
	switch in.Backend {
	case Systemd:
		u := filepath.Join(filepath.Dir(in.ConfigDir), "systemd", "user", jobName(id))
		return []string{u + ".service", u + ".timer"}
	case Launchd:
		return []string{filepath.Join(in.Home, "Library", "LaunchAgents", launchdLabel(id)+".plist")}
	case TaskScheduler:
		return []string{filepath.Join(in.ConfigDir, "schedule", jobName(id)+".xml")}
	}
	return nil
}

func systemctl(mayFail bool, args ...string) Command {
	return Command{Args: append([]string{"systemctl", "--user"}, args...), MayFail: mayFail}
}

// PlanInstall works out how to install j, replacing an earlier install of the same job.
// It only reads (the current crontab, for cron).
func (in *Installer) PlanInstall(ctx context.Context, j Job) (*Plan, error) {
	p := &Plan{Backend: in.Backend}
	switch in.Backend {
	case Systemd:
		svc, tmr, err := SystemdUnits(j)
		if err != nil {
			return nil, err
		}
		files := in.Files(j.ID)
		timer := jobName(j.ID) + ".timer"
		p.Write = []File{{files[0], []byte(svc), 0o644}, {files[1], []byte(tmr), 0o644}}
		// restart, not start: a timer already running picks up a changed calendar.
		p.After = []Command{systemctl(false, "daemon-reload"), systemctl(false, "enable", timer), systemctl(false, "restart", timer)}
	case Launchd:
		plist, err := LaunchdPlist(j)
		if err != nil {
			return nil, err
		}
		path := in.Files(j.ID)[0]
		p.Before = []Command{in.bootout(j.ID)}
		p.Write = []File{{path, []byte(plist), 0o644}}
		p.After = []Command{{Args: []string{"launchctl", "bootstrap", in.domain(), path}}}
	case TaskScheduler:
		x, err := TaskXML(j, in.Now())
		if err != nil {
			return nil, err
		}
		path := in.Files(j.ID)[0]
		p.Write = []File{{path, EncodeUTF16(x), 0o600}}
		p.After = []Command{{Args: []string{"schtasks", "/Create", "/TN", jobName(j.ID), "/XML", path, "/F"}}}
		// The command line the task runs, as Task Scheduler starts it (%SystemRoot%
		// expanded by Windows).
		args, err := taskArguments(j)
		if err != nil {
			return nil, err
		}
		p.Task = cmdExe + " " + args
	case Cron:
		line, err := CronLine(j)
		if err != nil {
			return nil, err
		}
		cur, err := in.crontab(ctx)
		if err != nil {
			return nil, err
		}
		next := CronInstall(cur, line, j.ID)
		if next != cur {
			p.After = []Command{{Args: []string{"crontab", "-"}, Stdin: []byte(next)}}
		}
	default:
		return nil, fmt.Errorf("unknown schedule backend %q", in.Backend)
	}
	return p, nil
}

// PlanUninstall works out how to remove job id; the plan is empty when it is not
// installed.
func (in *Installer) PlanUninstall(ctx context.Context, id string) (*Plan, error) {
	p := &Plan{Backend: in.Backend}
	existing := func() []string {
		var out []string
		for _, f := range in.Files(id) {
			if _, err := os.Lstat(f); err == nil {
				out = append(out, f)
			}
		}
		return out
	}
	switch in.Backend {
	case Systemd:
		if p.Remove = existing(); len(p.Remove) > 0 {
			p.Before = []Command{systemctl(true, "disable", "--now", jobName(id)+".timer")}
			p.After = []Command{systemctl(false, "daemon-reload")}
		}
	case Launchd:
		if p.Remove = existing(); len(p.Remove) > 0 {
			p.Before = []Command{in.bootout(id)}
		}
	case TaskScheduler:
		p.Remove = existing()
		if in.taskRegistered(ctx, id) {
			p.Before = []Command{{Args: []string{"schtasks", "/Delete", "/TN", jobName(id), "/F"}}}
		}
	case Cron:
		cur, err := in.crontab(ctx)
		if err != nil {
			return nil, err
		}
		if next, found := CronRemove(cur, id); found {
			p.After = []Command{{Args: []string{"crontab", "-"}, Stdin: []byte(next)}}
		}
	default:
		return nil, fmt.Errorf("unknown schedule backend %q", in.Backend)
	}
	return p, nil
}

// Apply carries out p: commands before, files written atomically, files removed,
// commands after. It stops at the first failure.
func (in *Installer) Apply(ctx context.Context, p *Plan) (err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("schedule: %w", err)
		}
	}()
	run := func(cmds []Command) error {
		for _, c := range cmds {
			if _, err := in.Runner.Run(ctx, c.Stdin, c.Args[0], c.Args[1:]...); err != nil && !c.MayFail {
				return err
			}
		}
		return nil
	}
	if err := run(p.Before); err != nil {
		return err
	}
	for _, f := range p.Write {
		if err := os.MkdirAll(filepath.Dir(f.Path), 0o755); err != nil {
			return err
		}
		if err := fsutil.WriteFileAtomic(f.Path, f.Content, f.Mode); err != nil {
			return err
		}
	}
	for _, r := range p.Remove {
		if err := os.Remove(r); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return run(p.After)
}

func (in *Installer) domain() string { return fmt.Sprintf("gui/%d", in.UID) }

// bootout stops a launch agent; one that is not loaded has nothing to undo.
func (in *Installer) bootout(id string) Command {
	return Command{Args: []string{"launchctl", "bootout", in.domain() + "/" + launchdLabel(id)}, MayFail: true}
}

// crontab returns the user's crontab; none yet is an empty one.
func (in *Installer) crontab(ctx context.Context) (string, error) {
	out, err := in.Runner.Run(ctx, nil, "crontab", "-l")
	if err != nil {
		var ce *CommandError
		if errors.As(err, &ce) && strings.Contains(strings.ToLower(ce.Stderr), "no crontab") {
			return "", nil
		}
		if errors.Is(err, exec.ErrNotFound) {
			return "", fmt.Errorf("schedule: no systemd user manager and no crontab command (install cron): %w", err)
		}
		return "", fmt.Errorf("schedule: reading the crontab: %w", err)
	}
	return string(out), nil
}

func (in *Installer) taskRegistered(ctx context.Context, id string) bool {
	_, err := in.Runner.Run(ctx, nil, "schtasks", "/Query", "/TN", jobName(id))
	return err == nil
}
