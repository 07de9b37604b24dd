package backend

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/bbapi/dc"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/sshproof"
)

// hostKeyAlgorithmSets are the kinds of host key a server may hold, asked for one at a
// time after a first handshake presented a key that does not match: a server with an
// RSA and an Ed25519 key may vouch for either over HTTPS.
var hostKeyAlgorithmSets = [][]string{
	{ssh.KeyAlgoED25519},
	{ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521},
	{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA},
}

// errNotVouched stops a handshake whose host key the settings do not vouch for.
var errNotVouched = errors.New("host key not vouched for by the server's ssh settings")

// vouchedHostKey connects to the SSH endpoint and returns the host key it presents when
// its fingerprint is the one the server's HTTPS answer names. A first handshake takes
// the server's preferred key; when that one does not match, each other kind of key is
// asked for once. Nothing is trusted on first use: no match is a *HostKeyError.
func (b *datacenter) vouchedHostKey(ctx context.Context, st *dc.SSHSettings, s *SSH) (ssh.PublicKey, error) {
	want := strings.TrimSpace(st.Fingerprint.Value)
	herr := &HostKeyError{
		Server: b.Server(), Host: s.Host, Endpoint: s.Endpoint, SettingsURL: b.settingsURL(),
		Algorithm: st.Fingerprint.Algorithm, Fingerprint: want,
	}
	if want == "" {
		herr.Err = ErrNoFingerprint
		return nil, herr
	}
	sets := append([][]string{nil}, hostKeyAlgorithmSets...)
	for _, algos := range sets {
		if algos != nil && slices.ContainsFunc(herr.Seen, func(seen string) bool { return slices.Contains(algos, strings.Fields(seen)[0]) }) {
			continue // this kind was presented already
		}
		var seen ssh.PublicKey
		_, err := sshproof.CheckHostKey(ctx, sshproof.Options{
			Endpoint:     s.Endpoint,
			HostKeyAlias: s.Host,
			HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
				seen = key
				if st.MatchesHostKey(key) {
					return nil
				}
				return errNotVouched
			},
			HostKeyAlgorithms: algos,
			Trace:             b.opts.Trace,
		})
		switch {
		case err == nil && seen != nil:
			return seen, nil
		case seen != nil && errors.Is(err, errNotVouched):
			herr.Seen = append(herr.Seen, seen.Type()+" "+ssh.FingerprintSHA256(seen))
		case algos != nil && seen == nil && !isNetwork(err):
			// The server has no key of this kind: the handshake found no common algorithm.
		default:
			return nil, fmt.Errorf("reading the host key of %s: %w", s.Endpoint, err)
		}
	}
	return nil, herr
}

func isNetwork(err error) bool {
	var ne *sshproof.NetworkError
	return errors.As(err, &ne) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// HostKeyError is a Data Center SSH server whose host key is not the one the server's own
// HTTPS answer (GET /rest/ssh/latest/settings) vouches for, or a server that vouches for
// none. Nothing was pinned. Exit 5, as for any host key bbkey refuses.
type HostKeyError struct {
	Server   string
	Host     string
	Endpoint string
	// SettingsURL is where the fingerprint came from.
	SettingsURL string
	// Algorithm and Fingerprint are what the settings named.
	Algorithm, Fingerprint string
	// Seen are the keys the SSH server presented, "type SHA256:…".
	Seen []string
	// Err is set when there was nothing to compare with (ErrNoFingerprint).
	Err error
}

func (e *HostKeyError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("cannot check the host key of %s (%s): %v; nothing was pinned", e.Host, e.Endpoint, e.Err)
	}
	return fmt.Sprintf("the SSH server at %s presented %s, but %s says its host key is %s:%s; nothing was pinned",
		e.Endpoint, strings.Join(e.Seen, " and "), e.Server, e.Algorithm, strings.TrimPrefix(e.Fingerprint, e.Algorithm+":"))
}

func (e *HostKeyError) Unwrap() error { return e.Err }

// ExitCode makes a refused host key an SSH verification failure (exit 5).
func (e *HostKeyError) ExitCode() int { return errkind.ExitVerify }

// Hints say where the fingerprint came from and what not to do.
func (e *HostKeyError) Hints() []string {
	if e.Err != nil {
		return []string{
			"bbkey never trusts a host key on first use: get the server's SSH host key from its administrators and give it with --ssh-host-keys FILE",
		}
	}
	return []string{
		"bbkey pins a Data Center host key only when it matches the server's own answer at " + e.SettingsURL + ": someone may be intercepting the connection, or --ssh-endpoint points at another server",
		"if the administrators changed the key on purpose, check the new one with them and give it with --ssh-host-keys FILE",
	}
}
