// What doctor prints, and its --json.

package doctor

import (
	"fmt"
	"slices"
	"strings"

	engine "github.com/bbkey/bbkey/internal/doctor"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/iostreams"
)

// verdict prints the (final) report and turns failed checks into exit 1.
func verdict(opts *Options, results []engine.Result, fixes []*engine.Fix) error {
	if opts.JSON {
		printJSONDoc(opts, results, fixes)
	} else {
		printReport(opts, results)
	}
	var failed []string
	fixable := 0
	for _, r := range results {
		if r.Status == engine.Fail {
			failed = append(failed, r.ID)
			if r.Fixable {
				fixable++
			}
		}
	}
	if len(failed) == 0 {
		if !opts.JSON {
			opts.IO.Step(iostreams.MarkOK, "No problem found (%d checks)", len(results))
		}
		return nil
	}
	var hints []string
	if fixable > 0 && !opts.Fix {
		hints = append(hints, fmt.Sprintf("bbkey doctor --fix repairs %d of them", fixable))
	}
	hints = append(hints, "the fix printed under each ✗ says what to do")
	return errkind.WithHint(fmt.Errorf("%d of %d checks failed: %s", len(failed), len(results), strings.Join(failed, ", ")), hints...)
}

// marks are each status's mark and its ANSI colour on a terminal.
var marks = map[engine.Status][2]string{engine.OK: {iostreams.MarkOK, "32"}, engine.Warn: {iostreams.MarkWarn, "33"},
	engine.Fail: {iostreams.MarkFail, "31"}, engine.Skipped: {"-", "2"}}

func mark(opts *Options, s engine.Status) string {
	m := marks[s]
	if opts.IO.StdoutTTY && opts.IO.ColorEnabled() {
		return "\x1b[" + m[1] + "m" + m[0] + "\x1b[0m"
	}
	return m[0]
}

// printReport writes one line per check; problems get their details, cause and fix
// indented below.
func printReport(opts *Options, results []engine.Result) {
	w := opts.IO.Out
	for _, r := range results {
		fmt.Fprintf(w, "%s %s: %s\n", mark(opts, r.Status), r.Title, r.Summary)
		if r.Status != engine.Warn && r.Status != engine.Fail {
			continue
		}
		for _, d := range r.Details {
			fmt.Fprintf(w, "    %s\n", d)
		}
		if r.Cause != "" {
			fmt.Fprintf(w, "    cause: %s\n", r.Cause)
		}
		if r.Fix != "" {
			fix := r.Fix
			if r.Fixable && !strings.Contains(fix, "doctor --fix") {
				fix += " (or: bbkey doctor --fix)"
			}
			fmt.Fprintf(w, "    fix:   %s\n", fix)
		}
	}
}

type jsonDoc struct {
	OK           bool            `json:"ok"`
	Checks       []engine.Result `json:"checks"`
	Fixes        []*engine.Fix   `json:"fixes"`
	ChangedFiles []string        `json:"changed_files"`
}

// printJSONDoc writes the --json document; changed_files are those of every fix applied.
func printJSONDoc(opts *Options, results []engine.Result, fixes []*engine.Fix) {
	doc := jsonDoc{OK: true, Checks: append([]engine.Result{}, results...), Fixes: append([]*engine.Fix{}, fixes...), ChangedFiles: []string{}}
	for _, r := range results {
		doc.OK = doc.OK && r.Status != engine.Fail
	}
	for _, f := range fixes {
		for _, c := range f.ChangedFiles {
			if !slices.Contains(doc.ChangedFiles, c) {
				doc.ChangedFiles = append(doc.ChangedFiles, c)
			}
		}
	}
	_ = iostreams.WriteJSON(opts.IO.Out, doc)
}
