package bulk

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

// Each never runs more than c at once, calls each index at most once, and after a stop
// calls nothing new: at most the calls already in flight finish.
func TestEachBoundedAndStops(t *testing.T) {
	var (
		st            Stopper
		inFlight, top atomic.Int32
		mu            sync.Mutex
		called        []int
	)
	stop := errors.New("budget spent")
	release := make(chan struct{})
	Each(context.Background(), 100, 4, &st, func(i int) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			old := top.Load()
			if n <= old || top.CompareAndSwap(old, n) {
				break
			}
		}
		mu.Lock()
		called = append(called, i)
		mu.Unlock()
		if i == 9 {
			st.Stop(stop)
			close(release)
		}
		if i < 9 {
			return
		}
		<-release
	})
	if top.Load() > 4 {
		t.Errorf("%d calls in flight, want at most 4", top.Load())
	}
	slices.Sort(called)
	// Indices handed to a worker just before the stop are skipped, so fewer than 10 may
	// run; none beyond what four workers and the feed could have held.
	if !slices.Contains(called, 9) || called[len(called)-1] > 9+4+1 || len(slices.Compact(slices.Clone(called))) != len(called) {
		t.Errorf("called %v", called)
	}
	if !errors.Is(st.Err(), stop) {
		t.Errorf("stop = %v", st.Err())
	}
	st.Stop(errors.New("later"))
	if !errors.Is(st.Err(), stop) {
		t.Error("a later reason replaced the first")
	}
}

// A cancelled context stops the feed and is the recorded reason: once cancel has
// returned, at most the calls the other workers already had in hand go on. Calls after
// the fifth wait for the cancellation, so a loaded scheduler cannot run the other worker
// ahead between the fifth call's count and its cancel (and with select's random choice
// among ready cases, the old feed went on handing out jobs after the cancel).
func TestEachCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var st Stopper
	var n, atCancel atomic.Int32
	Each(ctx, 1000, 2, &st, func(i int) {
		switch c := n.Add(1); {
		case c == 5:
			cancel()
			atCancel.Store(n.Load())
		case c > 5:
			<-ctx.Done()
		}
	})
	if !errors.Is(st.Err(), context.Canceled) || n.Load() > atCancel.Load()+1 {
		t.Errorf("stop %v after %d calls, %d when cancel returned", st.Err(), n.Load(), atCancel.Load())
	}
}

// The recorder hands every result over exactly once, in batches, even after the run's
// context is cancelled; a failing record reaches the failed callback.
func TestRecorder(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var got []int
	var batches int
	r := NewRecorder(ctx, func(rctx context.Context, b []int) error {
		if rctx.Err() != nil {
			t.Error("recording got a cancelled context")
		}
		got = append(got, b...)
		batches++
		return nil
	}, func(err error) { t.Error(err) })
	for i := range 50 {
		r.Add(i)
		if i == 25 {
			cancel()
		}
	}
	r.Close()
	if len(got) != 50 || batches < 1 {
		t.Errorf("recorded %d in %d batches", len(got), batches)
	}
	slices.Sort(got)
	for i, v := range got {
		if v != i {
			t.Fatalf("recorded %v", got)
		}
	}

	var failed error
	r = NewRecorder(context.Background(), func(context.Context, []int) error { return errors.New("disk full") }, func(err error) { failed = err })
	r.Add(1)
	r.Close()
	if failed == nil || failed.Error() != "disk full" {
		t.Errorf("failed = %v", failed)
	}
}

// A call that panics stops the run, and the panic comes back on the caller's goroutine
// once the other calls have returned (never a process killed from a worker).
func TestEachPanicReachesCaller(t *testing.T) {
	var st Stopper
	var calls atomic.Int32
	got := func() (r any) {
		defer func() { r = recover() }()
		Each(context.Background(), 100, 4, &st, func(i int) {
			calls.Add(1)
			if i == 3 {
				panic("boom at 3")
			}
		})
		return nil
	}()
	if got != "boom at 3" {
		t.Fatalf("recovered %v", got)
	}
	if st.Err() == nil {
		t.Error("the run was not stopped")
	}
	if n := calls.Load(); n >= 100 {
		t.Errorf("%d calls after the panic stopped the run", n)
	}
}
