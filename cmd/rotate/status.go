package rotate

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/keylabel"
	engine "github.com/bbkey/bbkey/internal/rotate"
	"github.com/bbkey/bbkey/internal/schedule"
	"github.com/bbkey/bbkey/internal/state"
)

// The --status document (docs/rotate.md).
type (
	jsonStatus struct {
		Schedules        []jsonJob           `json:"schedules"`
		LastScheduledRun *state.ScheduledRun `json:"last_scheduled_run"`
		LastRotation     *state.Rotation     `json:"last_rotation"`
		InProgress       *jsonJournal        `json:"in_progress"`
		Keys             []jsonKeyDue        `json:"keys"`
	}
	jsonJob struct {
		Job         string   `json:"job"`
		Kind        string   `json:"kind"`
		Installed   bool     `json:"installed"`
		Backend     string   `json:"backend"`
		Schedule    string   `json:"schedule,omitempty"`
		Spec        string   `json:"spec,omitempty"`
		Command     string   `json:"command,omitempty"`
		IfOlderThan string   `json:"if_older_than,omitempty"`
		LogFile     string   `json:"log_file,omitempty"`
		Files       []string `json:"files"`
		NextRun     string   `json:"next_run,omitempty"`
		// LastRun is the job's last run as its log tells it (also when bbkey could not
		// start, or the run was killed before it recorded anything).
		LastRun *schedule.LoggedRun `json:"last_run,omitempty"`
		// Error says why a recorded timer is not installed any more.
		Error string `json:"error,omitempty"`
	}
	jsonJournal struct {
		Kind           state.RotationKind `json:"kind"`
		Name           string             `json:"name"`
		Step           string             `json:"step"`
		Started        time.Time          `json:"started"`
		OldFingerprint string             `json:"old_fingerprint"`
		NewFingerprint string             `json:"new_fingerprint,omitempty"`
		// Next is what the next run does with it: "finish" or "roll back".
		Next string `json:"next"`
	}
	jsonKeyDue struct {
		Kind state.RotationKind `json:"kind"`
		Name string             `json:"name"`
		// Server is the Data Center server the key is on; absent for Bitbucket Cloud.
		Server      string    `json:"server,omitempty"`
		Fingerprint string    `json:"fingerprint"`
		Created     time.Time `json:"created,omitzero"`
		AgeDays     int       `json:"age_days"`
		IfOlderThan string    `json:"if_older_than"`
		Due         string    `json:"due,omitempty"`
		Overdue     bool      `json:"overdue"`
	}
)

// runStatus reads the state (with the timers --schedule recorded), the timers' log and
// the journal; it calls nothing on Bitbucket.
func runStatus(ctx context.Context, opts *Options, fl flags) error {
	paths, err := opts.Paths()
	if err != nil {
		return err
	}
	dir := state.Dir{Path: paths.ConfigDir}
	st, err := dir.Load()
	if err != nil {
		return err
	}
	in, err := opts.installer(ctx, paths)
	if err != nil {
		return err
	}
	doc := jsonStatus{Schedules: []jsonJob{}, Keys: []jsonKeyDue{}, LastScheduledRun: st.LastScheduledRun}
	ages := map[state.RotationKind]time.Duration{}
	for _, kind := range []state.RotationKind{state.RotateAccount, state.RotateAccessKeys} {
		id := schedule.JobID(kind == state.RotateAccessKeys)
		j := jobStatus(id, kind, st.Schedules[id], in.Backend, opts.Now())
		if d, err := keylabel.ParseDuration(j.IfOlderThan); err == nil && j.Installed {
			ages[kind] = d
		}
		logFile := cmp.Or(j.LogFile, filepath.Join(paths.ConfigDir, schedule.LogFileName))
		if run, ok, err := schedule.ReadLastRun(logFile, id); err != nil {
			opts.IOStreams.Warnf("reading the timer's log: %v", err)
		} else if ok {
			j.LastRun = &run
		}
		doc.Schedules = append(doc.Schedules, j)
	}
	if n := len(st.Rotations); n > 0 {
		r := st.Rotations[n-1]
		doc.LastRotation = &r
	}
	if j, err := dir.LoadJournal(); err == nil {
		next := "roll back"
		if j.Did(engine.StepProve) {
			next = "finish"
		}
		doc.InProgress = &jsonJournal{Kind: j.Kind, Name: j.Name, Step: engine.JournalStep(j), Started: j.Started,
			OldFingerprint: j.OldFingerprint, NewFingerprint: j.NewFingerprint, Next: next}
	} else if !errors.Is(err, state.ErrNoJournal) {
		return err
	}

	// When each key is due: --if-older-than when given, else the installed timer's, else
	// the timer default; a label's ttl is the stricter policy where it is shorter.
	now := opts.Now()
	addKey := func(kind state.RotationKind, server, name, fp, label string, created time.Time) {
		l, _ := keylabel.Parse(label)
		created = keylabel.AgeOf(false, label, created).Created
		k := jsonKeyDue{Kind: kind, Name: name, Server: server, Fingerprint: fp, Created: created}
		d := cmp.Or(ages[kind], defaultScheduledAge)
		if fl.ageGiven {
			d = fl.ifOlderThan
		}
		d = engine.Limit(d, l)
		k.IfOlderThan = keylabel.FormatDuration(d)
		if !created.IsZero() {
			k.AgeDays = engine.AgeDays(created, now)
			due := created.Add(d)
			k.Due, k.Overdue = due.UTC().Format(time.DateOnly), !now.Before(due)
		}
		doc.Keys = append(doc.Keys, k)
	}
	for _, server := range st.Bitbuckets() {
		accounts := st.AccountsOf(server)
		for _, name := range slices.Sorted(maps.Keys(accounts)) {
			a := accounts[name]
			addKey(state.RotateAccount, server, name, a.Fingerprint, a.Label, a.Created)
		}
	}
	for _, server := range st.Bitbuckets() {
		access := st.AccessKeysOf(server)
		for _, name := range slices.Sorted(maps.Keys(access)) {
			a := access[name]
			addKey(state.RotateAccessKeys, server, name, a.Fingerprint, a.Label, a.Created)
		}
	}
	return printStatus(opts, doc)
}

// describeLoggedRun is one line on a job's last run, from its log.
func describeLoggedRun(r schedule.LoggedRun) string {
	switch {
	case r.NotStarted != "":
		return fmt.Sprintf("failed: the job did not start bbkey (log written %s): %s", r.LogModified.Format(time.RFC3339), r.NotStarted)
	case !r.Finished:
		return fmt.Sprintf("%s started and never finished (killed, or the machine stopped)", r.Started.Format(time.RFC3339))
	}
	return runLine(r.Started, r.Result, r.ExitCode, r.Error)
}

// runLine is one line on a run's outcome: when, the result and exit code, the error.
func runLine(t time.Time, result string, code int, errText string) string {
	line := fmt.Sprintf("%s %s (exit %d)", t.Format(time.RFC3339), result, code)
	if errText != "" {
		line += ": " + errText
	}
	return line
}

// jobStatus is the timer `--schedule` recorded for job id (nil: none), checked against
// the files its scheduler keeps: a file removed outside bbkey means the timer is gone.
// detected is this machine's scheduler, shown for a job that is not installed.
func jobStatus(id string, kind state.RotationKind, rec *state.Schedule, detected schedule.Backend, now time.Time) jsonJob {
	if rec == nil {
		return jsonJob{Job: id, Kind: string(kind), Backend: string(detected), Files: []string{}}
	}
	j := jsonJob{Job: id, Kind: string(kind), Installed: true, Backend: rec.Backend, Schedule: rec.Frequency,
		Command: strings.Join(rec.Command, " "), IfOlderThan: rec.IfOlderThan, LogFile: rec.LogFile, Files: orEmpty(rec.Files)}
	if len(rec.Command) > 0 { // an older bbkey kept no time of day
		cal := schedule.Calendar{Frequency: schedule.Frequency(rec.Frequency), Hour: rec.Hour, Minute: rec.Minute}
		j.Schedule, j.Spec = cal.String(), cal.Spec(schedule.Backend(rec.Backend))
		if next := cal.Next(now); !next.IsZero() {
			j.NextRun = next.Format(time.RFC3339)
		}
	}
	if f := rec.Gone(); f != "" {
		j.Installed, j.NextRun = false, ""
		j.Error = fmt.Sprintf("its file %s is gone (removed outside bbkey): run `bbkey rotate --schedule %s%s` to install the timer again, or --unschedule to forget it",
			f, rec.Frequency, map[bool]string{true: " --access-keys"}[kind == state.RotateAccessKeys])
	}
	return j
}

func printStatus(opts *Options, doc jsonStatus) error {
	if opts.JSON {
		return iostreams.WriteJSON(opts.IOStreams.Out, doc)
	}
	tw := tabwriter.NewWriter(opts.IOStreams.Out, 0, 4, 2, ' ', 0)
	for _, j := range doc.Schedules {
		what := "account key"
		if j.Kind == string(state.RotateAccessKeys) {
			what = "access keys"
		}
		v := "not installed (" + j.Backend + ")"
		switch {
		case j.Error != "":
			v = "not installed (" + j.Backend + "): " + j.Error
		case j.Installed:
			v = fmt.Sprintf("%s via %s, next run %s", j.Schedule, j.Backend, cmp.Or(j.NextRun, "-"))
		}
		fmt.Fprintf(tw, "schedule (%s)\t%s\n", what, v)
		if r := j.LastRun; r != nil {
			fmt.Fprintf(tw, "last run (%s)\t%s\n", what, describeLoggedRun(*r))
		}
	}
	// The state's record of the timer's last run is shown only when no job's log line
	// above names that run already (the log was removed, or the state was not).
	r := doc.LastScheduledRun
	logged := slices.ContainsFunc(doc.Schedules, func(j jsonJob) bool {
		return j.LastRun != nil && (r == nil || j.LastRun.Started.Equal(r.Time.Truncate(time.Second)))
	})
	switch {
	case r != nil && !logged:
		fmt.Fprintf(tw, "last scheduled run\t%s\n", runLine(r.Time, string(r.Result), r.ExitCode, r.Error))
	case r == nil && !logged:
		fmt.Fprintf(tw, "last scheduled run\tnever\n")
	}
	last := "never"
	if r := doc.LastRotation; r != nil {
		last = fmt.Sprintf("%s %s %q %s", r.Time.Format(time.RFC3339), r.Kind, r.Name, r.Result)
	}
	fmt.Fprintf(tw, "last rotation\t%s\n", last)
	if j := doc.InProgress; j != nil {
		fmt.Fprintf(tw, "in progress\t%s %q stopped after %s; the next run will %s it\n", j.Kind, j.Name, j.Step, j.Next)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(doc.Keys) == 0 {
		return nil
	}
	fmt.Fprintln(opts.IOStreams.Out)
	tw = tabwriter.NewWriter(opts.IOStreams.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tNAME\tFINGERPRINT\tAGE\tDUE")
	for _, k := range doc.Keys {
		due := cmp.Or(k.Due, "-")
		if k.Overdue {
			due += " (overdue)"
		}
		name := k.Name
		if k.Server != "" {
			name += " (" + k.Server + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%dd\t%s\n", k.Kind, name, k.Fingerprint, k.AgeDays, due)
	}
	return tw.Flush()
}
