package rotate

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"time"

	"github.com/bbkey/bbkey/internal/credstore"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/keylabel"
	engine "github.com/bbkey/bbkey/internal/rotate"
	"github.com/bbkey/bbkey/internal/schedule"
	"github.com/bbkey/bbkey/internal/secret"
	"github.com/bbkey/bbkey/internal/settings"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/internal/testhook"
	"github.com/bbkey/bbkey/keys"
)

// SchedulerEnv is a test hook (read only by a bbkey built with -tags bbkey_e2e): it
// overrides the scheduler Detect picks, so the tests can install (with stand-in
// launchctl, systemctl, crontab) and run every backend's job on one machine.
const SchedulerEnv = "BBKEY_TEST_SCHEDULER"

// installer returns the timer backend of this machine.
func (o *Options) installer(ctx context.Context, p settings.Paths) (*schedule.Installer, error) {
	if o.Scheduler != nil {
		return o.Scheduler(ctx, p)
	}
	r := schedule.ExecRunner{}
	backend := schedule.Detect(ctx, runtime.GOOS, r)
	if v, ok := testhook.Lookup(o.LookupEnv, SchedulerEnv); ok && v != "" {
		switch b := schedule.Backend(v); b {
		case schedule.Systemd, schedule.Cron, schedule.Launchd, schedule.TaskScheduler:
			backend = b
		default:
			return nil, errkind.UsageError(fmt.Errorf("%s=%s: not a scheduler (systemd, cron, launchd, taskscheduler)", SchedulerEnv, v))
		}
	}
	return &schedule.Installer{
		Backend:   backend,
		Runner:    r,
		Home:      p.Home,
		ConfigDir: p.ConfigDir,
		UID:       os.Getuid(),
		Now:       o.Now,
	}, nil
}

// plainErr makes a failed timer command exit 1: its *exec.ExitError would otherwise lend
// bbkey the command's own exit code.
func plainErr(err error) error {
	var ee *errkind.ExitError
	if errors.As(err, &ee) {
		return err
	}
	return &errkind.ExitError{Code: errkind.ExitFailure, Err: err}
}

// The --json documents of --schedule and --unschedule (docs/rotate.md).
type jsonSchedule struct {
	Action       string   `json:"action"`
	DryRun       bool     `json:"dry_run"`
	Job          string   `json:"job"`
	Backend      string   `json:"backend"`
	Schedule     string   `json:"schedule,omitempty"`
	NextRun      string   `json:"next_run,omitempty"`
	Command      []string `json:"command,omitempty"`
	LogFile      string   `json:"log_file,omitempty"`
	Passphrase   string   `json:"passphrase,omitempty"`
	Changed      bool     `json:"changed"`
	Actions      []string `json:"actions"`
	ChangedFiles []string `json:"changed_files"`
	Warnings     []string `json:"warnings,omitempty"`
}

func runSchedule(ctx context.Context, opts *Options, fl flags) error {
	paths, err := opts.Paths()
	if err != nil {
		return err
	}
	st, err := state.Dir{Path: paths.ConfigDir}.Load()
	if err != nil {
		return err
	}
	names := keyNames(st, opts.kind())
	if len(names) == 0 {
		return engine.NoKeysError(opts.kind(), " on a schedule")
	}
	exe, err := opts.Executable()
	if err != nil {
		return fmt.Errorf("finding the bbkey executable for the timer: %w", err)
	}
	if exe, err = filepath.Abs(exe); err != nil {
		return err
	}
	// The job: `bbkey rotate [--access-keys] --if-older-than AGE --no-input`, the
	// passphrase from a file, --no-passphrase, or neither (the keychain).
	age := schedule.DefaultIfOlderThan
	if fl.ageGiven {
		age = keylabel.FormatDuration(fl.ifOlderThan)
	}
	job := schedule.Job{ID: schedule.JobID(opts.AccessKeys), Executable: exe, Args: []string{"rotate"},
		LogFile: filepath.Join(paths.ConfigDir, schedule.LogFileName)}
	what := "the Bitbucket account key"
	if opts.AccessKeys {
		job.Args = append(job.Args, "--access-keys")
		what = "this machine's Bitbucket access keys"
	}
	job.Args = append(job.Args, "--if-older-than", age, "--no-input")
	job.Description = fmt.Sprintf("bbkey: replace %s when older than %s", what, age)
	if opts.PassphraseFile != "" {
		abs, err := filepath.Abs(opts.PassphraseFile)
		if err != nil {
			return err
		}
		// The job reads it at every run: make sure it is readable and private now.
		b, err := secret.ReadNonEmpty("--passphrase-file", abs)
		if err != nil {
			return err
		}
		clear(b)
		job.Args = append(job.Args, "--passphrase-file", abs)
	} else if opts.NoPassphrase {
		job.Args = append(job.Args, "--no-passphrase")
	}
	// The job must find the same ssh and config directories without the shell's
	// environment; BBKEY_SCHEDULED tells the run it is the timer's.
	job.Env = []string{schedule.ScheduledEnv + "=" + job.ID}
	if paths.SSHDirFromEnv {
		job.Env = append(job.Env, "BBKEY_SSH_DIR="+paths.SSHDir)
	}
	if v, ok := opts.LookupEnv("XDG_CONFIG_HOME"); ok && filepath.IsAbs(v) {
		job.Env = append(job.Env, "XDG_CONFIG_HOME="+v)
	}
	host, _ := opts.Hostname()
	job.Calendar = schedule.DefaultCalendar(fl.frequency, host+"/"+job.ID)
	in, err := opts.installer(ctx, paths)
	if err != nil {
		return err
	}
	if err := jobCanRun(ctx, opts, in.Backend, st); err != nil {
		return err
	}
	plan, err := in.PlanInstall(ctx, job)
	if err != nil {
		return plainErr(err)
	}

	// The passphrase of the keys the job makes: the file, the explicit opt-out, or the
	// keychain (stored now, asked for on the terminal or taken from BBKEY_PASSPHRASE).
	passDesc, store, pending, err := schedulePassphrase(ctx, opts, names)
	if err != nil {
		return err
	}
	defer func() {
		for _, p := range pending {
			clear(p)
		}
	}()

	doc := jsonSchedule{Action: "schedule", Job: job.ID, Backend: string(in.Backend), Schedule: job.Calendar.String(),
		Command: append([]string{job.Executable}, job.Args...), LogFile: job.LogFile, Passphrase: passDesc}
	if next := job.Calendar.Next(opts.Now()); !next.IsZero() {
		doc.NextRun = next.Format(time.RFC3339)
	}
	if !opts.DryRun {
		for _, name := range slices.Sorted(maps.Keys(pending)) {
			sec := credstore.Secret{Kind: credstore.KindPassphrase, Secret: pending[name], Created: opts.Now()}
			if err := store.Set(ctx, credstore.PassphraseAccount(name), sec); err != nil {
				return fmt.Errorf("keeping the passphrase of %q in the %s: %w", name, store.Kind(), err)
			}
			opts.IOStreams.Step(iostreams.MarkOK, "kept the passphrase for %q's new keys in the %s", name, store.Kind())
		}
		if err := in.Apply(ctx, plan); err != nil {
			return plainErr(err)
		}
		rec := &state.Schedule{Backend: string(in.Backend), Frequency: string(fl.frequency), Hour: job.Calendar.Hour,
			Minute: job.Calendar.Minute, Command: doc.Command, IfOlderThan: age,
			LogFile: job.LogFile, Files: in.Files(job.ID), Installed: opts.Now()}
		if err := recordSchedule(ctx, opts, paths, job.ID, rec); err != nil {
			return err
		}
		if in.Backend == schedule.Cron {
			doc.Warnings = warnNoCron(opts, in.ProcDir)
		}
	}
	return reportPlan(opts, plan, doc, "the "+string(in.Backend)+" timer is already installed as it should be",
		fmt.Sprintf("installed the %s timer: %s, next run %s", in.Backend, doc.Schedule, doc.NextRun))
}

// warnNoCron warns when no cron daemon runs (WSL, a container): the line is installed
// all the same, as one may be started later, but until then the job never runs.
func warnNoCron(opts *Options, procDir string) []string {
	if running, known := schedule.CronRunning(procDir); running || !known {
		return nil
	}
	const warning, hint = "no cron daemon is running: the crontab line is installed, but the job will not run until one is started",
		"start the cron service (e.g. `sudo service cron start`, and have it start at boot), or run the job from a systemd user timer or another scheduler"
	opts.IOStreams.Warnf("%s", warning)
	opts.IOStreams.Hint(hint)
	return []string{warning + "; " + hint}
}

// schedulePassphrase works out where the scheduled job's passphrase comes from. For the
// keychain it returns the passphrases still to store, by key name; they are stored only
// once everything else is known to be in order.
func schedulePassphrase(ctx context.Context, opts *Options, names []string) (string, credstore.Store, map[string][]byte, error) {
	switch {
	case opts.NoPassphrase:
		opts.IOStreams.Warnf("%s", secret.NoPassphraseWarning)
		return "none (--no-passphrase)", nil, nil, nil
	case opts.PassphraseFile != "":
		return "file", nil, nil, nil
	}
	noSource := errkind.UsageError(errors.New("the timer needs a passphrase for the new keys and has no terminal to ask"),
		"give it in a file the job reads at every run: --passphrase-file FILE",
		"or keep it in the keychain: run this on a terminal, or with BBKEY_PASSPHRASE set",
		"or opt out with --no-passphrase (the keys are then unencrypted)")
	store, err := opts.CredStore(ctx, false)
	if err != nil {
		return "", nil, nil, errkind.UsageError(fmt.Errorf("no keychain to keep the timer's passphrase in: %w", err),
			"give the timer a passphrase file instead: --passphrase-file FILE (the job reads it at every run; make it private: "+keys.PrivateFileCommand+")")
	}
	pending := map[string][]byte{}
	var shared []byte
	for _, name := range names {
		if _, err := store.Get(ctx, credstore.PassphraseAccount(name)); err == nil {
			continue
		} else if !errors.Is(err, credstore.ErrNotFound) {
			return "", nil, nil, fmt.Errorf("reading the %s: %w", store.Kind(), err)
		}
		if shared == nil {
			_, inEnv := opts.LookupEnv(secret.PassphraseEnv)
			if opts.NoInput && !inEnv {
				return "", nil, nil, noSource
			}
			if opts.DryRun {
				pending[name] = nil
				continue
			}
			if shared, err = secret.Input(opts.PassphraseFile, opts.LookupEnv, opts.NoInput, opts.Prompter).NewPassphrase(); err != nil {
				return "", nil, nil, err
			}
		}
		pending[name] = append([]byte(nil), shared...)
	}
	clear(shared)
	return store.Kind(), store, pending, nil
}

// recordSchedule keeps (rec) or forgets (nil) the installed timer in the state, for
// doctor. Re-installing the same timer keeps its install time.
func recordSchedule(ctx context.Context, opts *Options, paths settings.Paths, id string, rec *state.Schedule) error {
	err := state.Dir{Path: paths.ConfigDir, Now: opts.Now}.Update(ctx, func(st *state.State) error {
		old := st.Schedules[id]
		switch {
		case rec == nil && old == nil:
			return errScheduleUnchanged
		case rec == nil:
			delete(st.Schedules, id)
			return nil
		case old != nil:
			same := *rec
			same.Installed = old.Installed
			if reflect.DeepEqual(*old, same) {
				return errScheduleUnchanged
			}
		}
		if st.Schedules == nil {
			st.Schedules = map[string]*state.Schedule{}
		}
		st.Schedules[id] = rec
		return nil
	})
	if err != nil && !errors.Is(err, errScheduleUnchanged) {
		return fmt.Errorf("recording the timer in the state: %w", err)
	}
	return nil
}

var errScheduleUnchanged = errors.New("unchanged")

// jobCanRun refuses, with exit 2 and before anything is installed, a job that would fail
// each time its scheduler starts it: without this shell's environment, flags and
// terminal, and (cron) without a keychain, it would lack its credential or passphrase.
func jobCanRun(ctx context.Context, opts *Options, b schedule.Backend, st *state.State) error {
	// cron starts jobs with HOME, LOGNAME, PATH and SHELL only: no session bus, so no
	// Secret Service. A systemd user timer runs in the user manager, which has the user's
	// bus; launchd agents and Task Scheduler tasks run in the user's session.
	reachesKeychain := b != schedule.Cron
	cronHint := "or use a systemd user timer, whose jobs reach the keychain: it is chosen when `systemctl --user` works (`loginctl enable-linger $USER` keeps the user manager running without a login)"
	// The credentials: the job finds only stored ones, one for each Bitbucket it rotates
	// keys on (Cloud's, and each Data Center server's own entry).
	store, err := opts.CredStore(ctx, true)
	for _, server := range st.Bitbuckets() {
		if len(keyNamesOn(st, opts.kind(), server)) == 0 {
			continue
		}
		account, login, what := credstore.DefaultAccount, "bbkey auth login", "Bitbucket credential"
		if server != "" {
			account, login, what = credstore.ServerAccount(server), "bbkey auth login --server "+server, "HTTP access token of "+server
		}
		stored := ""
		if err == nil {
			if _, gerr := store.Get(ctx, account); gerr == nil {
				stored = store.Kind()
			}
		}
		switch {
		case stored == "":
			return errkind.UsageError(fmt.Errorf("the timer's job would have no %s: it gets none of this shell's environment (BITBUCKET_*) or flags (--token-file), and none is stored", what),
				"store it where the job finds it: `"+login+"` (the OS keychain), or `"+login+" --insecure-storage` (a 0600 file, for cron and servers without a keychain)")
		case stored != "file" && !reachesKeychain:
			return errkind.UsageError(fmt.Errorf("the timer's job could not read the %s: it is in the %s, and %s jobs have no session bus to reach it", what, stored, b),
				"store it in a file the job can read: `"+login+" --insecure-storage` (0600, in the config directory)", cronHint)
		}
	}
	// The passphrase of the new keys: a file or the opt-out always work; the keychain
	// entry (kept by --schedule itself) only where the job reaches the keychain.
	if opts.NoPassphrase || opts.PassphraseFile != "" {
		return nil
	}
	ps, err := opts.CredStore(ctx, false)
	if err != nil || ps.Kind() == "file" || reachesKeychain {
		return nil // schedulePassphrase says what is missing, or keeps it where the job finds it
	}
	return errkind.UsageError(fmt.Errorf("the timer's job could not read the new keys' passphrase: it would be kept in the %s, and %s jobs have no session bus to reach it", ps.Kind(), b),
		"give the job a passphrase file it reads at every run: --passphrase-file FILE (make it private: "+keys.PrivateFileCommand+"); a passphrase only in BBKEY_PASSPHRASE does not reach it", cronHint)
}
