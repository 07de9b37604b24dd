// Package agent talks to the user's running SSH agent: the one SSH_AUTH_SOCK names on
// Unix; on Windows the OpenSSH agent service's named pipe \\.\pipe\openssh-ssh-agent
// (or the pipe or socket SSH_AUTH_SOCK names). It adds a key with a comment, an optional
// lifetime and confirm-before-use, lists keys, removes one by fingerprint and tells
// whether one is loaded. Adding a key that is already loaded replaces it, never
// duplicates it, whatever the agent's own semantics.
//
// When no agent is reachable, Connect returns a NoAgentError (errors.Is ErrNoAgent) whose
// hints say how to start one in the user's shell. Pageant's own window-message protocol
// is not spoken: it cannot be exercised here, and Pageant 0.75+ offers an OpenSSH named
// pipe that SSH_AUTH_SOCK can name instead.
//
// Commands depend on the Agent interface; Fake is its in-memory stand-in for their tests.
package agent

import (
	"crypto"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	sshagent "golang.org/x/crypto/ssh/agent"
)

// Agent is what commands need from an SSH agent.
type Agent interface {
	// Add loads key (ed25519.PrivateKey, *rsa.PrivateKey or *ecdsa.PrivateKey) with a
	// comment; lifetime > 0 makes the agent forget it after that long (rounded up to
	// whole seconds); confirm makes the agent ask before each use. A key already loaded
	// is replaced.
	Add(key crypto.PrivateKey, comment string, lifetime time.Duration, confirm bool) error
	// List returns the loaded keys.
	List() ([]Identity, error)
	// Remove unloads the key with this fingerprint ("SHA256:…"); ErrNotLoaded if absent.
	Remove(fingerprint string) error
	// Has reports whether the key with this fingerprint is loaded.
	Has(fingerprint string) (bool, error)
	// Signers returns signers backed by the agent, for proving keys over SSH.
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
	// Addr is where the agent was reached: a socket path or a named pipe.
	Addr string
	conn io.Closer
	ag   sshagent.ExtendedAgent

	mu sync.Mutex
	// stuck is set once the agent let an exchange time out: a late answer would be read
	// as the next one's, so every later exchange fails at once with it.
	stuck error
}

// opTimeout bounds one exchange with the agent: an agent that accepted the connection but
// never answers (stopped with SIGSTOP, wedged) must not hang bbkey, least of all a timer's
// run. Signatures are not bounded: a confirm-before-use key waits for the user.
var opTimeout = 30 * time.Second

// bounded runs op with a deadline on the connection, when it has one.
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

// Connect reaches the user's agent: SSH_AUTH_SOCK, or on Windows the OpenSSH agent's
// named pipe when it is unset. No agent gives a NoAgentError with hints for the user's
// OS and shell.
func Connect(lookupEnv func(string) (string, bool)) (*Client, error) {
	conn, addr, err := dial(lookupEnv)
	if err != nil {
		return nil, err
	}
	return New(conn, addr), nil
}

// New wraps an open connection to an agent; addr only labels it in messages.
func New(conn io.ReadWriteCloser, addr string) *Client {
	return &Client{Addr: addr, conn: conn, ag: sshagent.NewClient(conn)}
}

// Close closes the connection; the agent keeps its keys.
func (c *Client) Close() error { return c.conn.Close() }

// Add implements Agent. Any entry for the same key is removed first: OpenSSH's agent
// would replace it in place, but other agents (and older ones) append a duplicate.
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

// ErrRefused matches (errors.Is) an agent's refusal: the protocol's bare failure answer,
// which a locked agent (`ssh-add -x`) gives to every add and remove.
var ErrRefused = errors.New("the agent refused")

type refusedError struct{ err error }

func (e *refusedError) Error() string   { return "the agent refused (" + e.err.Error() + ")" }
func (e *refusedError) Unwrap() []error { return []error{e.err, ErrRefused} }
func (e *refusedError) Hints() []string {
	return []string{"the agent may be locked: `ssh-add -X` unlocks it; then `ssh-add` loads the key"}
}

// refused marks the agent's bare failure answer as a refusal; other errors pass.
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
	if err != nil {
		return false, err
	}
	for _, id := range ids {
		if id.Fingerprint == fingerprint {
			return true, nil
		}
	}
	return false, nil
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

// LifetimeSecs converts an agent lifetime to the protocol's whole seconds: 0 means no
// limit, anything else is rounded up so a short lifetime never becomes "forever".
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
