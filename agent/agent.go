// Package agent talks to the user's SSH agent: SSH_AUTH_SOCK, or on Windows the OpenSSH
// agent service's pipe \\.\pipe\openssh-ssh-agent. Adding a loaded key replaces it, whatever
// the agent's own semantics. No agent gives a NoAgentError whose hints say how to start one.
// Pageant's window-message protocol is not spoken (Pageant 0.75+ offers an OpenSSH pipe).
package agent

import (
	"crypto"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	sshagent "golang.org/x/crypto/ssh/agent"
)

// Agent is what commands need from an SSH agent.
type Agent interface {
	// Add loads key, replacing it when loaded; lifetime > 0 makes the agent forget it
	// after that long (rounded up to seconds), confirm ask before each use.
	Add(key crypto.PrivateKey, comment string, lifetime time.Duration, confirm bool) error
	List() ([]Identity, error)
	// Remove unloads the key with this fingerprint; ErrNotLoaded if absent.
	Remove(fingerprint string) error
	Has(fingerprint string) (bool, error)
	Signers() ([]ssh.Signer, error)
}

// Identity is a key the agent holds.
type Identity struct {
	PublicKey   ssh.PublicKey
	Fingerprint string // "SHA256:…"
	Comment     string
}

// ErrNotLoaded is returned by Remove when the agent does not hold the key.
var ErrNotLoaded = errors.New("key is not loaded in the agent")

// Client is a connection to a running agent. It is safe for concurrent use.
type Client struct {
	Addr string // a socket path or a named pipe
	conn io.Closer
	ag   sshagent.ExtendedAgent
	mu   sync.Mutex
	// stuck is set once an exchange timed out: a late answer would be read as the next
	// one's, so every later exchange fails with it.
	stuck error
}

// opTimeout bounds one exchange, so a wedged agent cannot hang bbkey. Signatures are not
// bounded: a confirm-before-use key waits for the user.
var opTimeout = 30 * time.Second

// bounded runs op with a deadline on the connection, when it takes one.
func (c *Client) bounded(op func() error) error {
	c.mu.Lock()
	stuck := c.stuck
	c.mu.Unlock()
	if stuck != nil {
		return stuck
	}
	deadline := time.Now().Add(opTimeout)
	d, ok := c.conn.(interface{ SetDeadline(time.Time) error })
	if !ok || d.SetDeadline(deadline) != nil {
		return op()
	}
	err := op()
	_ = d.SetDeadline(time.Time{})
	if err != nil && !time.Now().Before(deadline) {
		err = fmt.Errorf("the agent at %s did not answer within %s: %w", c.Addr, opTimeout, err)
		c.mu.Lock()
		c.stuck = err
		c.mu.Unlock()
	}
	return err
}

var _ Agent = (*Client)(nil)

// Connect reaches the user's agent, or fails with a NoAgentError.
func Connect(lookupEnv func(string) (string, bool)) (*Client, error) {
	conn, addr, err := dial(lookupEnv)
	if err != nil {
		return nil, err
	}
	return &Client{Addr: addr, conn: conn, ag: sshagent.NewClient(conn)}, nil
}

// Close closes the connection; the agent keeps its keys.
func (c *Client) Close() error { return c.conn.Close() }

// Add implements Agent. Entries of the same key are removed first: some agents append
// a duplicate.
func (c *Client) Add(key crypto.PrivateKey, comment string, lifetime time.Duration, confirm bool) error {
	secs, err := LifetimeSecs(lifetime)
	if err != nil {
		return err
	}
	signer, err := ssh.NewSignerFromKey(key)
	if err != nil {
		return fmt.Errorf("adding a key to the agent: %w", err)
	}
	pub := signer.PublicKey()
	if _, err := c.removeMatching(ssh.FingerprintSHA256(pub)); err != nil {
		return fmt.Errorf("adding %s to the agent at %s: %w", ssh.FingerprintSHA256(pub), c.Addr, err)
	}
	err = c.bounded(func() error {
		return c.ag.Add(sshagent.AddedKey{
			PrivateKey:       key,
			Comment:          comment,
			LifetimeSecs:     secs,
			ConfirmBeforeUse: confirm,
		})
	})
	if err != nil {
		return fmt.Errorf("adding %s to the agent at %s: %w", ssh.FingerprintSHA256(pub), c.Addr, refused(err))
	}
	return nil
}

// ErrRefused matches an agent's bare failure answer, which a locked agent gives.
var ErrRefused = errors.New("the agent refused")

type refusedError struct{ err error }

func (e *refusedError) Error() string   { return "the agent refused (" + e.err.Error() + ")" }
func (e *refusedError) Unwrap() []error { return []error{e.err, ErrRefused} }
func (e *refusedError) Hints() []string {
	return []string{"the agent may be locked: `ssh-add -X` unlocks it; then `ssh-add` loads the key"}
}

func refused(err error) error {
	if err != nil && err.Error() == "agent: failure" {
		return &refusedError{err: err}
	}
	return err
}

// List implements Agent.
func (c *Client) List() ([]Identity, error) {
	var keys []*sshagent.Key
	err := c.bounded(func() (err error) {
		keys, err = c.ag.List()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listing the keys of the agent at %s: %w", c.Addr, err)
	}
	out := make([]Identity, 0, len(keys))
	for _, k := range keys {
		var pub ssh.PublicKey = k
		if p, err := ssh.ParsePublicKey(k.Blob); err == nil {
			pub = p
		}
		out = append(out, Identity{PublicKey: pub, Fingerprint: ssh.FingerprintSHA256(pub), Comment: k.Comment})
	}
	return out, nil
}

// Remove implements Agent.
func (c *Client) Remove(fingerprint string) error {
	n, err := c.removeMatching(fingerprint)
	if err != nil {
		return fmt.Errorf("removing %s from the agent at %s: %w", fingerprint, c.Addr, err)
	}
	if n == 0 {
		return fmt.Errorf("removing %s from the agent at %s: %w", fingerprint, c.Addr, ErrNotLoaded)
	}
	return nil
}

// removeMatching removes every entry with the fingerprint and says how many there were.
func (c *Client) removeMatching(fingerprint string) (int, error) {
	ids, err := c.List()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		if id.Fingerprint != fingerprint {
			continue
		}
		if err := c.bounded(func() error { return c.ag.Remove(id.PublicKey) }); err != nil {
			return n, refused(err)
		}
		n++
	}
	return n, nil
}

// Has implements Agent.
func (c *Client) Has(fingerprint string) (bool, error) {
	ids, err := c.List()
	return slices.ContainsFunc(ids, func(id Identity) bool { return id.Fingerprint == fingerprint }), err
}

// Signers implements Agent.
func (c *Client) Signers() ([]ssh.Signer, error) {
	var s []ssh.Signer
	err := c.bounded(func() (err error) {
		s, err = c.ag.Signers()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reading the keys of the agent at %s: %w", c.Addr, err)
	}
	return s, nil
}

// LifetimeSecs converts a lifetime to the protocol's seconds, rounded up so a short one
// never becomes 0, "forever".
func LifetimeSecs(d time.Duration) (uint32, error) {
	switch {
	case d < 0:
		return 0, fmt.Errorf("agent lifetime %s is negative", d)
	case d == 0:
		return 0, nil
	}
	secs := (d + time.Second - 1) / time.Second
	if secs > math.MaxUint32 {
		return 0, fmt.Errorf("agent lifetime %s is too long", d)
	}
	return uint32(secs), nil
}
