package bulk

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/internal/iostreams"
)

// barWidth is the width of the bar itself, in cells.
const barWidth = 24

// quietWaits is how often, at most, a pause is reported without a terminal: four workers
// backing off together would otherwise print four lines a second.
const quietWaits = 5 * time.Second

// Progress shows a run on stderr. On a terminal it is one line redrawn in place (a bar,
// done/total, failures, calls made, time left, and what the run is waiting for) with
// failures printed above it; elsewhere one status line per finished target, which reads
// well in a CI log.
type Progress struct {
	io    *iostreams.IOStreams
	total int
	now   func() time.Time
	tty   bool
	calls func() int

	mu           sync.Mutex
	start        time.Time
	done, failed int
	waiting      string
	lastWait     time.Time
	drawn        bool
}

// NewProgress starts the display of a run over total targets. calls, when not nil,
// counts the API calls made so far (bbapi.Client.Stats), shown with every update.
func NewProgress(io *iostreams.IOStreams, total int, now func() time.Time, calls func() int) *Progress {
	if now == nil {
		now = time.Now
	}
	p := &Progress{io: io, total: total, now: now, tty: io.StderrTTY, start: now(), calls: calls}
	if p.tty && total > 0 {
		p.mu.Lock()
		p.draw()
		p.mu.Unlock()
	}
	return p
}

// Line is one finished target as the progress shows it.
type Line struct {
	// Mark is iostreams.MarkOK, MarkWarn or MarkFail; on a terminal only failures get a
	// line of their own.
	Mark string
	// Text is what happened, e.g. "acme/api: added".
	Text string
	// Count appends "(n/total)" to the line.
	Count bool
}

// Finished reports one target, with the counts so far.
func (p *Progress) Finished(l Line, done, failed int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done, p.failed, p.waiting = done, failed, ""
	if p.tty {
		if l.Mark == iostreams.MarkFail {
			p.clear()
			p.io.Step(l.Mark, "%s", l.Text)
		}
		p.draw()
		return
	}
	if !l.Count {
		p.io.Step(l.Mark, "%s", l.Text)
		return
	}
	count := fmt.Sprintf("%d/%d", done+failed, p.total)
	if p.calls != nil {
		count += fmt.Sprintf(", %d calls", p.calls())
		if eta, ok := p.eta(); ok {
			count += fmt.Sprintf(", ETA %s", eta)
		}
	}
	p.io.Step(l.Mark, "%s (%s)", l.Text, count)
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
	if p.calls != nil {
		fmt.Fprintf(&b, "  %d calls", p.calls())
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
