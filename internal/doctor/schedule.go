package doctor

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/bbkey/bbkey/internal/schedule"
)

// period is how often a timer of frequency f fires (a month at its longest).
func period(f string) time.Duration {
	switch schedule.Frequency(f) {
	case schedule.Daily:
		return 24 * time.Hour
	case schedule.Weekly:
		return 7 * 24 * time.Hour
	default:
		return 31 * 24 * time.Hour
	}
}

// checkSchedule reads each installed timer's last run from its log: a failed run, no run
// for twice the timer's period, or a timer file removed outside bbkey, means the keys are
// silently no longer rotated.
func checkSchedule(_ context.Context, e *Env, _ Deps) Result {
	st, err := e.state()
	if err != nil {
		return Result{Status: Skipped, Summary: "skipped: cannot read bbkey's state"}
	}
	if len(st.Schedules) == 0 {
		// Rotating by hand is a choice, not a fault.
		return Result{Status: OK, Summary: "none installed: keys are rotated by hand (`bbkey rotate --schedule weekly` installs a timer)"}
	}
	const stopped = "a failing or stopped timer means the keys are no longer rotated, and nobody is told"
	now := e.Now()
	var fs []finding
	for _, id := range slices.Sorted(maps.Keys(st.Schedules)) {
		rec := st.Schedules[id]
		run, ok, err := schedule.ReadLastRun(rec.LogFile, id)
		last := rec.Installed
		if ok && run.Started.After(last) {
			last = run.Started
		}
		bad := func(line, fix string) { fs = append(fs, finding{Fail, line, stopped, fix}) }
		switch gone := rec.Gone(); {
		case gone != "":
			bad(fmt.Sprintf("%s (%s): its file %s is gone (removed outside bbkey)", id, rec.Backend, gone),
				"install it again: bbkey rotate --schedule "+rec.Frequency+jobFlag(id)+" (or forget it: bbkey rotate --unschedule"+jobFlag(id)+")")
		case err != nil:
			bad(fmt.Sprintf("%s: its log %s cannot be read: %v", id, rec.LogFile, err), "")
		case ok && run.NotStarted != "":
			bad(fmt.Sprintf("%s: the job did not start bbkey (log written %s): %s", id, run.LogModified.Format(time.RFC3339), run.NotStarted),
				"reinstall the timer where bbkey now is: bbkey rotate --schedule "+rec.Frequency+jobFlag(id))
		case ok && !run.Finished:
			bad(fmt.Sprintf("%s: the run started %s never finished (killed, or the machine stopped)", id, run.Started.Format(time.RFC3339)),
				"run `bbkey rotate"+jobFlag(id)+"` by hand: it finishes an interrupted rotation")
		case ok && run.ExitCode != 0:
			msg := fmt.Sprintf("%s: the last run (%s) failed with exit %d", id, run.Started.Format(time.RFC3339), run.ExitCode)
			if run.Error != "" {
				msg += ": " + run.Error
			}
			bad(msg, "read "+rec.LogFile+", then run `bbkey rotate"+jobFlag(id)+"` by hand to see and fix the error")
		case now.Sub(last) > 2*period(rec.Frequency):
			what := "has not run since " + last.Format(time.RFC3339)
			if !ok {
				what = "has never run since it was installed " + rec.Installed.Format(time.RFC3339)
			}
			fix := cmp.Or(schedule.Backend(rec.Backend).CheckHint(id), "reinstall it: bbkey rotate --schedule weekly"+jobFlag(id))
			bad(fmt.Sprintf("%s (%s, %s) %s", id, rec.Backend, rec.Frequency, what), fix)
		case ok:
			fs = append(fs, finding{OK, fmt.Sprintf("%s: last run %s %s", id, run.Started.Format(time.RFC3339), run.Result), "", ""})
		default:
			fs = append(fs, finding{OK, fmt.Sprintf("%s: installed %s, not due yet", id, rec.Installed.Format(time.RFC3339)), "", ""})
		}
	}
	return fold(fs, "")
}

func jobFlag(id string) string {
	if id == schedule.JobID(true) {
		return " --access-keys"
	}
	return ""
}
