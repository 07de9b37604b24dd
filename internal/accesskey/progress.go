package accesskey

import (
	"time"

	"github.com/bbkey/bbkey/internal/bulk"
	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/state"
)

// Progress shows an add-access-key run on stderr (see bulk.Progress): on a terminal a
// bar with failures above it, elsewhere one status line per finished target.
type Progress struct {
	*bulk.Progress
}

// NewProgress starts the display of a run over total targets.
func NewProgress(io *iostreams.IOStreams, total int, now func() time.Time) *Progress {
	return &Progress{bulk.NewProgress(io, total, now, nil)}
}

// Finished reports one target, as the pipeline's upload finishes it.
func (p *Progress) Finished(r Result, done, failed int) {
	ref := r.Target.Ref()
	if r.Target.Kind == state.TargetProject {
		ref = "project " + ref
	}
	l := bulk.Line{Mark: iostreams.MarkOK, Text: ref, Count: true}
	switch r.Status {
	case StatusAdded:
		l.Text += ": added"
	case StatusPresent:
		l.Text += ": already present"
	case StatusFailed:
		l.Mark, l.Text = iostreams.MarkFail, ref+": "+bulk.Describe(r.Err)
	case StatusSkipped:
		l.Mark, l.Text, l.Count = iostreams.MarkWarn, ref+": interrupted, not recorded", false
	}
	p.Progress.Finished(l, done, failed)
}
