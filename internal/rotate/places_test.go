package rotate

import (
	"errors"
	"fmt"
	"testing"
)

// TestPlacesErrorNamesAFew: a failure on many places names the first by its error and a
// few others, then how many more.
func TestPlacesErrorNamesAFew(t *testing.T) {
	errs := map[string]error{}
	for i := range 8 {
		errs[fmt.Sprintf("repo:acme/r%d", i)] = errors.New("boom")
	}
	want := "deleting the old key failed on 8 of 9 targets (also repo:acme/r1, repo:acme/r2, repo:acme/r3, repo:acme/r4, repo:acme/r5 and 2 more); repo:acme/r0: boom"
	if err := placesError("deleting the old key", 9, errs); err == nil || err.Error() != want {
		t.Errorf("= %v\nwant %s", err, want)
	}
}
