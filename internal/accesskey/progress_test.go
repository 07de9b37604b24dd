package accesskey

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/internal/bulk"
	"github.com/bbkey/bbkey/internal/iostreams/iostreamstest"
	"github.com/bbkey/bbkey/internal/provision"
	"github.com/bbkey/bbkey/internal/state"
)

type stepClock struct{ t time.Time }

func (c *stepClock) now() time.Time { return c.t }

func repo(slug string) state.Target {
	return state.Target{Kind: state.TargetRepo, Workspace: "acme", Slug: slug}
}

func TestProgressPlainLines(t *testing.T) {
	ios, _, _, stderr := iostreamstest.Test()
	clk := &stepClock{t: time.Unix(0, 0)}
	p := bulk.NewProgress(ios, 4, clk.now, nil)
	p.Finished(Line(Result{Target: repo("a"), Status: provision.Added}), 1, 0)
	p.Wait(bbapi.Wait{Delay: 1500 * time.Millisecond, Reason: "rate limited", Remaining: 4 * time.Minute})
	p.Wait(bbapi.Wait{Delay: 2 * time.Second, Reason: "rate limited", Remaining: 3 * time.Minute}) // within 5s: quiet
	p.Finished(Line(Result{Target: state.Target{Kind: state.TargetProject, Workspace: "acme", Slug: "OPS"}, Status: provision.Present}), 2, 0)
	p.Finished(Line(Result{Target: repo("c"), Status: provision.Failed, Err: &bbapi.ErrorResponse{StatusCode: 403, Message: "no admin"}}), 2, 1)
	clk.t = clk.t.Add(6 * time.Second)
	p.Wait(bbapi.Wait{Delay: 3 * time.Second, Reason: "503 Service Unavailable", Remaining: time.Minute})
	p.Finished(Line(Result{Target: repo("d"), Status: provision.Skipped}), 2, 1)
	p.Close()
	want := `✓ acme/a: added (1/4)
! waiting 2s before retrying (rate limited; 4m0s of --max-wait left)
✓ project acme/OPS: already present (2/4)
✗ acme/c: 403 Forbidden: no admin (3/4)
! waiting 3s before retrying (503 Service Unavailable; 1m0s of --max-wait left)
! acme/d: interrupted, not recorded
`
	if got := stderr.String(); got != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", got, want)
	}
}

func TestProgressBar(t *testing.T) {
	ios, _, _, stderr := iostreamstest.Test()
	ios.StderrTTY = true
	ios.NoColor = true
	clk := &stepClock{t: time.Unix(0, 0)}
	p := bulk.NewProgress(ios, 4, clk.now, nil)
	clk.t = clk.t.Add(10 * time.Second)
	p.Finished(Line(Result{Target: repo("a"), Status: provision.Added}), 1, 0)
	p.Wait(bbapi.Wait{Delay: 20 * time.Second, Reason: "rate limited"})
	p.Finished(Line(Result{Target: repo("b"), Status: provision.Failed, Err: errors.New("boom")}), 1, 1)
	p.Close()
	frames := strings.Split(stderr.String(), "\r\x1b[K")
	want := []string{
		"",
		"[------------------------] 0/4",
		"[######------------------] 1/4  ETA 30s",
		"[######------------------] 1/4  ETA 30s  waiting 20s (rate limited)",
		"✗ acme/b: boom\n",
		"[############------------] 2/4  1 failed  ETA 10s",
		"[############------------] 2/4  1 failed  ETA 10s\n",
	}
	if len(frames) != len(want) {
		t.Fatalf("frames %q\nwant %q", frames, want)
	}
	for i := range want {
		if frames[i] != want[i] {
			t.Errorf("frame %d = %q, want %q", i, frames[i], want[i])
		}
	}
}
