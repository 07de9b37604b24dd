// What remote prints: the table, the summary and the scrub report (--json is json.go).

package remote

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/bbkey/bbkey/internal/iostreams"
	engine "github.com/bbkey/bbkey/internal/remote"
	"github.com/bbkey/bbkey/internal/text"
)

// display shows a repository path relative to the working directory when it is below it.
func display(wd, dir string) string {
	if rel, err := filepath.Rel(wd, dir); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return rel
	}
	return dir
}

// what names the value a change or skip is about: "origin", "origin (push)",
// "submodule lib" or "insteadOf"; remote prefixes remotes' names.
func what(f engine.Field, name, remote string) string {
	switch f {
	case engine.FieldPushURL:
		return remote + name + " (push)"
	case engine.FieldSubmodule:
		return "submodule " + name
	case engine.FieldInsteadOf:
		return "insteadOf"
	}
	return remote + name
}

// printTable writes the changes to stdout: aligned with a header on a terminal, tab
// separated without one otherwise (for cut and awk).
func printTable(opts *Options, plan *engine.Plan) {
	changed := plan.Changed()
	if len(changed) == 0 {
		return
	}
	var w io.Writer = opts.IO.Out
	var tw *tabwriter.Writer
	if opts.IO.StdoutTTY {
		tw = tabwriter.NewWriter(opts.IO.Out, 0, 4, 2, ' ', 0)
		w = tw
		fmt.Fprintln(w, "REPOSITORY\tREMOTE\tOLD\tNEW")
	}
	for _, rp := range changed {
		for _, c := range rp.Changes {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", display(opts.WorkDir, rp.Repo.Dir), what(c.Field, c.Name, ""), c.Old, c.New)
		}
	}
	if tw != nil {
		tw.Flush()
	}
}

// report writes what was left alone, what failed, what was scrubbed and the summary to
// stderr.
func report(opts *Options, plan *engine.Plan, sp *engine.ScrubPlan, failed []failure, dryRun bool, scrubErr error) {
	s := opts.IO
	for _, rp := range plan.Repos {
		for _, sk := range rp.Skipped {
			msg := fmt.Sprintf("%s: %s left alone: %s (%s)", display(opts.WorkDir, rp.Repo.Dir), what(sk.Field, sk.Name, "remote "), sk.Old, sk.Reason)
			if sk.Secret {
				msg += "; it holds a secret: remove it by hand"
			}
			s.Step(iostreams.MarkWarn, "%s", msg)
		}
	}
	for _, f := range failed {
		s.Step(iostreams.MarkFail, "%v", f.err)
	}
	n, repos, secrets := 0, 0, 0
	for _, rp := range plan.Changed() {
		if !dryRun && !rp.Applied {
			continue
		}
		repos++
		for _, c := range rp.Changes {
			n++
			if c.Secret {
				secrets++
			}
		}
	}
	examined := len(plan.Repos)
	switch {
	case plan.NumChanges() == 0:
		what := "Bitbucket Cloud"
		if _, ok := plan.Target.(engine.DataCenterTarget); ok {
			what = "Bitbucket Data Center"
		}
		s.Step(iostreams.MarkOK, "Nothing to rewrite: %s examined, every %s remote already uses %s", text.Count(examined, "repository", "repositories"), what, plan.Target.Host())
	case dryRun:
		s.Step(iostreams.MarkWarn, "Dry run: would rewrite %s in %s (%d examined); nothing changed", text.Count(n, "remote", "remotes"), text.Count(repos, "repository", "repositories"), examined)
	default:
		s.Step(iostreams.MarkOK, "Rewrote %s in %s to %s", text.Count(n, "remote", "remotes"), text.Count(repos, "repository", "repositories"), plan.Target.Host())
	}
	if secrets > 0 {
		verb := "removed with the rewrite"
		if dryRun {
			verb = "to be removed with the rewrite"
		}
		it := text.Plural(secrets, "it", "them")
		s.Step(iostreams.MarkWarn, "%s carried a secret (%s): treat %s as leaked and revoke %s", text.Count(secrets, "URL", "URLs"), verb, it, it)
	}
	reportScrub(opts, sp, dryRun, scrubErr)
}

func reportScrub(opts *Options, sp *engine.ScrubPlan, dryRun bool, scrubErr error) {
	s := opts.IO
	if scrubErr != nil {
		s.Step(iostreams.MarkFail, "%v", scrubErr)
	}
	if sp == nil {
		return
	}
	scrubbing := opts.Scrub && !dryRun
	for _, f := range sp.Files {
		switch {
		case scrubbing && f.Backup != "":
			s.Step(iostreams.MarkOK, "Removed %s from %s (backup: %s)", text.Count(f.Removed, "Bitbucket entry", "Bitbucket entries"), f.Path, f.Backup)
		case scrubbing:
		case dryRun:
			s.Step(iostreams.MarkWarn, "--scrub would remove from %s: %s", f.Path, strings.Join(f.Entries, ", "))
		default:
			s.Step(iostreams.MarkWarn, "%s holds %s: run `bbkey remote --scrub` to remove it", f.Path, text.Count(len(f.Entries), "Bitbucket secret", "Bitbucket secrets"))
		}
	}
	if len(sp.Helpers) == 0 {
		return
	}
	helpers := strings.Join(sp.Helpers, ", ")
	switch {
	case scrubbing && sp.Rejected:
		s.Step(iostreams.MarkOK, "Asked the credential helpers (%s) to forget %s", helpers, sp.URL())
	case scrubbing:
	case dryRun && opts.Scrub:
		s.Step(iostreams.MarkWarn, "--scrub would ask the credential helpers (%s) to forget %s", helpers, sp.URL())
	}
}
