// Package doctor diagnoses what stands between a user and a working `git fetch` over
// SSH to Bitbucket, one check per possible cause. A check whose question depends on one
// that failed is skipped, so one broken thing shows as one failure, not a cascade; each
// problem carries its cause and fix, and the safe ones a Fix that `doctor --fix` applies.
// Checks run concurrently, each under its own timeout; results come in a fixed order.
package doctor

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Status is the outcome of one check.
type Status string

// The outcomes, in increasing order of trouble (Skipped aside).
const (
	OK      Status = "ok"
	Warn    Status = "warn"
	Fail    Status = "fail"
	Skipped Status = "skipped"
	// notApplicable drops a check from the report (a Windows-only check elsewhere, a
	// fallback endpoint that is not configured).
	notApplicable Status = "n/a"
)

// Result is what one check found: its stable ID and Title, the one-line Summary,
// Details (each file, key or remote concerned), and for a problem its Cause and the
// exact Fix; Fixable when `bbkey doctor --fix` repairs it.
type Result struct {
	ID      string   `json:"id"`
	Title   string   `json:"title"`
	Status  Status   `json:"status"`
	Summary string   `json:"summary"`
	Details []string `json:"details,omitempty"`
	Cause   string   `json:"cause,omitempty"`
	Fix     string   `json:"fix,omitempty"`
	Fixable bool     `json:"fixable"`

	fixes []*Fix
}

// Fix is a safe repair, and its entry in the --json report. Several checks may share
// one (one sync rewrites the ssh config, the Include line and the pins); Fixes lists
// each once.
type Fix struct {
	// Key identifies the repair so checks sharing it run it once.
	Key         string   `json:"key"`
	Description string   `json:"description"`
	Checks      []string `json:"checks"`
	// Applied, Error and ChangedFiles are filled by Apply.
	Applied      bool     `json:"applied"`
	Error        string   `json:"error,omitempty"`
	ChangedFiles []string `json:"changed_files"`

	apply func(ctx context.Context) ([]string, error)
}

// Apply performs the repair, records its outcome and returns the files it changed.
func (f *Fix) Apply(ctx context.Context) ([]string, error) {
	files, err := f.apply(ctx)
	f.Applied = err == nil
	if files != nil {
		f.ChangedFiles = files
	}
	if err != nil {
		f.Error = err.Error()
	}
	return files, err
}

// Check is one diagnosis.
type Check struct {
	ID    string
	Title string
	// Timeout bounds the check once its dependencies are done.
	Timeout time.Duration
	// Deps are checks whose results this one reads; it starts when they are done.
	Deps []string
	Run  func(ctx context.Context, e *Env, deps Deps) Result
}

// Deps are the results of a check's dependencies, by ID.
type Deps map[string]Result

// failed returns the first of ids whose check failed or was skipped, for skipping a
// check whose question depends on them.
func (d Deps) failed(ids ...string) (Result, bool) {
	for _, id := range ids {
		if r, ok := d[id]; ok && (r.Status == Fail || r.Status == Skipped) {
			return r, true
		}
	}
	return Result{}, false
}

// Fixes returns the repairs of the results, each once, in report order.
func Fixes(results []Result) []*Fix {
	var out []*Fix
	byKey := map[string]*Fix{}
	for _, r := range results {
		if r.Status == OK || r.Status == notApplicable {
			continue
		}
		for _, fx := range r.fixes {
			if f, ok := byKey[fx.Key]; ok {
				if !slices.Contains(f.Checks, r.ID) {
					f.Checks = append(f.Checks, r.ID)
				}
				continue
			}
			f := *fx
			f.Checks, f.ChangedFiles = []string{r.ID}, []string{}
			byKey[f.Key] = &f
			out = append(out, &f)
		}
	}
	// Permissions first: other repairs read the key files, and keys refuses to read a
	// private key others can access.
	slices.SortStableFunc(out, func(a, b *Fix) int { return cmp.Compare(fixOrder(a.Key), fixOrder(b.Key)) })
	return out
}

func fixOrder(key string) int {
	if key == "chmod" || key == "acl" {
		return 0
	}
	return 1
}

// grace is how long the runner waits past a check's timeout for it to return by itself
// before reporting it as timed out (a check blocked in a call that ignores its context).
const grace = 500 * time.Millisecond

// Run runs the checks concurrently (each after its dependencies) and returns their
// results in the order given, without the checks that do not apply here.
func Run(ctx context.Context, e *Env, checks []Check) []Result {
	e.init(ctx)
	if st, err := e.state(); e.Settings.Server != "" && err == nil && len(st.Accounts)+len(st.AccessKeys) == 0 {
		checks = slices.DeleteFunc(slices.Clone(checks), func(c Check) bool { return slices.Contains(cloudOnly, c.ID) })
	}
	results := make([]Result, len(checks))
	index := make(map[string]int, len(checks))
	done := make([]chan struct{}, len(checks))
	for i, c := range checks {
		index[c.ID] = i
		done[i] = make(chan struct{})
	}
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Go(func() {
			defer close(done[i])
			deps := Deps{}
			for _, d := range c.Deps {
				if j, ok := index[d]; ok {
					<-done[j]
					deps[d] = results[j]
				}
			}
			results[i] = runOne(ctx, e, c, deps)
		})
	}
	wg.Wait()
	return slices.DeleteFunc(results, func(r Result) bool { return r.Status == notApplicable })
}

// runOne runs a check under its timeout. A check that does not return in time (blocked
// in a call that ignores the context) is reported as failed and left to finish alone.
func runOne(ctx context.Context, e *Env, c Check, deps Deps) Result {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = e.Timeouts.Local
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ch := make(chan Result, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				ch <- Result{Status: Fail, Summary: fmt.Sprintf("the check crashed: %v", p)}
			}
		}()
		ch <- c.Run(cctx, e, deps)
	}()
	var r Result
	select {
	case r = <-ch:
	case <-time.After(timeout + grace):
		r = Result{Status: Fail, Summary: fmt.Sprintf("no answer within %s", timeout),
			Cause: "something this check waits for (the agent, the network, a program) hangs",
			Fix:   "restart what hangs (the ssh agent, a stuck network connection), then run bbkey doctor again"}
	}
	if r.Status == Fail && cctx.Err() != nil && ctx.Err() != nil {
		r = Result{Status: Skipped, Summary: "interrupted"}
	}
	r.ID, r.Title = c.ID, c.Title
	r.Fixable = len(r.fixes) > 0 && r.Status != OK
	return r
}

// skip is the result of a check that cannot run because dep did not pass.
func skip(dep Result) Result {
	return Result{Status: Skipped, Summary: fmt.Sprintf("skipped: %s did not pass", dep.Title)}
}

// finding is what a check found about one item of several (a key, a server, a timer).
type finding struct {
	status     Status
	line       string
	cause, fix string
}

// fold makes one result of a check's findings: the worst status wins (skipped only when
// all are); the summary is the problems, else okSummary, else the OK lines; the other
// lines are details. No findings: the check does not apply.
func fold(fs []finding, okSummary string) Result {
	if len(fs) == 0 {
		return Result{Status: notApplicable}
	}
	r := Result{Status: OK}
	var bad, ok, skipped, causes, fixes []string
	for _, f := range fs {
		switch f.status {
		case OK:
			ok = append(ok, f.line)
			continue
		case Skipped:
			skipped = append(skipped, f.line)
			continue
		}
		if f.status == Fail || r.Status == OK {
			r.Status = f.status
		}
		bad = append(bad, f.line)
		causes, fixes = appendOnce(causes, f.cause), appendOnce(fixes, f.fix)
	}
	switch {
	case len(bad) > 0:
		r.Summary, r.Details = strings.Join(bad, "; "), append(ok, skipped...)
	case len(ok) == 0:
		return Result{Status: Skipped, Summary: "skipped: " + strings.Join(skipped, "; ")}
	case okSummary != "":
		r.Summary, r.Details = okSummary, append(ok, skipped...)
	default:
		r.Summary, r.Details = strings.Join(ok, "; "), skipped
	}
	r.Cause, r.Fix = strings.Join(causes, "; "), strings.Join(fixes, "; ")
	return r
}

// appendOnce appends s to xs unless it is empty or already there.
func appendOnce(xs []string, s string) []string {
	if s == "" || slices.Contains(xs, s) {
		return xs
	}
	return append(xs, s)
}
