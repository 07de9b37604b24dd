package schedule

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The lines a scheduled `bbkey rotate` writes around its own output in the job's log, so
// that --status and doctor can read the last run's outcome from the log (which also holds
// what the job printed when bbkey could not even start).

// StartedLine is the first line of a scheduled run.
func StartedLine(job string, t time.Time) string {
	return fmt.Sprintf("scheduled run %q started %s", job, t.Format(time.RFC3339))
}

// FinishedLine is the last line of a scheduled run (before the error, if any).
func FinishedLine(job, result string, code int) string {
	return fmt.Sprintf("scheduled run %q finished: %s (exit %d)", job, result, code)
}

var (
	startedRE  = regexp.MustCompile(`scheduled run "([^"]+)" started (\S+)`)
	finishedRE = regexp.MustCompile(`scheduled run "([^"]+)" finished: (\S+) \(exit (\d+)\)`)
)

// LoggedRun is the last run of a job as its log tells it.
type LoggedRun struct {
	Job     string    `json:"job"`
	Started time.Time `json:"started,omitzero"`
	// Finished is false for a run that started but wrote no outcome: killed, or the
	// machine went down.
	Finished bool   `json:"finished"`
	Result   string `json:"result,omitempty"`
	ExitCode int    `json:"exit_code"`
	// Error is the run's `bbkey: error:` line, if it printed one.
	Error string `json:"error,omitempty"`
	// NotStarted holds what the job printed after its last run when bbkey itself did not
	// start (a moved binary, a shell error): the job is failing.
	NotStarted string `json:"not_started,omitempty"`
	// LogModified is when the log was last written.
	LogModified time.Time `json:"log_modified,omitzero"`
}

// maxLogTail bounds how much of a long log is read: the last runs are at its end.
const maxLogTail = 256 << 10

// ReadLastRun reads the log and returns the last run of job; ok is false when the log
// has no trace of the job (or does not exist).
func ReadLastRun(path, job string) (run LoggedRun, ok bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return LoggedRun{}, false, nil
	}
	if err != nil {
		return LoggedRun{}, false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return LoggedRun{}, false, err
	}
	if fi.Size() > maxLogTail {
		if _, err := f.Seek(fi.Size()-maxLogTail, io.SeekStart); err != nil {
			return LoggedRun{}, false, err
		}
	}
	run = LoggedRun{Job: job, LogModified: fi.ModTime()}
	in := false   // inside a run of any job
	mine := false // inside, or after, a run of job
	seen := false // a run has been read
	// notStarted is the last line after the last run that no run wrote: the job could not
	// start bbkey. Which job wrote it the log cannot tell; both jobs share it, so both are
	// reported failing.
	notStarted := ""
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if m := startedRE.FindStringSubmatch(line); m != nil {
			in, mine, seen, notStarted = true, m[1] == job, true, ""
			if mine {
				t, _ := time.Parse(time.RFC3339, m[2])
				run = LoggedRun{Job: job, Started: t, LogModified: fi.ModTime()}
				ok = true
			}
			continue
		}
		if m := finishedRE.FindStringSubmatch(line); m != nil {
			if m[1] == job && mine {
				run.Finished, run.Result = true, m[2]
				run.ExitCode, _ = strconv.Atoi(m[3])
			}
			in = false
			continue
		}
		// A run's own lines, and the error and hints bbkey prints after its finished line.
		if !in && !(seen && notStarted == "" && strings.HasPrefix(line, "bbkey: ")) {
			notStarted = line
			continue
		}
		if e, found := strings.CutPrefix(line, "bbkey: error: "); found && mine {
			run.Error = e
		}
	}
	if err := sc.Err(); err != nil {
		return run, ok, err
	}
	if notStarted != "" {
		run.NotStarted = notStarted
		ok = true
	}
	return run, ok, nil
}
