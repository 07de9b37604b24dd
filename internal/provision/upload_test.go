package provision

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/bbapi/dc"
	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/keys"
)

// faulty is the emulator's real backend with a fault put in front of each access-key
// add: fn sees the place's number (repository rN) and returns an error to answer with
// instead of calling Bitbucket, or nil to let the call through. It counts calls and
// calls in flight.
type faulty struct {
	backend.Backend
	fn func(ctx context.Context, i int) error

	mu                  sync.Mutex
	calls               []int
	inFlight, maxFlight int
}

func (f *faulty) AddAccessKey(ctx context.Context, p backend.Place, k backend.NewKey) (*backend.Key, error) {
	var i int
	fmt.Sscanf(p.Slug, "r%d", &i)
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
	if f.fn != nil {
		if err := f.fn(ctx, i); err != nil {
			return nil, err
		}
	}
	return f.Backend.AddAccessKey(ctx, p, k)
}

// uploadWorld is the Cloud emulator with n repositories acme/r0…, a key, and a pipeline
// that adds the key to all of them as an access key.
func uploadWorld(t *testing.T, n int, fn func(ctx context.Context, i int) error) (*faulty, *Pipeline) {
	t.Helper()
	w := newWorld(t, false)
	for i := range n {
		if err := w.emu.AddRepo(bbapitest.DefaultWorkspace, fmt.Sprintf("r%d", i), bbapitest.DefaultProject); err != nil {
			t.Fatal(err)
		}
	}
	f := &faulty{Backend: w.b, fn: fn}
	var places []Place
	for i := range n {
		places = append(places, Place{Place: backend.Place{Kind: backend.Repo, Owner: "acme", Slug: fmt.Sprintf("r%d", i)}})
	}
	k := w.plainKey("bbkey_access_ci_ed25519")
	return f, &Pipeline{B: f, Key: KeySource{Key: k}, Places: places, Label: "bbkey:ci", Partial: true, KeepUnproven: true, Concurrency: 1}
}

// recordLog collects what Record was given at StagePlaced.
type recordLog struct {
	mu      sync.Mutex
	batches [][]string
}

func (l *recordLog) record(_ *state.State, _ *keys.Key, stage Stage, batch []Placed) error {
	if stage != StagePlaced {
		return ErrUnchanged
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var b []string
	for _, r := range batch {
		b = append(b, r.Place.Slug)
	}
	l.batches = append(l.batches, b)
	return ErrUnchanged
}

func (l *recordLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, b := range l.batches {
		out = append(out, b...)
	}
	slices.Sort(out)
	return out
}

func statuses(rs []Placed) []Status {
	out := make([]Status, len(rs))
	for i, r := range rs {
		out[i] = r.Status
	}
	return out
}

func (p *Pipeline) withLog(t *testing.T, l *recordLog) {
	p.State, p.RecordEach = state.Dir{Path: t.TempDir()}, true
	p.Record = l.record
}

// Every place is tried; the results come in the places' order, the failed ones with
// Bitbucket's answer, and each place done is recorded.
func TestUploadEveryPlace(t *testing.T) {
	f, p := uploadWorld(t, 9, func(_ context.Context, i int) error {
		if i%3 == 2 {
			return &bbapi.ErrorResponse{StatusCode: 403, Message: "no admin access"}
		}
		return nil
	})
	var log recordLog
	p.withLog(t, &log)
	p.Concurrency = 3
	var finished []string
	p.Finished = func(r Placed, done, failed int) {
		finished = append(finished, fmt.Sprintf("%s %d/%d", r.Place.Slug, done, failed))
	}
	out, err := p.Run(t.Context())
	if err != nil || out.Stop != nil {
		t.Fatalf("err %v, stopped: %v", err, out.Stop)
	}
	want := []Status{Added, Added, Failed, Added, Added, Failed, Added, Added, Failed}
	if got := statuses(out.Placed); !slices.Equal(got, want) {
		t.Errorf("statuses = %v, want %v", got, want)
	}
	for i, r := range out.Placed {
		if r.Place.Slug != fmt.Sprintf("r%d", i) {
			t.Errorf("result %d is %s: not in place order", i, r.Place.Slug)
		}
	}
	if got, want := log.all(), []string{"r0", "r1", "r3", "r4", "r6", "r7"}; !slices.Equal(got, want) {
		t.Errorf("recorded %v, want %v", got, want)
	}
	if len(finished) != 9 || !strings.HasSuffix(finished[8], "6/3") {
		t.Errorf("finished = %v", finished)
	}
	// A second run finds the key on the places done: present (Cloud's duplicate answer).
	f.fn = nil
	out, err = p.Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got := statuses(out.Placed); got[0] != Present || got[2] != Added {
		t.Errorf("second run: %v", got)
	}
}

func TestUploadBoundsConcurrency(t *testing.T) {
	gate := make(chan struct{})
	started := make(chan int, 100)
	f, p := uploadWorld(t, 12, func(_ context.Context, i int) error {
		started <- i
		<-gate
		return nil
	})
	p.Concurrency = 4
	done := make(chan *Outcome)
	go func() {
		out, _ := p.Run(context.Background())
		done <- out
	}()
	for range 4 {
		<-started
	}
	close(gate)
	out := <-done
	if f.maxFlight != 4 {
		t.Errorf("at most %d calls were in flight, want 4", f.maxFlight)
	}
	if len(f.calls) != 12 || out.Stop != nil {
		t.Errorf("%d calls, stop %v", len(f.calls), out.Stop)
	}
}

func TestUploadStopsWhenTheBudgetIsSpent(t *testing.T) {
	budget := &bbapi.RetryBudgetError{Attempts: 3, MaxWait: time.Second, Err: &bbapi.RateLimitError{ErrorResponse: &bbapi.ErrorResponse{StatusCode: 429}}}
	f, p := uploadWorld(t, 8, func(_ context.Context, i int) error {
		if i == 3 {
			return budget
		}
		return nil
	})
	var log recordLog
	p.withLog(t, &log)
	out, _ := p.Run(t.Context())
	if !errors.Is(out.Stop, budget) {
		t.Errorf("stop = %v, want the budget error", out.Stop)
	}
	want := []Status{Added, Added, Added, Failed, Skipped, Skipped, Skipped, Skipped}
	if got := statuses(out.Placed); !slices.Equal(got, want) {
		t.Errorf("statuses = %v, want %v", got, want)
	}
	if !slices.Equal(f.calls, []int{0, 1, 2, 3}) {
		t.Errorf("calls = %v: places were started after the stop", f.calls)
	}
	if got := log.all(); !slices.Equal(got, []string{"r0", "r1", "r2"}) {
		t.Errorf("recorded %v", got)
	}
}

func TestUploadInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	_, p := uploadWorld(t, 5, func(ctx context.Context, i int) error {
		if i == 2 {
			cancel()
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	})
	var log recordLog
	p.withLog(t, &log)
	out, _ := p.Run(ctx)
	if !errors.Is(out.Stop, context.Canceled) {
		t.Errorf("stop = %v", out.Stop)
	}
	want := []Status{Added, Added, Skipped, Skipped, Skipped}
	if got := statuses(out.Placed); !slices.Equal(got, want) {
		t.Errorf("statuses = %v, want %v", got, want)
	}
	// What finished before the interrupt is recorded, though the context is gone.
	if got := log.all(); !slices.Equal(got, []string{"r0", "r1"}) {
		t.Errorf("recorded %v", got)
	}
}

// Places are recorded while the run goes on, not at its end: a run killed at any moment
// loses only what was in flight.
func TestUploadRecordsAsItGoes(t *testing.T) {
	recorded := make(chan string, 10)
	_, p := uploadWorld(t, 4, func(_ context.Context, i int) error {
		if i == 0 {
			return nil
		}
		want := fmt.Sprintf("r%d", i-1)
		select {
		case got := <-recorded:
			if got != want {
				return fmt.Errorf("recorded %s before %s", got, want)
			}
		case <-time.After(10 * time.Second): // a deadlock guard, not a timing assertion
			return fmt.Errorf("%s was not recorded while the run went on", want)
		}
		return nil
	})
	p.State, p.RecordEach = state.Dir{Path: t.TempDir()}, true
	p.Record = func(_ *state.State, _ *keys.Key, stage Stage, batch []Placed) error {
		if stage == StagePlaced {
			for _, r := range batch {
				recorded <- r.Place.Slug
			}
		}
		return ErrUnchanged
	}
	out, _ := p.Run(t.Context())
	for _, r := range out.Placed {
		if r.Status != Added {
			t.Errorf("%s: %s %v", r.Place.Slug, r.Status, r.Err)
		}
	}
}

// Results that finish while a write is under way go into the next write together.
func TestUploadBatchesRecords(t *testing.T) {
	gate := make(chan struct{})
	var (
		mu      sync.Mutex
		batches [][]string
	)
	first := true
	_, p := uploadWorld(t, 8, nil)
	p.Concurrency = 4
	p.State, p.RecordEach = state.Dir{Path: t.TempDir()}, true
	p.Record = func(_ *state.State, _ *keys.Key, stage Stage, batch []Placed) error {
		if stage != StagePlaced {
			return ErrUnchanged
		}
		mu.Lock()
		wait := first
		first = false
		var b []string
		for _, r := range batch {
			b = append(b, r.Place.Slug)
		}
		batches = append(batches, b)
		mu.Unlock()
		if wait {
			<-gate
		}
		return ErrUnchanged
	}
	p.Finished = func(_ Placed, done, _ int) {
		if done == 8 {
			close(gate)
		}
	}
	if _, err := p.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	var all []string
	for _, b := range batches {
		all = append(all, b...)
	}
	slices.Sort(all)
	if want := []string{"r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7"}; !slices.Equal(all, want) {
		t.Errorf("recorded %v, want each place once", all)
	}
	if len(batches) > 2 {
		t.Errorf("%d writes %v: results finished during the first write were not batched", len(batches), batches)
	}
}

func TestUploadStopsWhenRecordingFails(t *testing.T) {
	boom := errors.New("disk full")
	_, p := uploadWorld(t, 1, nil)
	p.State, p.RecordEach = state.Dir{Path: t.TempDir()}, true
	p.Record = func(_ *state.State, _ *keys.Key, stage Stage, _ []Placed) error {
		if stage == StagePlaced {
			return boom
		}
		return ErrUnchanged
	}
	out, _ := p.Run(t.Context())
	if !errors.Is(out.Stop, boom) {
		t.Errorf("stop = %v, want the recording error", out.Stop)
	}
}

// On Data Center a key that may already be there is looked for before it is posted (a
// post would change its permission): present with the permission asked for, one GET and
// nothing posted; raised to write with --write; never lowered (reported instead); a new
// key is posted without a look; a repository the token may not administer fails naming
// REPO_ADMIN.
func TestDataCenterPut(t *testing.T) {
	w := newWorld(t, true)
	d := w.emu.DataCenter()
	ctx := t.Context()
	k := w.plainKey("bbkey_access_ci_ed25519")
	api := Place{Place: backend.Place{Kind: backend.Repo, Owner: "OPS", Slug: "api"}}
	proj := Place{Place: backend.Place{Kind: backend.Project, Slug: "OPS"}}
	count := func() (gets, posts int) {
		for _, r := range w.emu.Requests() {
			switch r.Method {
			case http.MethodGet:
				gets++
			case http.MethodPost:
				posts++
			}
		}
		w.emu.ResetRequests()
		return gets, posts
	}
	p := &Pipeline{B: w.b, Label: "bbkey:ci:2026-12-06:ttl=90d"}
	if got, err := p.put(ctx, api, k, false); err != nil || got.Existed || got.ID == "" {
		t.Fatalf("fresh add: %+v err %v", got, err)
	}
	if g, n := count(); g != 0 || n != 1 {
		t.Errorf("fresh add: %d GETs %d POSTs, want one POST", g, n)
	}
	if keys := d.RepoAccessKeys("OPS", "api"); len(keys) != 1 || keys[0].Permission != "REPO_READ" || keys[0].Label != p.Label {
		t.Fatalf("OPS/api keys = %+v", keys)
	}
	if got, err := p.put(ctx, api, k, true); err != nil || !got.Existed {
		t.Errorf("look, present: %+v err %v", got, err)
	}
	if g, n := count(); g != 1 || n != 0 {
		t.Errorf("look, present: %d GETs %d POSTs, want one GET", g, n)
	}
	pw := &Pipeline{B: w.b, Label: p.Label, Write: true}
	if got, err := pw.put(ctx, api, k, true); err != nil || got.Existed {
		t.Errorf("look, raise: %+v err %v", got, err)
	}
	if g, n := count(); g != 1 || n != 1 {
		t.Errorf("look, raise: %d GETs %d POSTs", g, n)
	}
	if keys := d.RepoAccessKeys("OPS", "api"); len(keys) != 1 || keys[0].Permission != "REPO_WRITE" {
		t.Fatalf("after --write: %+v", keys)
	}
	_, err := p.put(ctx, api, k, true)
	if mm, ok := errors.AsType[*PermissionMismatchError](err); !ok || mm.Has != "REPO_WRITE" || mm.Want != "REPO_READ" || !strings.Contains(err.Error(), "--write") {
		t.Errorf("look, lower: err %v", err)
	}
	if g, n := count(); g != 1 || n != 0 {
		t.Errorf("look, lower: %d GETs %d POSTs, want no POST", g, n)
	}
	if _, err := pw.put(ctx, proj, k, true); err != nil {
		t.Errorf("project: %v", err)
	}
	if keys := d.ProjectAccessKeys("OPS"); len(keys) != 1 || keys[0].Permission != "PROJECT_WRITE" {
		t.Errorf("OPS keys = %+v", keys)
	}
	if err := d.AddProject("RO", "Read only"); err != nil {
		t.Fatal(err)
	}
	if err := d.AddRepo("RO", "seen"); err != nil {
		t.Fatal(err)
	}
	if err := d.Grant("RO", "", bbapitest.DCDefaultUser, bbapitest.PermRead); err != nil {
		t.Fatal(err)
	}
	_, err = p.put(ctx, Place{Place: backend.Place{Kind: backend.Repo, Owner: "RO", Slug: "seen"}}, k, false)
	if perm, ok := dc.IsPermission(err); !ok || perm != dc.RepoAdmin {
		t.Errorf("no admin: err %v, want a permission error naming REPO_ADMIN", err)
	}
}

// On Cloud the key is posted without a look even when it may be there: a duplicate
// answer costs one listing and counts as present; --write is refused before any call.
func TestCloudPut(t *testing.T) {
	w := newWorld(t, false)
	ctx := t.Context()
	k := w.plainKey("bbkey_access_ci_ed25519")
	api := Place{Place: backend.Place{Kind: backend.Repo, Owner: "acme", Slug: "api"}}
	p := &Pipeline{B: w.b, Label: "bbkey:ci:2026-12-06:ttl=90d"}
	first, err := p.put(ctx, api, k, true)
	if err != nil || first.Existed {
		t.Fatalf("first add: %+v err %v", first, err)
	}
	again, err := p.put(ctx, api, k, true)
	if err != nil || !again.Existed || again.ID != first.ID {
		t.Fatalf("second add: %+v err %v", again, err)
	}
	var gets, posts int
	for _, r := range w.emu.Requests() {
		switch r.Method {
		case http.MethodGet:
			gets++
		case http.MethodPost:
			posts++
		}
	}
	if posts != 2 || gets != 1 {
		t.Errorf("%d POSTs %d GETs, want 2 POSTs and the one listing after the duplicate", posts, gets)
	}
	w.emu.ResetRequests()
	p.Write = true
	if _, err := p.put(ctx, api, k, true); !errors.Is(err, backend.ErrWriteUnsupported) {
		t.Errorf("--write on Cloud: err %v", err)
	}
	if n := len(w.emu.Requests()); n != 0 {
		t.Errorf("--write on Cloud sent %d requests", n)
	}
}
