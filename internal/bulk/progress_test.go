package bulk

import (
	"strings"
	"testing"
	"time"

	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/iostreams/iostreamstest"
)

// With a call counter the bar and the plain lines carry the calls made and the time left
// (add-access-key's exact output, without one, is held by internal/accesskey's tests).
func TestProgressCalls(t *testing.T) {
	clock := time.Unix(0, 0)
	now := func() time.Time { return clock }
	calls := 0
	counter := func() int { return calls }

	ios, _, _, stderr := iostreamstest.Test()
	p := NewProgress(ios, 4, now, counter)
	clock, calls = clock.Add(2*time.Second), 3
	p.Finished(Line{Mark: iostreams.MarkOK, Text: "acme/api: 2 keys", Count: true}, 1, 0)
	calls = 4
	p.Finished(Line{Mark: iostreams.MarkFail, Text: "acme/web: 403 Forbidden", Count: true}, 1, 1)
	want := "✓ acme/api: 2 keys (1/4, 3 calls, ETA 6s)\n✗ acme/web: 403 Forbidden (2/4, 4 calls, ETA 2s)\n"
	if got := stderr.String(); got != want {
		t.Errorf("plain:\n%q\nwant\n%q", got, want)
	}

	ios, _, _, stderr = iostreamstest.Test()
	ios.StderrTTY = true
	clock, calls = time.Unix(0, 0), 2
	p = NewProgress(ios, 4, now, counter)
	clock, calls = clock.Add(5*time.Second), 5
	p.Finished(Line{Mark: iostreams.MarkOK, Text: "acme/api: 2 keys", Count: true}, 1, 0)
	p.Close()
	frames := strings.Split(stderr.String(), "\r\x1b[K")
	if len(frames) != 4 || frames[1] != "[------------------------] 0/4  2 calls" || frames[2] != "[######------------------] 1/4  5 calls  ETA 15s" {
		t.Errorf("bar frames %q", frames)
	}
}
