// Package sshproof proves that a key works over SSH before bbkey relies on it: a real
// handshake with the endpoint, the host key checked against the pins, authentication with
// exactly the key given, and the server's greeting read back. Failures are typed:
// *RefusedError and *Error (exit 5), *hostkeys.MismatchError, *NetworkError (exit 1).
package sshproof

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/internal/hostkeys"
	"github.com/bbkey/bbkey/internal/settings"
)

// DefaultTimeout bounds a whole proof when Options.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// Options say where to connect and with what.
type Options struct {
	Endpoint     string // HOST:PORT (a bare host: port 22)
	HostKeyAlias string // the pinned host, for messages
	// HostKeyCallback checks the server's key; required.
	HostKeyCallback ssh.HostKeyCallback
	// HostKeyAlgorithms restricts negotiation to the pinned key types (nil: defaults).
	HostKeyAlgorithms []string
	Signer            ssh.Signer // the key to prove
	User              string     // "": git
	// Timeout bounds dial, handshake and greeting together (0: DefaultTimeout).
	Timeout time.Duration
	Dial    func(ctx context.Context, network, addr string) (net.Conn, error) // nil: TCP
	// Trace receives one line per step (--debug); keys appear as fingerprints only.
	Trace io.Writer
}

// Result is what a successful proof saw.
type Result struct {
	// Greeting is what the server printed, stdout then stderr, trimmed.
	Greeting           string `json:"greeting"`
	Fingerprint        string `json:"fingerprint"` // the key the server accepted
	HostKeyFingerprint string `json:"host_key_fingerprint"`
}

// Prove connects to the endpoint, checks its host key, authenticates as User with the
// signer and reads the greeting.
func Prove(ctx context.Context, opts Options) (Result, error) {
	var res Result
	if opts.Signer == nil {
		return res, errors.New("proving an ssh key: no key to offer")
	}
	fp := ssh.FingerprintSHA256(opts.Signer.PublicKey())
	ctx, cancel := context.WithTimeout(ctx, timeout(opts))
	defer cancel()
	sess, err := handshake(ctx, opts, []ssh.AuthMethod{ssh.PublicKeys(opts.Signer)}, false)
	if err != nil {
		if errors.Is(err, errRefused) {
			return res, &RefusedError{Endpoint: opts.Endpoint, User: user(opts), Offered: []string{fp}, Reason: sess.authErr}
		}
		return res, err
	}
	defer sess.client.Close()
	res.HostKeyFingerprint = ssh.FingerprintSHA256(sess.hostKey)
	res.Fingerprint = fp
	opts.tracef("authenticated as %s with %s", user(opts), fp)

	// Proven by now; the greeting tells an account key from a deploy key. Separate
	// buffers: x/crypto copies stdout and stderr from different goroutines.
	session, err := sess.client.NewSession()
	if err != nil {
		return res, &Error{Endpoint: opts.Endpoint, Err: fmt.Errorf("opening a session: %w", err)}
	}
	defer session.Close()
	var stdout, stderr bytes.Buffer
	session.Stdout, session.Stderr = &stdout, &stderr
	if err := session.Shell(); err != nil {
		// Proven all the same; there is just no greeting to wait for.
		opts.tracef("shell request refused: %v", err)
		return res, nil
	}
	done := make(chan error, 1)
	go func() { done <- session.Wait() }()
	select {
	case err = <-done:
		// The exit status is not reliable on Bitbucket (API.md §4); only output counts.
		var exitErr *ssh.ExitError
		var missing *ssh.ExitMissingError
		if err != nil && !errors.As(err, &exitErr) && !errors.As(err, &missing) && !errors.Is(err, io.EOF) {
			opts.tracef("session ended: %v", err)
		}
	case <-ctx.Done():
		// Accepted but silent: still proven. Close so the copy goroutines finish before
		// the buffers are read.
		opts.tracef("no end of greeting before the deadline")
		sess.client.Close()
		<-done
		if errors.Is(ctx.Err(), context.Canceled) {
			return res, ctx.Err()
		}
	}
	res.Greeting = strings.TrimSpace(strings.TrimSpace(stdout.String()) + "\n" + strings.TrimSpace(stderr.String()))
	opts.tracef("server said: %q", res.Greeting)
	return res, nil
}

// CheckHostKey connects only as far as the host key: the key the server presented when the
// callback accepts it, or the callback's error. No key is offered.
func CheckHostKey(ctx context.Context, opts Options) (ssh.PublicKey, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout(opts))
	defer cancel()
	sess, err := handshake(ctx, opts, nil, true)
	return sess.hostKey, err
}

var (
	errRefused         = errors.New("authentication refused")
	errHostKeyAccepted = errors.New("host key accepted") // stops CheckHostKey after the check
)

type conn struct {
	client  *ssh.Client
	hostKey ssh.PublicKey
	authErr string
}

// handshake dials and runs the SSH handshake, or only until the host key is accepted.
func handshake(ctx context.Context, opts Options, auth []ssh.AuthMethod, stopAfterHostKey bool) (*conn, error) {
	c := &conn{}
	if opts.HostKeyCallback == nil {
		return c, errors.New("connecting to " + opts.Endpoint + ": no host key check configured")
	}
	host, port, err := settings.SplitEndpoint(opts.Endpoint)
	if err != nil {
		return c, err
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	dial := opts.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	opts.tracef("dialing %s", addr)
	raw, err := dial(ctx, "tcp", addr)
	if err != nil {
		if errors.Is(ctx.Err(), context.Canceled) {
			return c, ctx.Err() // interrupted, not the network (exit 2, not 1)
		}
		return c, &NetworkError{Endpoint: opts.Endpoint, Op: "connecting to", Err: err}
	}
	// A deadline the handshake honours, and a cancel that interrupts it.
	if dl, ok := ctx.Deadline(); ok {
		raw.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	defer stop()

	var (
		mu      sync.Mutex
		checked bool
		keyErr  error
	)
	cfg := &ssh.ClientConfig{
		User: user(opts),
		Auth: auth,
		HostKeyCallback: func(hostname string, remote net.Addr, key ssh.PublicKey) error {
			err := opts.HostKeyCallback(hostname, remote, key)
			mu.Lock()
			defer mu.Unlock()
			checked, c.hostKey, keyErr = true, key, err
			if err != nil {
				opts.tracef("host key %s %s refused: %v", key.Type(), ssh.FingerprintSHA256(key), err)
				return err
			}
			opts.tracef("host key %s %s matches the pins for %s", key.Type(), ssh.FingerprintSHA256(key), opts.HostKeyAlias)
			if stopAfterHostKey {
				return errHostKeyAccepted
			}
			return nil
		},
		HostKeyAlgorithms: opts.HostKeyAlgorithms,
	}
	sc, chans, reqs, err := ssh.NewClientConn(raw, opts.Endpoint, cfg)
	mu.Lock()
	defer mu.Unlock()
	if err != nil {
		raw.Close()
		switch {
		case keyErr != nil:
			var m *hostkeys.MismatchError
			if errors.As(keyErr, &m) {
				return c, fmt.Errorf("checking the host key of %s: %w", opts.Endpoint, keyErr)
			}
			return c, &Error{Endpoint: opts.Endpoint, Err: keyErr}
		case stopAfterHostKey && checked:
			return c, nil
		case ctx.Err() != nil && errors.Is(ctx.Err(), context.Canceled):
			return c, ctx.Err()
		case !checked && isNetwork(err, ctx):
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				// Whichever fired first, the deadline or the cancel closing the conn.
				err = fmt.Errorf("no answer within %s: %w", timeout(opts), context.DeadlineExceeded)
			}
			return c, &NetworkError{Endpoint: opts.Endpoint, Op: "ssh handshake with", Err: err}
		case checked && isAuthFailure(err):
			c.authErr = authReason(err)
			opts.tracef("authentication refused: %v", err)
			return c, errRefused
		}
		return c, &Error{Endpoint: opts.Endpoint, Err: err}
	}
	raw.SetDeadline(time.Time{})
	c.client = ssh.NewClient(sc, chans, reqs)
	// Keep interrupting on cancel for the session phase.
	context.AfterFunc(ctx, func() { c.client.Close() })
	return c, nil
}

func isAuthFailure(err error) bool {
	s := err.Error()
	return strings.Contains(s, "unable to authenticate") || strings.Contains(s, "Too many authentication failures") ||
		strings.Contains(s, "no supported methods remain")
}

func authReason(err error) string {
	if strings.Contains(err.Error(), "Too many authentication failures") {
		return "too many authentication failures"
	}
	return "permission denied (publickey)"
}

// isNetwork reports whether a handshake error before any host key is the network's doing.
func isNetwork(err error, ctx context.Context) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || ctx.Err() != nil
}

func timeout(o Options) time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	return DefaultTimeout
}

func user(o Options) string {
	if o.User == "" {
		return "git"
	}
	return o.User
}

func (o Options) tracef(format string, args ...any) {
	if o.Trace != nil {
		fmt.Fprintf(o.Trace, "ssh: "+format+"\n", args...)
	}
}
