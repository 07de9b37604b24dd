// Package bulk runs one Bitbucket call per target over many targets, a few at a time:
// the worker pool that stops handing out targets once the run must stop (the wait budget
// is spent, the credential is refused, the user interrupted), the recorder that saves
// finished targets in batches from one goroutine so a killed run loses at most what was
// in flight, and the progress display on stderr. `bbkey add-access-key` adds a key with
// it, `bbkey audit` lists access keys with it.
package bulk

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Stopper holds why a run stopped starting targets; the first reason wins.
type Stopper struct {
	mu  sync.Mutex
	err error
}

// Stop records err as the reason to stop, unless one is already recorded.
func (s *Stopper) Stop(err error) {
	if err == nil {
		return
	}
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
}

// Err is the reason the run stopped, nil while it goes on.
func (s *Stopper) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Each calls work(i) for i from 0 to n-1, at most c at a time (at least 1). It stops
// handing out indices once st holds a reason or ctx ends (recording ctx's cause in st);
// calls in flight finish, an index handed over just before the stop is not called, and
// Each returns when every call has returned.
//
// A call that panics (a bug) stops the run, and Each panics with the first panic's value
// on the caller's goroutine once every call has returned, where cmd's last-resort recover
// reports it: a panic in a worker goroutine would end the process before that.
func Each(ctx context.Context, n, c int, st *Stopper, work func(i int)) {
	jobs := make(chan int)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		panicked any
	)
	call := func(i int) {
		defer func() {
			if r := recover(); r != nil {
				mu.Lock()
				if panicked == nil {
					panicked = r
				}
				mu.Unlock()
				st.Stop(fmt.Errorf("internal error: %v", r))
			}
		}()
		work(i)
	}
	for range max(c, 1) {
		wg.Go(func() {
			for i := range jobs {
				if ctx.Err() != nil {
					st.Stop(context.Cause(ctx))
				}
				if st.Err() != nil {
					continue
				}
				call(i)
			}
		})
	}
feed:
	for i := range n {
		if ctx.Err() != nil {
			// select picks at random among ready cases: without this a waiting worker
			// could be fed more jobs after the cancellation.
			st.Stop(context.Cause(ctx))
		}
		if st.Err() != nil {
			break
		}
		select {
		case jobs <- i:
		case <-ctx.Done():
			st.Stop(context.Cause(ctx))
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if panicked != nil {
		panic(panicked)
	}
}

// Recorder hands finished results to a record function in batches, from one goroutine:
// every result that finished while the previous batch was being written goes in the next.
type Recorder[R any] struct {
	mu      sync.Mutex
	pending []R
	wake    chan struct{}
	closed  bool
	done    chan struct{}
}

// NewRecorder starts a recorder. An error from record is passed to failed (usually
// Stopper.Stop: without the record a re-run would repeat the work). Recording outlives
// ctx's cancellation, so what finished is saved even as an interrupted run stops.
func NewRecorder[R any](ctx context.Context, record func(context.Context, []R) error, failed func(error)) *Recorder[R] {
	r := &Recorder[R]{wake: make(chan struct{}, 1), done: make(chan struct{})}
	rctx := context.WithoutCancel(ctx)
	go func() {
		defer close(r.done)
		for {
			r.mu.Lock()
			batch, closed := r.pending, r.closed
			r.pending = nil
			r.mu.Unlock()
			if len(batch) > 0 && record != nil {
				wctx, cancel := context.WithTimeout(rctx, time.Minute)
				err := record(wctx, batch)
				cancel()
				if err != nil && failed != nil {
					failed(err)
				}
				continue
			}
			if closed {
				return
			}
			<-r.wake
		}
	}()
	return r
}

// Add queues one result.
func (r *Recorder[R]) Add(v R) {
	r.mu.Lock()
	r.pending = append(r.pending, v)
	r.mu.Unlock()
	r.poke()
}

// Close writes what is queued and waits for the writing to end.
func (r *Recorder[R]) Close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.poke()
	<-r.done
}

func (r *Recorder[R]) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}
