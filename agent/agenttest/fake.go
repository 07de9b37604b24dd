// Package agenttest holds an in-memory agent.Agent for the tests of commands.
package agenttest

import (
	"crypto"
	"crypto/ed25519"
	"fmt"
	"slices"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/agent"
)

// Fake is an in-memory Agent for the tests of commands. It behaves like OpenSSH's agent
// where commands can tell (re-adding replaces, removing an absent key fails) and records
// the constraints each key was added with. Lifetimes are recorded, not enforced.
type Fake struct {
	mu sync.Mutex
	// Entries are the loaded keys, in the order added.
	Entries []FakeEntry
	// Err, when set, is returned by every call: an agent that went away.
	Err error
}

// FakeEntry is one key in a Fake.
type FakeEntry struct {
	agent.Identity
	Signer   ssh.Signer
	Lifetime time.Duration
	Confirm  bool
}

var _ agent.Agent = (*Fake)(nil)

// Add implements agent.Agent.
func (f *Fake) Add(key crypto.PrivateKey, comment string, lifetime time.Duration, confirm bool) error {
	if _, err := agent.LifetimeSecs(lifetime); err != nil {
		return err
	}
	// A real agent keeps its own copy, so the caller may wipe key after Add.
	if k, ok := key.(ed25519.PrivateKey); ok {
		key = slices.Clone(k)
	}
	signer, err := ssh.NewSignerFromKey(key)
	if err != nil {
		return fmt.Errorf("adding a key to the agent: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Err != nil {
		return f.Err
	}
	e := FakeEntry{
		Identity: agent.Identity{PublicKey: signer.PublicKey(), Fingerprint: ssh.FingerprintSHA256(signer.PublicKey()), Comment: comment},
		Signer:   signer, Lifetime: lifetime, Confirm: confirm,
	}
	if i := f.index(e.Fingerprint); i >= 0 {
		f.Entries[i] = e
		return nil
	}
	f.Entries = append(f.Entries, e)
	return nil
}

// List implements agent.Agent.
func (f *Fake) List() ([]agent.Identity, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Err != nil {
		return nil, f.Err
	}
	out := make([]agent.Identity, len(f.Entries))
	for i, e := range f.Entries {
		out[i] = e.Identity
	}
	return out, nil
}

// Remove implements agent.Agent.
func (f *Fake) Remove(fingerprint string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Err != nil {
		return f.Err
	}
	i := f.index(fingerprint)
	if i < 0 {
		return fmt.Errorf("removing %s from the agent: %w", fingerprint, agent.ErrNotLoaded)
	}
	f.Entries = slices.Delete(f.Entries, i, i+1)
	return nil
}

// Has implements agent.Agent.
func (f *Fake) Has(fingerprint string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Err != nil {
		return false, f.Err
	}
	return f.index(fingerprint) >= 0, nil
}

// Signers implements agent.Agent.
func (f *Fake) Signers() ([]ssh.Signer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Err != nil {
		return nil, f.Err
	}
	out := make([]ssh.Signer, len(f.Entries))
	for i, e := range f.Entries {
		out[i] = e.Signer
	}
	return out, nil
}

// Entry returns the entry with the fingerprint, for assertions.
func (f *Fake) Entry(fingerprint string) (FakeEntry, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if i := f.index(fingerprint); i >= 0 {
		return f.Entries[i], true
	}
	return FakeEntry{}, false
}

func (f *Fake) index(fp string) int {
	return slices.IndexFunc(f.Entries, func(e FakeEntry) bool { return e.Fingerprint == fp })
}
