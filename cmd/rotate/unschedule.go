// rotate --unschedule, and the printing of what --schedule installed.

package rotate

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/schedule"
	"github.com/bbkey/bbkey/internal/state"
)

func runUnschedule(ctx context.Context, opts *Options) error {
	paths, err := opts.Paths()
	if err != nil {
		return err
	}
	in, err := opts.installer(ctx, paths)
	if err != nil {
		return err
	}
	id := schedule.JobID(opts.AccessKeys)
	plan, err := in.PlanUninstall(ctx, id)
	if err != nil {
		return plainErr(err)
	}
	if !opts.DryRun {
		if err := in.Apply(ctx, plan); err != nil {
			return plainErr(err)
		}
		if err := recordSchedule(ctx, opts, paths, id, nil); err != nil {
			return err
		}
	}
	doc := jsonSchedule{Action: "unschedule", Job: id, Backend: string(in.Backend)}
	return reportPlan(opts, plan, doc, fmt.Sprintf("no %s timer was installed for %s", in.Backend, id),
		fmt.Sprintf("removed the %s timer %s", in.Backend, id))
}

// reportPlan prints the lines of a timer's plan (what would be done, in a dry run), what
// came of it, and the document (--json, or a table): its actions and the timer's files
// it changed (state.json also notes the timer).
func reportPlan(opts *Options, plan *schedule.Plan, doc jsonSchedule, nothing, done string) error {
	doc.DryRun, doc.Changed = opts.DryRun, !plan.Empty()
	doc.Actions, doc.ChangedFiles = orEmpty(plan.Lines()), []string{}
	for _, l := range doc.Actions {
		if opts.DryRun {
			l = "would " + l
		}
		opts.IOStreams.Step(iostreams.MarkOK, "%s", l)
	}
	switch {
	case plan.Empty():
		opts.IOStreams.Step(iostreams.MarkOK, "%s", nothing)
	case !opts.DryRun:
		opts.IOStreams.Step(iostreams.MarkOK, "%s", done)
		for _, f := range plan.Write {
			doc.ChangedFiles = append(doc.ChangedFiles, f.Path)
		}
		doc.ChangedFiles = append(doc.ChangedFiles, plan.Remove...)
	}
	if opts.JSON {
		return iostreams.WriteJSON(opts.IOStreams.Out, doc)
	}
	tw := tabwriter.NewWriter(opts.IOStreams.Out, 0, 4, 2, ' ', 0)
	rows := [][2]string{{"job", doc.Job}, {"backend", doc.Backend}}
	if doc.Schedule != "" {
		rows = append(rows, [2]string{"schedule", doc.Schedule}, [2]string{"next run", doc.NextRun},
			[2]string{"command", strings.Join(doc.Command, " ")}, [2]string{"log", doc.LogFile},
			[2]string{"passphrase", doc.Passphrase})
	}
	for _, f := range doc.ChangedFiles {
		rows = append(rows, [2]string{"changed", f})
	}
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\n", r[0], r[1])
	}
	return tw.Flush()
}

// keyNames are the names of the keys of kind on every Bitbucket the state holds (Cloud's
// and each Data Center server's: one namespace).
func keyNames(st *state.State, kind state.RotationKind) []string {
	var names []string
	for _, server := range st.Bitbuckets() {
		names = append(names, keyNamesOn(st, kind, server)...)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// keyNamesOn are the names of the keys of kind on one Bitbucket ("" for Cloud).
func keyNamesOn(st *state.State, kind state.RotationKind, server string) []string {
	if kind == state.RotateAccessKeys {
		return slices.Sorted(maps.Keys(st.AccessKeysOf(server)))
	}
	return slices.Sorted(maps.Keys(st.AccountsOf(server)))
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
