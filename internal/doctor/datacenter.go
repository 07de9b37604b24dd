package doctor

// The checks of the Bitbucket Data Center identities of a machine: for each server bbkey's
// state records keys on (and the selected one), the token, the host key the server's own
// HTTPS answer vouches for against the pinned one, the Host block ssh resolves, and a
// proof over SSH with each key. They report nothing on a machine without a server.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/hostkeys"
	"github.com/bbkey/bbkey/internal/identity"
	"github.com/bbkey/bbkey/internal/sshconfig"
	"github.com/bbkey/bbkey/internal/state"
)

// dcServer is what the checks learn of one server, once.
type dcServer struct {
	URL string
	// Entry is the server's part of bbkey's state; nil for a selected server the state
	// does not know yet.
	Entry   *state.Server
	Backend backend.Backend
	Account *backend.Account
	// Err is why the server could not be asked (no token, refused, unreachable).
	Err error
}

func (e *Env) loadDCServers() []*dcServer {
	st, _ := e.state()
	var list []*dcServer
	var wg sync.WaitGroup
	for _, u := range e.knownServers() {
		s := &dcServer{URL: u}
		if st != nil {
			s.Entry = st.Servers[u]
		}
		if u != e.Settings.Server && (s.Entry == nil || len(s.Entry.Accounts)+len(s.Entry.AccessKeys) == 0) {
			continue
		}
		list = append(list, s)
		wg.Go(func() {
			if e.ServerBackend == nil {
				s.Err = errors.New("no Data Center support in this run")
				return
			}
			cctx, cancel := e.apiCtx()
			defer cancel()
			b, err := e.ServerBackend(cctx, u)
			if err != nil {
				s.Err = err
				return
			}
			s.Backend = b
			s.Account, s.Err = b.Whoami(cctx)
		})
	}
	wg.Wait()
	return list
}

func checkDCToken(_ context.Context, e *Env, _ Deps) Result {
	var fs []finding
	for _, s := range e.dc() {
		login := "bbkey auth login --server " + s.URL
		switch {
		case s.Err != nil:
			fs = append(fs, finding{Fail, fmt.Sprintf("%s: %v", s.URL, s.Err),
				apierr.FirstHint(s.Err, "without a token bbkey cannot look at, add or rotate keys on the server (git over SSH does not need it)"),
				login})
		case s.Account.Service && s.Entry != nil && len(s.Entry.Accounts) > 0:
			fs = append(fs, finding{Warn, fmt.Sprintf("%s: the token is a project or repository token (service user %s): it cannot see your own SSH keys", s.URL, s.Account.Nickname),
				"setup and rotate of your own key need a personal HTTP access token",
				"make a personal HTTP access token (profile picture → Manage account → HTTP access tokens), then: " + login})
		default:
			fs = append(fs, finding{OK, fmt.Sprintf("%s: %s", s.URL, s.Account.Display()), "", ""})
		}
	}
	return fold(fs, "every Data Center server accepts its token")
}

func checkDCHostKey(ctx context.Context, e *Env, _ Deps) Result {
	var fs []finding
	for _, s := range e.dc() {
		fs = append(fs, dcHostKey(ctx, s))
	}
	return fold(fs, "each Data Center server's pinned host key is the one its settings vouch for")
}

// dcHostKey compares the host key pinned for a server with the one its settings vouch for.
func dcHostKey(ctx context.Context, s *dcServer) finding {
	setup := "bbkey setup --server " + s.URL
	switch {
	case s.Entry == nil:
		return finding{Skipped, s.URL + ": no key on this server yet", "", ""}
	case s.Backend == nil:
		return finding{Skipped, s.URL + ": the server could not be asked", "", ""}
	}
	pinned, err := identity.ServerPins(s.Entry)
	if err != nil || len(pinned.Keys) == 0 {
		return finding{Fail, fmt.Sprintf("%s: no host key is pinned for %s", s.URL, s.Entry.SSHHost),
			"ssh refuses a host it has no pinned key for (StrictHostKeyChecking yes)", setup}
	}
	cur, err := s.Backend.SSH(ctx)
	var he *backend.HostKeyError
	switch {
	case errors.As(err, &he) && he.Err == nil:
		return finding{Fail, fmt.Sprintf("%s: the SSH server presents %s, which is not the key the server's HTTPS settings (GET /rest/ssh/latest/settings) name (%s)", s.URL, strings.Join(he.Seen, " and "), he.Fingerprint),
			"something between you and the server answers SSH in its place, or its host key changed without its settings",
			"do not trust it: ask the server's administrators which host key is right"}
	case err != nil:
		return finding{Fail, fmt.Sprintf("%s: %v", s.URL, err), "", apierr.FirstHint(err, "bbkey doctor --debug")}
	}
	now, was := hostkeys.Fingerprints(cur.Pins.Keys), hostkeys.Fingerprints(pinned.Keys)
	if len(now) == 0 || slices.ContainsFunc(now, func(fp string) bool { return !slices.Contains(was, fp) }) {
		return finding{Fail, fmt.Sprintf("%s: the server now vouches for %s; bbkey pinned %s", s.URL, strings.Join(now, ", "), strings.Join(was, ", ")),
			"the server's host key changed since setup pinned it (ssh will refuse it)",
			"confirm the change with the server's administrators, then: " + setup}
	}
	if cur.Host != s.Entry.SSHHost || cur.Port != s.Entry.SSHPort {
		return finding{Warn, fmt.Sprintf("%s: its SSH settings now name %s, bbkey recorded %s", s.URL, net.JoinHostPort(cur.Host, strconv.Itoa(cur.Port)), net.JoinHostPort(s.Entry.SSHHost, strconv.Itoa(s.Entry.SSHPort))),
			"remotes and the Host block still use the old SSH address", setup}
	}
	return finding{OK, fmt.Sprintf("%s: %s pinned for %s, as its settings say", s.URL, strings.Join(was, ", "), s.Entry.SSHHost), "", ""}
}

func checkDCHostBlock(ctx context.Context, e *Env, _ Deps) Result {
	var fs []finding
	servers := e.dc()
	if !slices.ContainsFunc(servers, func(s *dcServer) bool { return s.Entry != nil }) {
		return fold(nil, "")
	}
	sr, err := e.syncResult()
	if err != nil {
		return Result{Status: Fail, Summary: "cannot work out bbkey's ssh config: " + err.Error()}
	}
	if _, err := exec.LookPath("ssh"); err != nil {
		return noSSH
	}
	for _, s := range servers {
		if s.Entry != nil {
			fs = append(fs, dcHostBlock(ctx, e, s, sr))
		}
	}
	r := fold(fs, "ssh resolves each Data Center server's Host block as bbkey wrote it")
	if slices.ContainsFunc(fs, func(f finding) bool { return f.fix == syncHint }) {
		r.fixes = []*Fix{syncFix(e)}
	}
	return r
}

const syncHint = "bbkey doctor --fix (rewrites bbkey's ssh config from its state)"

// dcHostBlock compares what ssh -G resolves for a server's Host block with what bbkey
// wrote, and bbkey's files with its state.
func dcHostBlock(ctx context.Context, e *Env, s *dcServer, sr identity.Result) finding {
	want, ok := sshconfig.Find(sr.Blocks, s.Entry.SSHHost)
	if !ok {
		return finding{Fail, fmt.Sprintf("%s: no Host block for %s", s.URL, s.Entry.SSHHost), "ssh would not use bbkey's key, port or pinned host key for the server", syncHint}
	}
	got, diffs, err := resolveDiffs(ctx, e, want)
	if err != nil {
		return finding{Fail, fmt.Sprintf("%s: %v", s.URL, err), "ssh cannot read its configuration", "fix the line ssh names above in your ssh config"}
	}
	drift := changedFile(sr, hostkeys.Path(e.Paths.SSHDir)) || changedFile(sr, sshconfig.FilesIn(e.Paths.SSHDir).Managed)
	switch {
	case len(diffs) > 0 && drift:
		return finding{Fail, fmt.Sprintf("%s: ssh -G %s resolves %s: bbkey's ssh config or pinned keys differ from its state", s.URL, want.Alias, strings.Join(diffs, ", ")),
			"bbkey's files were edited by hand, or written by an older bbkey", syncHint}
	case len(diffs) > 0:
		return finding{Fail, fmt.Sprintf("%s: ssh -G %s resolves %s", s.URL, want.Alias, strings.Join(diffs, ", ")), overridden, overrideFix(want.Alias)}
	case drift:
		return finding{Warn, fmt.Sprintf("%s: bbkey's ssh config or pinned keys differ from its state", s.URL), "edited by hand, or written by an older bbkey", syncHint}
	}
	return finding{OK, fmt.Sprintf("%s: ssh -G %s → %s:%d with %s", s.URL, want.Alias, got.HostName, got.Port, got.IdentityFile), "", ""}
}

func checkDCProof(ctx context.Context, e *Env, deps Deps) Result {
	if d, bad := deps.failed("dc-host-key"); bad && d.Status == Fail {
		return skip(d)
	}
	var fs []finding
	all, _ := e.keys()
	for _, s := range e.dc() {
		mks := slices.DeleteFunc(slices.Clone(all), func(k managedKey) bool { return k.Server != s.URL || k.Fingerprint == "" })
		if len(mks) == 0 {
			continue
		}
		pins, err := identity.ServerPins(s.Entry)
		if err != nil || len(pins.Keys) == 0 {
			fs = append(fs, finding{Skipped, s.URL + ": no pinned host key", "", ""})
			continue
		}
		for _, k := range mks {
			fs = append(fs, proveKey(ctx, e, k, s.Entry.SSHEndpoint, pins))
		}
	}
	return fold(fs, "every key bbkey holds on a Data Center server works over SSH")
}
