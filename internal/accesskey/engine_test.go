package accesskey

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/internal/state"
)

// fakeAdder answers from fn and counts calls and calls in flight.
type fakeAdder struct {
	fn func(ctx context.Context, i int) (string, bool, error)

	mu                  sync.Mutex
	calls               []int
	inFlight, maxFlight int
}

func (f *fakeAdder) Add(ctx context.Context, t state.Target) (string, bool, error) {
	var i int
	fmt.Sscanf(t.Slug, "r%d", &i)
	f.mu.Lock()
	f.calls = append(f.calls, i)
	f.inFlight++
	f.maxFlight = max(f.maxFlight, f.inFlight)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inFlight--
		f.mu.Unlock()
	}()
	if f.fn == nil {
		return fmt.Sprint(i), false, nil
	}
	return f.fn(ctx, i)
}

func targetsN(n int) []state.Target {
	out := make([]state.Target, n)
	for i := range n {
		out[i] = state.Target{Kind: state.TargetRepo, Workspace: "acme", Slug: fmt.Sprintf("r%d", i)}
	}
	return out
}

// recordLog collects what Record was given.
type recordLog struct {
	mu      sync.Mutex
	batches [][]string
}

func (l *recordLog) record(_ context.Context, batch []Result) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b []string
	for _, r := range batch {
		b = append(b, r.Target.Slug+"="+r.KeyID)
	}
	l.batches = append(l.batches, b)
	return nil
}

func (l *recordLog) all() []string {
	var out []string
	for _, b := range l.batches {
		out = append(out, b...)
	}
	slices.Sort(out)
	return out
}

func statuses(rs []Result) []Status {
	out := make([]Status, len(rs))
	for i, r := range rs {
		out[i] = r.Status
	}
	return out
}

func TestEngineAddsEveryTarget(t *testing.T) {
	ad := &fakeAdder{fn: func(_ context.Context, i int) (string, bool, error) {
		switch i % 3 {
		case 1:
			return fmt.Sprint(i), true, nil
		case 2:
			return "", false, &bbapi.ErrorResponse{StatusCode: 403, Message: "no admin access"}
		}
		return fmt.Sprint(i), false, nil
	}}
	var log recordLog
	var finished []string
	e := &Engine{Adder: ad, Concurrency: 3, Record: log.record, Finished: func(r Result, done, failed int) {
		finished = append(finished, fmt.Sprintf("%s %d/%d", r.Target.Slug, done, failed))
	}}
	out := e.Run(context.Background(), targetsN(9))
	if out.Stop != nil {
		t.Fatalf("stopped: %v", out.Stop)
	}
	want := []Status{StatusAdded, StatusPresent, StatusFailed, StatusAdded, StatusPresent, StatusFailed, StatusAdded, StatusPresent, StatusFailed}
	if got := statuses(out.Results); !slices.Equal(got, want) {
		t.Errorf("statuses = %v, want %v", got, want)
	}
	for i, r := range out.Results {
		if r.Target.Slug != fmt.Sprintf("r%d", i) {
			t.Errorf("result %d is %s: not in target order", i, r.Target.Slug)
		}
	}
	if got, want := log.all(), []string{"r0=0", "r1=1", "r3=3", "r4=4", "r6=6", "r7=7"}; !slices.Equal(got, want) {
		t.Errorf("recorded %v, want %v", got, want)
	}
	if len(finished) != 9 || finished[8][len(finished[8])-3:] != "6/3" {
		t.Errorf("finished = %v", finished)
	}
}

func TestEngineBoundsConcurrency(t *testing.T) {
	gate := make(chan struct{})
	started := make(chan int, 100)
	ad := &fakeAdder{fn: func(_ context.Context, i int) (string, bool, error) {
		started <- i
		<-gate
		return "1", false, nil
	}}
	e := &Engine{Adder: ad, Concurrency: 4}
	done := make(chan Outcome)
	go func() { done <- e.Run(context.Background(), targetsN(20)) }()
	for range 4 {
		<-started
	}
	close(gate)
	out := <-done
	if ad.maxFlight != 4 {
		t.Errorf("at most %d calls were in flight, want 4", ad.maxFlight)
	}
	if len(ad.calls) != 20 || out.Stop != nil {
		t.Errorf("%d calls, stop %v", len(ad.calls), out.Stop)
	}
}

func TestEngineStopsWhenTheBudgetIsSpent(t *testing.T) {
	budget := &bbapi.RetryBudgetError{Attempts: 3, MaxWait: time.Second, Err: &bbapi.RateLimitError{ErrorResponse: &bbapi.ErrorResponse{StatusCode: 429}}}
	ad := &fakeAdder{fn: func(_ context.Context, i int) (string, bool, error) {
		if i == 3 {
			return "", false, budget
		}
		return fmt.Sprint(i), false, nil
	}}
	var log recordLog
	e := &Engine{Adder: ad, Concurrency: 1, Record: log.record}
	out := e.Run(context.Background(), targetsN(8))
	if !errors.Is(out.Stop, budget) {
		t.Errorf("stop = %v, want the budget error", out.Stop)
	}
	want := []Status{StatusAdded, StatusAdded, StatusAdded, StatusFailed, StatusSkipped, StatusSkipped, StatusSkipped, StatusSkipped}
	if got := statuses(out.Results); !slices.Equal(got, want) {
		t.Errorf("statuses = %v, want %v", got, want)
	}
	if !slices.Equal(ad.calls, []int{0, 1, 2, 3}) {
		t.Errorf("calls = %v: targets were started after the stop", ad.calls)
	}
	if got := log.all(); !slices.Equal(got, []string{"r0=0", "r1=1", "r2=2"}) {
		t.Errorf("recorded %v", got)
	}
}

func TestEngineInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ad := &fakeAdder{fn: func(ctx context.Context, i int) (string, bool, error) {
		if i == 2 {
			cancel()
			<-ctx.Done()
			return "", false, ctx.Err()
		}
		return fmt.Sprint(i), false, nil
	}}
	var log recordLog
	out := (&Engine{Adder: ad, Concurrency: 1, Record: log.record}).Run(ctx, targetsN(5))
	if !errors.Is(out.Stop, context.Canceled) {
		t.Errorf("stop = %v", out.Stop)
	}
	want := []Status{StatusAdded, StatusAdded, StatusSkipped, StatusSkipped, StatusSkipped}
	if got := statuses(out.Results); !slices.Equal(got, want) {
		t.Errorf("statuses = %v, want %v", got, want)
	}
	// What finished before the interrupt is recorded, though the context is gone.
	if got := log.all(); !slices.Equal(got, []string{"r0=0", "r1=1"}) {
		t.Errorf("recorded %v", got)
	}
}

// Targets are recorded while the run goes on, not at its end: a run killed at any moment
// loses only what was in flight.
func TestEngineRecordsAsItGoes(t *testing.T) {
	recorded := make(chan string, 10)
	ad := &fakeAdder{fn: func(_ context.Context, i int) (string, bool, error) {
		if i > 0 {
			want := fmt.Sprintf("r%d", i-1)
			select {
			case got := <-recorded:
				if got != want {
					return "", false, fmt.Errorf("recorded %s before %s", got, want)
				}
			case <-time.After(10 * time.Second): // a deadlock guard, not a timing assertion
				return "", false, fmt.Errorf("%s was not recorded while the run went on", want)
			}
		}
		return fmt.Sprint(i), false, nil
	}}
	e := &Engine{Adder: ad, Concurrency: 1, Record: func(_ context.Context, batch []Result) error {
		for _, r := range batch {
			recorded <- r.Target.Slug
		}
		return nil
	}}
	out := e.Run(context.Background(), targetsN(4))
	for _, r := range out.Results {
		if r.Status != StatusAdded {
			t.Errorf("%s: %s %v", r.Target.Slug, r.Status, r.Err)
		}
	}
}

// Results that finish while a write is under way go into the next write together.
func TestEngineBatchesRecords(t *testing.T) {
	gate := make(chan struct{})
	var (
		mu      sync.Mutex
		batches [][]string
	)
	first := true
	e := &Engine{Adder: &fakeAdder{}, Concurrency: 4,
		Record: func(_ context.Context, batch []Result) error {
			mu.Lock()
			wait := first
			first = false
			var b []string
			for _, r := range batch {
				b = append(b, r.Target.Slug)
			}
			batches = append(batches, b)
			mu.Unlock()
			if wait {
				<-gate
			}
			return nil
		},
		Finished: func(_ Result, done, _ int) {
			if done == 8 {
				close(gate)
			}
		},
	}
	e.Run(context.Background(), targetsN(8))
	var all []string
	for _, b := range batches {
		all = append(all, b...)
	}
	slices.Sort(all)
	if want := []string{"r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7"}; !slices.Equal(all, want) {
		t.Errorf("recorded %v, want each target once", all)
	}
	if len(batches) > 2 {
		t.Errorf("%d writes %v: results finished during the first write were not batched", len(batches), batches)
	}
}

func TestEngineStopsWhenRecordingFails(t *testing.T) {
	boom := errors.New("disk full")
	out := (&Engine{Adder: &fakeAdder{}, Concurrency: 1, Record: func(context.Context, []Result) error { return boom }}).
		Run(context.Background(), targetsN(1))
	if !errors.Is(out.Stop, boom) {
		t.Errorf("stop = %v, want the recording error", out.Stop)
	}
}
