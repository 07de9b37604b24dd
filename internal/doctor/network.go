package doctor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/fsutil"
	"github.com/bbkey/bbkey/internal/hostkeys"
	"github.com/bbkey/bbkey/internal/remote"
	"github.com/bbkey/bbkey/internal/settings"
	"github.com/bbkey/bbkey/internal/sshproof"
	"golang.org/x/crypto/ssh"
)

func checkDNS(ctx context.Context, e *Env, _ Deps) Result {
	host, _, err := settings.SplitEndpoint(e.Settings.SSHEndpoint)
	if err != nil {
		return Result{Status: Fail, Summary: err.Error(), Fix: "give the endpoint as HOST:PORT with --ssh-endpoint or BBKEY_SSH_ENDPOINT"}
	}
	if net.ParseIP(host) != nil {
		return Result{Status: OK, Summary: host + " is an address: no lookup needed"}
	}
	addrs, err := e.LookupHost(ctx, host)
	if err != nil {
		return Result{Status: Fail, Summary: fmt.Sprintf("cannot resolve %s: %v", host, err),
			Cause: "no network, or DNS is down or blocked",
			Fix:   "check the network connection and DNS (nslookup " + host + ")"}
	}
	if len(addrs) > 3 {
		addrs = append(addrs[:3], "…")
	}
	return Result{Status: OK, Summary: fmt.Sprintf("%s → %s", host, strings.Join(addrs, ", "))}
}

// dial opens and closes a TCP connection to the endpoint addr; a bare host means port 22,
// as in the ssh config bbkey writes for it.
func dial(ctx context.Context, e *Env, addr string) error {
	if host, port, err := settings.SplitEndpoint(addr); err == nil {
		addr = net.JoinHostPort(host, strconv.Itoa(port))
	}
	c, err := e.Dial(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return c.Close()
}

func checkFallback(ctx context.Context, e *Env, _ Deps) Result {
	if e.Fallback == "" || e.Fallback == e.Settings.SSHEndpoint {
		return Result{Status: notApplicable}
	}
	if err := dial(ctx, e, e.Fallback); err != nil {
		return Result{Status: Warn, Summary: fmt.Sprintf("%s (SSH over port 443) is not reachable: %v", e.Fallback, dialReason(err)),
			Cause: "if this network ever blocks port 22 there is no way around it here",
			Fix:   "nothing to do while " + e.Settings.SSHEndpoint + " works"}
	}
	return Result{Status: OK, Summary: e.Fallback + " (SSH over port 443) is reachable, should port 22 ever be blocked"}
}

// dialReason shortens a dial error to its cause.
func dialReason(err error) string {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err.Error()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "no answer in time"
	}
	return err.Error()
}

func checkTCP(ctx context.Context, e *Env, deps Deps) Result {
	if d, bad := deps.failed("dns"); bad {
		return skip(d)
	}
	ep := e.Settings.SSHEndpoint
	err := dial(ctx, e, ep)
	if err == nil {
		return Result{Status: OK, Summary: "connected to " + ep}
	}
	_, port, _ := settings.SplitEndpoint(ep)
	r := Result{Status: Fail, Summary: fmt.Sprintf("cannot connect to %s: %s", ep, dialReason(err))}
	fb, probed := deps["altssh"]
	switch {
	case probed && fb.Status == OK:
		r.Cause = "this network blocks outgoing SSH on port 22 (common on corporate, hotel and café networks), but port 443 gets through"
		r.Fix = "switch to SSH over port 443: bbkey doctor --fix --ssh-endpoint " + e.Fallback
	case port == 22:
		r.Cause = "no network, or a firewall blocks outgoing SSH on port 22"
		r.Fix = "check the network; where port 22 is blocked use SSH over port 443: bbkey doctor --fix --ssh-endpoint " + settings.AltSSHEndpoint
	default:
		r.Cause = "the endpoint is wrong, down, or blocked"
		r.Fix = "check the endpoint (--ssh-endpoint or BBKEY_SSH_ENDPOINT, now " + ep + ") and the network"
	}
	return r
}

func checkHostKey(ctx context.Context, e *Env, deps Deps) Result {
	if d, bad := deps.failed("tcp"); bad {
		return skip(d)
	}
	pins, err := hostkeys.Pinned(e.Settings)
	if err != nil {
		return Result{Status: Fail, Summary: "cannot read the host keys to pin: " + err.Error(),
			Fix: "check the file given with --ssh-host-keys or BBKEY_SSH_HOST_KEYS"}
	}
	ep := e.Settings.SSHEndpoint
	key, err := sshproof.CheckHostKey(ctx, proofOptions(e, ep, pins, e.Timeouts.Network, nil))
	var mm *hostkeys.MismatchError
	var rv *hostkeys.RevokedError
	switch {
	case errors.As(err, &mm):
		return Result{Status: Fail, Summary: mm.Error(),
			Cause: "a wrong endpoint, a machine in the middle of the connection, or new host keys at Bitbucket",
			Fix:   apierr.FirstHint(mm, "compare with "+hostkeys.CheckURL)}
	case errors.As(err, &rv):
		return Result{Status: Fail, Summary: rv.Error(), Cause: "a known_hosts line revokes the key, so ssh refuses it too",
			Fix: apierr.FirstHint(rv, "")}
	case err != nil:
		return Result{Status: Fail, Summary: "SSH handshake with " + ep + " failed: " + err.Error(),
			Cause: "something answers on the port but does not speak SSH (a proxy?), or drops the connection",
			Fix:   apierr.FirstHint(err, "check the endpoint (--ssh-endpoint or BBKEY_SSH_ENDPOINT, now "+ep+")")}
	}
	return Result{Status: OK, Summary: fmt.Sprintf("%s presented %s %s, pinned for %s", ep, key.Type(), ssh.FingerprintSHA256(key), pins.Alias)}
}

func checkRetiredHostKeys(_ context.Context, e *Env, _ Deps) Result {
	path := filepath.Join(e.Paths.SSHDir, "known_hosts")
	stale, err := hostkeys.FindRetired(path)
	if err != nil {
		return Result{Status: Warn, Summary: "cannot read " + path + ": " + err.Error()}
	}
	if len(stale) == 0 {
		return Result{Status: OK, Summary: "no host key Bitbucket retired in 2023 in " + path}
	}
	var details []string
	for _, s := range stale {
		details = append(details, s.String())
	}
	summary := hostkeys.StaleError(stale).Error()
	return Result{Status: Fail, Summary: summary, Details: details,
		Cause: "ssh to bitbucket.org without bbkey's config stops with REMOTE HOST IDENTIFICATION HAS CHANGED",
		Fix:   "run: " + strings.Join(hostkeys.FixCommands(stale), " && ") + " (or bbkey doctor --fix, which removes only those lines and keeps a backup)",
		fixes: []*Fix{retiredFix(e, path)}}
}

// retiredFix removes the lines pinning retired keys from the user's known_hosts, after
// a backup copy beside it. Unlike ssh-keygen -R it leaves every other entry for the host.
func retiredFix(e *Env, path string) *Fix {
	return &Fix{Key: "retired-host-keys", Description: "remove the retired Bitbucket host keys from " + path + " (after a backup copy)",
		apply: func(context.Context) ([]string, error) {
			target, err := fsutil.ResolveTarget(path)
			if err != nil {
				return nil, err
			}
			data, err := os.ReadFile(target)
			if err != nil {
				return nil, err
			}
			stale, err := hostkeys.ScanRetired(bytes.NewReader(data), path, hostkeys.RetiredKeys)
			if err != nil || len(stale) == 0 {
				return nil, err
			}
			drop := map[int]bool{}
			for _, s := range stale {
				drop[s.Line] = true
			}
			var out bytes.Buffer
			n := 0
			for l := range bytes.Lines(data) {
				n++
				if !drop[n] {
					out.Write(l)
				}
			}
			backup, err := remote.WriteBackup(target, data, e.Now())
			if err != nil {
				return nil, err
			}
			if err := fsutil.WriteFileAtomic(target, out.Bytes(), 0o600); err != nil {
				return []string{backup}, err
			}
			return []string{path, backup}, nil
		}}
}
