package accesskey

import (
	"github.com/bbkey/bbkey/internal/bulk"
	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/provision"
	"github.com/bbkey/bbkey/internal/state"
)

// Line is how the progress display (bulk.Progress) shows one finished target.
func Line(r Result) bulk.Line {
	ref := r.Target.Ref()
	if r.Target.Kind == state.TargetProject {
		ref = "project " + ref
	}
	l := bulk.Line{Mark: iostreams.MarkOK, Text: ref, Count: true}
	switch r.Status {
	case provision.Added:
		l.Text += ": added"
	case provision.Present:
		l.Text += ": already present"
	case provision.Failed:
		l.Mark, l.Text = iostreams.MarkFail, ref+": "+bulk.Describe(r.Err)
	case provision.Skipped:
		l.Mark, l.Text, l.Count = iostreams.MarkWarn, ref+": interrupted, not recorded", false
	}
	return l
}
