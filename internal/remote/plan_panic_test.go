package remote

import (
	"context"
	"testing"
)

// A panic in one of forEach's goroutines comes back on the caller's, where cmd's
// last-resort recover can report it.
func TestForEachPanicReachesCaller(t *testing.T) {
	got := func() (r any) {
		defer func() { r = recover() }()
		forEach(context.Background(), []int{1, 2, 3, 4, 5}, 2, func(i int) {
			if i == 2 {
				panic("boom")
			}
		})
		return nil
	}()
	if got != "boom" {
		t.Fatalf("recovered %v", got)
	}
}
