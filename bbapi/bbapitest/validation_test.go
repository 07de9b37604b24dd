package bbapitest_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/bbkey/bbkey/bbapi/bbapitest"
)

// recordingTB collects what WithSpecValidation reports instead of failing the test.
type recordingTB struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recordingTB) reported(sub string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.errs {
		if strings.Contains(e, sub) {
			return true
		}
	}
	return false
}

// The validator is not a formality: requests that break the spec are reported.
func TestSpecValidationReportsViolations(t *testing.T) {
	rec := &recordingTB{TB: t}
	s := bbapitest.Start(t, bbapitest.WithSpecValidation(rec))

	call(t, "GET", s.APIURL()+"/user", ada(s), nil)
	if len(rec.errs) != 0 {
		t.Fatalf("a valid call was reported: %v", rec.errs)
	}
	call(t, "GET", s.APIURL()+"/nonexistent", ada(s), nil)
	if !rec.reported("/2.0/nonexistent is not an operation") {
		t.Errorf("unknown operation not reported: %v", rec.errs)
	}
	call(t, "POST", s.APIURL()+"/users/"+bbapitest.DefaultAccountID+"/ssh-keys", ada(s), map[string]any{"key": 5})
	if !rec.reported("request POST /2.0/users/") {
		t.Errorf("a body with a number for key not reported: %v", rec.errs)
	}
	call(t, "GET", s.APIURL()+"/repositories/acme?role=boss", ada(s), nil)
	if !rec.reported("request GET /2.0/repositories/acme violates") {
		t.Errorf("a role outside the enum not reported: %v", rec.errs)
	}
}
