package credstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/bbkey/bbkey/internal/credstore"
	"github.com/bbkey/bbkey/internal/credstore/credstoretest"
)

func TestFakeConformance(t *testing.T) {
	f := &credstoretest.Fake{}
	credstore.Conformance(t, f, "")
	if got := f.Accounts(); len(got) != 0 {
		t.Errorf("accounts left after cleanup: %q", got)
	}
	f.Err = errors.New("keychain is locked")
	if _, err := f.Get(context.Background(), "x"); err != f.Err {
		t.Errorf("Get with Err set = %v", err)
	}
}
