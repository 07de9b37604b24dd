package accesskey

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/state"
)

// barWidth is the width of the bar itself, in cells.
const barWidth = 24

// quietWaits is how often, at most, a pause is reported without a terminal: four workers
// backing off together would otherwise print four lines a second.
const quietWaits = 5 * time.Second

// Progress shows a run on stderr. On a terminal it is one line redrawn in place (a bar,
// done/total, failures, time left, and what the run is waiting for) with failures
// printed above it; elsewhere one status line per finished target, which reads well in a
// CI log.
type Progress struct {
	io    *iostreams.IOStreams
	total int
	now   func() time.Time
	tty   bool

	mu           sync.Mutex
	start        time.Time
	done, failed int
	waiting      string
	lastWait     time.Time
	drawn        bool
}

// NewProgress starts the display of a run over total targets.
func NewProgress(io *iostreams.IOStreams, total int, now func() time.Time) *Progress {
	if now == nil {
		now = time.Now
	}
	p := &Progress{io: io, total: total, now: now, tty: io.IsStderrTTY(), start: now()}
	if p.tty && total > 0 {
		p.mu.Lock()
		p.draw()
		p.mu.Unlock()
	}
	return p
}

// Finished reports one target; it has the signature of Engine.Finished.
func (p *Progress) Finished(r Result, done, failed int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done, p.failed, p.waiting = done, failed, ""
	ref := r.Target.Ref()
	if r.Target.Kind == state.TargetProject {
		ref = "project " + ref
	}
	if p.tty {
		if r.Status == StatusFailed {
			p.clear()
			p.io.Step(iostreams.MarkFail, "%s: %s", ref, Describe(r.Err))
		}
		p.draw()
		return
	}
	switch r.Status {
	case StatusAdded:
		p.io.Step(iostreams.MarkOK, "%s: added (%d/%d)", ref, done+failed, p.total)
	case StatusPresent:
		p.io.Step(iostreams.MarkOK, "%s: already present (%d/%d)", ref, done+failed, p.total)
	case StatusFailed:
		p.io.Step(iostreams.MarkFail, "%s: %s (%d/%d)", ref, Describe(r.Err), done+failed, p.total)
	case StatusSkipped:
		p.io.Step(iostreams.MarkWarn, "%s: interrupted, not recorded", ref)
	}
}

// Wait reports a pause before a retry; it has the signature of bbapi.WithWaitHook.
func (p *Progress) Wait(w bbapi.Wait) {
	p.mu.Lock()
	defer p.mu.Unlock()
	msg := fmt.Sprintf("waiting %s before retrying (%s; %s of --max-wait left)", round(w.Delay), w.Reason, round(w.Remaining))
	if p.tty {
		p.waiting = fmt.Sprintf("waiting %s (%s)", round(w.Delay), w.Reason)
		p.draw()
		return
	}
	if t := p.now(); p.lastWait.IsZero() || t.Sub(p.lastWait) >= quietWaits {
		p.lastWait = t
		p.io.Step(iostreams.MarkWarn, "%s", msg)
	}
}

// Close ends the display, leaving the final bar on its own line.
func (p *Progress) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.drawn {
		p.waiting = ""
		p.draw()
		fmt.Fprintln(p.io.ErrOut)
		p.drawn = false
	}
}

func (p *Progress) clear() {
	if p.drawn {
		fmt.Fprint(p.io.ErrOut, "\r\x1b[K")
	}
}

func (p *Progress) draw() {
	finished := p.done + p.failed
	filled := 0
	if p.total > 0 {
		filled = barWidth * finished / p.total
	}
	var b strings.Builder
	b.WriteString("\r\x1b[K[")
	b.WriteString(strings.Repeat("#", filled))
	b.WriteString(strings.Repeat("-", barWidth-filled))
	fmt.Fprintf(&b, "] %d/%d", finished, p.total)
	if p.failed > 0 {
		fmt.Fprintf(&b, "  %d failed", p.failed)
	}
	if eta, ok := p.eta(); ok {
		fmt.Fprintf(&b, "  ETA %s", eta)
	}
	if p.waiting != "" {
		b.WriteString("  " + p.waiting)
	}
	fmt.Fprint(p.io.ErrOut, b.String())
	p.drawn = true
}

// eta extrapolates the time left from the pace so far.
func (p *Progress) eta() (time.Duration, bool) {
	finished := p.done + p.failed
	if finished == 0 || finished >= p.total {
		return 0, false
	}
	elapsed := p.now().Sub(p.start)
	return round(elapsed * time.Duration(p.total-finished) / time.Duration(finished)), true
}

func round(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Round(time.Second)
	}
	return d.Round(100 * time.Millisecond)
}
