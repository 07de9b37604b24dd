// Package credstoretest holds an in-memory credstore.Store for the tests of commands.
package credstoretest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/bbkey/bbkey/internal/credstore"
)

// Fake is an in-memory Store. It round-trips secrets through JSON as the real stores do,
// so a secret that could not be stored for real fails here too. The zero value is ready.
type Fake struct {
	mu    sync.Mutex
	items map[string][]byte
	// Err, when set, is returned by every call (a locked or broken keychain).
	Err error
}

var _ credstore.Store = (*Fake)(nil)

func notFound(account string) error { return fmt.Errorf("%w for %q", credstore.ErrNotFound, account) }

// Get returns the secret of account.
func (f *Fake) Get(_ context.Context, account string) (credstore.Secret, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var s credstore.Secret
	if f.Err != nil {
		return s, f.Err
	}
	b, ok := f.items[account]
	if !ok {
		return s, notFound(account)
	}
	err := json.Unmarshal(b, &s)
	return s, err
}

// Set stores s under account.
func (f *Fake) Set(_ context.Context, account string, s credstore.Secret) error {
	if account == "" {
		return errors.New("empty credential account name")
	}
	if err := s.Validate(); err != nil {
		return err
	}
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Err != nil {
		return f.Err
	}
	if f.items == nil {
		f.items = map[string][]byte{}
	}
	f.items[account] = b
	return nil
}

// Delete removes account.
func (f *Fake) Delete(_ context.Context, account string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Err != nil {
		return f.Err
	}
	if _, ok := f.items[account]; !ok {
		return notFound(account)
	}
	delete(f.items, account)
	return nil
}

// Kind is "memory".
func (f *Fake) Kind() string { return "memory" }

// Accounts lists the stored account keys, sorted, for assertions.
func (f *Fake) Accounts() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Sorted(maps.Keys(f.items))
}
