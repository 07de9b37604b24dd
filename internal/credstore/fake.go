package credstore

import (
	"context"
	"maps"
	"slices"
	"sync"
)

// Fake is an in-memory Store for unit tests of the commands. It round-trips secrets
// through the same JSON encoding as the real stores, so a secret that could not be stored
// for real fails here too. The zero value is ready to use.
type Fake struct {
	mu    sync.Mutex
	items map[string][]byte
	// Err, when set, is returned by every call (a locked or broken keychain).
	Err error
}

var _ Store = (*Fake)(nil)

// Get returns the secret of account.
func (f *Fake) Get(_ context.Context, account string) (Secret, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Err != nil {
		return Secret{}, f.Err
	}
	b, ok := f.items[account]
	if !ok {
		return Secret{}, notFound(account)
	}
	return decode(account, b)
}

// Set stores s under account.
func (f *Fake) Set(_ context.Context, account string, s Secret) error {
	if err := checkAccount(account); err != nil {
		return err
	}
	if err := s.Validate(); err != nil {
		return err
	}
	b, err := encode(s)
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
