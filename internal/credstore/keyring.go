package credstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/zalando/go-keyring"
)

// DefaultTimeout bounds each keychain call (a Secret Service may wait forever for an
// unlock prompt nobody answers).
const DefaultTimeout = 5 * time.Second

// Backend is the raw keychain: go-keyring's calls, replaceable in tests.
type Backend interface {
	Set(service, user, password string) error
	Get(service, user string) (string, error)
	Delete(service, user string) error
}

// OSKeychain is the operating system's keychain through go-keyring.
type OSKeychain struct{}

func (OSKeychain) Set(service, user, password string) error {
	return keyring.Set(service, user, password)
}
func (OSKeychain) Get(service, user string) (string, error) { return keyring.Get(service, user) }
func (OSKeychain) Delete(service, user string) error        { return keyring.Delete(service, user) }

// Keyring is a Store in the OS keychain: one item per account under Service.
type Keyring struct {
	backend Backend
	timeout time.Duration
}

var _ Store = (*Keyring)(nil)

// NewKeyring returns a keychain store over backend (nil: OSKeychain); every call gives up
// after timeout (0: DefaultTimeout) or when ctx ends.
func NewKeyring(backend Backend, timeout time.Duration) *Keyring {
	if backend == nil {
		backend = OSKeychain{}
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &Keyring{backend: backend, timeout: timeout}
}

func (k *Keyring) Kind() string { return "keychain" }

// Get returns the secret of account.
func (k *Keyring) Get(ctx context.Context, account string) (Secret, error) {
	var v string
	err := k.call(ctx, "reading", account, func() (err error) {
		v, err = k.backend.Get(Service, account)
		return err
	})
	if err != nil {
		return Secret{}, err
	}
	return decode(account, []byte(v))
}

// Set stores s under account, replacing the item that was there.
func (k *Keyring) Set(ctx context.Context, account string, s Secret) error {
	if err := checkSet(account, s); err != nil {
		return err
	}
	b, err := encode(s)
	if err != nil {
		return err
	}
	return k.call(ctx, "storing", account, func() error {
		return k.backend.Set(Service, account, string(b))
	})
}

// Delete removes the item of account.
func (k *Keyring) Delete(ctx context.Context, account string) error {
	return k.call(ctx, "deleting", account, func() error {
		return k.backend.Delete(Service, account)
	})
}

// call checks account and runs fn with a deadline. go-keyring has no context: a call that
// hangs is left behind in its goroutine, and bbkey exits soon after.
func (k *Keyring) call(ctx context.Context, op, account string, fn func() error) error {
	if err := checkAccount(account); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, k.timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		switch {
		case err == nil:
			return nil
		case errors.Is(err, keyring.ErrNotFound):
			return notFound(account)
		case errors.Is(err, keyring.ErrSetDataTooBig):
			return fmt.Errorf("keychain: %s %q: the credential is too large for this keychain", op, account)
		}
		// go-keyring's and D-Bus's errors carry no secret, only what failed.
		return fmt.Errorf("keychain: %s %q: %w", op, account, err)
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("keychain: %s %q: no answer within %s (is the keychain locked or waiting for a password prompt?): %w",
				op, account, k.timeout, ErrKeychainTimeout)
		}
		return fmt.Errorf("keychain: %s %q: %w", op, account, ctx.Err())
	}
}

// ErrKeychainTimeout is returned when the keychain did not answer in time.
var ErrKeychainTimeout = errors.New("keychain timed out")
