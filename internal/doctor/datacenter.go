package doctor

// The checks of the Bitbucket Data Center identities of a machine: for each server bbkey's
// state records keys on (and the selected one), the token, the host key the server's own
// HTTPS answer vouches for against the pinned one, the Host block ssh resolves, and a
// proof over SSH with each key. They report nothing on a machine without a server.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/hostkeys"
	"github.com/bbkey/bbkey/internal/identity"
	"github.com/bbkey/bbkey/internal/sshconfig"
	"github.com/bbkey/bbkey/internal/sshproof"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/keys"
)

// DataCenterChecks are the checks of the Data Center servers, in report order.
func DataCenterChecks(t Timeouts) []Check {
	if t == (Timeouts{}) {
		t = DefaultTimeouts
	}
	return []Check{
		{ID: "dc-token", Title: "Data Center token", Timeout: 2 * t.API, Run: checkDCToken},
		{ID: "dc-host-key", Title: "Data Center host key", Deps: []string{"dc-token"}, Timeout: t.API + t.Network, Run: checkDCHostKey},
		{ID: "dc-ssh-host", Title: "Data Center Host block", Run: checkDCHostBlock},
		{ID: "dc-proof", Title: "Data Center SSH proof", Deps: []string{"dc-host-key"}, Timeout: 2 * t.Proof, Run: checkDCProof},
	}
}

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

// dcServers are the servers to check: those the state records keys on, and the selected
// one, by URL.
func (e *Env) dcServers() []*dcServer { return e.dc() }

func (e *Env) loadDCServers() []*dcServer {
	st, _ := e.state()
	urls := map[string]bool{}
	if st != nil {
		for u, v := range st.Servers {
			if len(v.Accounts)+len(v.AccessKeys) > 0 {
				urls[u] = true
			}
		}
	}
	if e.Settings.Server != "" {
		urls[e.Settings.Server] = true
	}
	var list []*dcServer
	var wg sync.WaitGroup
	for _, u := range slices.Sorted(maps.Keys(urls)) {
		s := &dcServer{URL: u}
		if st != nil {
			s.Entry = st.Servers[u]
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

// dcResult folds per-server findings into one result: the worst status wins, each
// server's line is a detail.
type dcFinding struct {
	status Status
	line   string
	cause  string
	fix    string
}

func dcFold(fs []dcFinding, okSummary string) Result {
	if len(fs) == 0 {
		return Result{Status: notApplicable}
	}
	r := Result{Status: OK}
	var bad, details, causes, fixes []string
	rank := map[Status]int{OK: 0, Skipped: 1, Warn: 2, Fail: 3}
	allSkipped := true
	for _, f := range fs {
		if f.status != Skipped {
			allSkipped = false
		}
		if rank[f.status] > rank[r.Status] && f.status != Skipped {
			r.Status = f.status
		}
		details = append(details, f.line)
		if f.status == Warn || f.status == Fail {
			bad = append(bad, f.line)
			causes = appendOnce(causes, f.cause)
			fixes = appendOnce(fixes, f.fix)
		}
	}
	if allSkipped {
		return Result{Status: Skipped, Summary: strings.Join(details, "; ")}
	}
	if len(bad) > 0 {
		r.Summary = strings.Join(bad, "; ")
	} else {
		r.Summary = okSummary
	}
	r.Details = details
	r.Cause = strings.Join(slices.DeleteFunc(causes, func(s string) bool { return s == "" }), "; ")
	r.Fix = strings.Join(slices.DeleteFunc(fixes, func(s string) bool { return s == "" }), "; ")
	return r
}

func checkDCToken(_ context.Context, e *Env, _ Deps) Result {
	var fs []dcFinding
	for _, s := range e.dcServers() {
		login := "bbkey auth login --server " + s.URL
		switch {
		case s.Err != nil:
			fs = append(fs, dcFinding{Fail, fmt.Sprintf("%s: %v", s.URL, s.Err),
				apierr.FirstHint(s.Err, "without a token bbkey cannot look at, add or rotate keys on the server (git over SSH does not need it)"),
				login})
		case s.Account.Service && s.Entry != nil && len(s.Entry.Accounts) > 0:
			fs = append(fs, dcFinding{Warn, fmt.Sprintf("%s: the token is a project or repository token (service user %s): it cannot see your own SSH keys", s.URL, s.Account.Nickname),
				"setup and rotate of your own key need a personal HTTP access token",
				"make a personal HTTP access token (profile picture → Manage account → HTTP access tokens), then: " + login})
		default:
			fs = append(fs, dcFinding{OK, fmt.Sprintf("%s: %s", s.URL, s.Account.Display()), "", ""})
		}
	}
	return dcFold(fs, "every Data Center server accepts its token")
}

func checkDCHostKey(ctx context.Context, e *Env, _ Deps) Result {
	var fs []dcFinding
	for _, s := range e.dcServers() {
		setup := "bbkey setup --server " + s.URL
		switch {
		case s.Entry == nil:
			fs = append(fs, dcFinding{Skipped, s.URL + ": no key on this server yet", "", ""})
			continue
		case s.Backend == nil:
			fs = append(fs, dcFinding{Skipped, s.URL + ": skipped, the server could not be asked", "", ""})
			continue
		}
		pinned, err := identity.ServerPins(s.Entry)
		if err != nil || len(pinned.Keys) == 0 {
			fs = append(fs, dcFinding{Fail, fmt.Sprintf("%s: no host key is pinned for %s", s.URL, s.Entry.SSHHost),
				"ssh refuses a host it has no pinned key for (StrictHostKeyChecking yes)", setup})
			continue
		}
		cur, err := s.Backend.SSH(ctx)
		var he *backend.HostKeyError
		switch {
		case errors.As(err, &he) && he.Err == nil:
			fs = append(fs, dcFinding{Fail, fmt.Sprintf("%s: the SSH server presents %s, which is not the key the server's HTTPS settings (GET /rest/ssh/latest/settings) name (%s)", s.URL, strings.Join(he.Seen, " and "), he.Fingerprint),
				"something between you and the server answers SSH in its place, or its host key changed without its settings",
				"do not trust it: ask the server's administrators which host key is right"})
			continue
		case err != nil:
			fs = append(fs, dcFinding{Fail, fmt.Sprintf("%s: %v", s.URL, err), "", apierr.FirstHint(err, "bbkey doctor --debug")})
			continue
		}
		if !sameKeys(cur.Pins.Keys, pinned.Keys) {
			fs = append(fs, dcFinding{Fail, fmt.Sprintf("%s: the server now vouches for %s; bbkey pinned %s", s.URL, strings.Join(hostkeys.Fingerprints(cur.Pins.Keys), ", "), strings.Join(hostkeys.Fingerprints(pinned.Keys), ", ")),
				"the server's host key changed since setup pinned it (ssh will refuse it)",
				"confirm the change with the server's administrators, then: " + setup})
			continue
		}
		if cur.Host != s.Entry.SSHHost || cur.Port != s.Entry.SSHPort {
			fs = append(fs, dcFinding{Warn, fmt.Sprintf("%s: its SSH settings now name %s, bbkey recorded %s", s.URL, net.JoinHostPort(cur.Host, strconv.Itoa(cur.Port)), net.JoinHostPort(s.Entry.SSHHost, strconv.Itoa(s.Entry.SSHPort))),
				"remotes and the Host block still use the old SSH address", setup})
			continue
		}
		fs = append(fs, dcFinding{OK, fmt.Sprintf("%s: %s pinned for %s, as its settings say", s.URL, strings.Join(hostkeys.Fingerprints(pinned.Keys), ", "), s.Entry.SSHHost), "", ""})
	}
	return dcFold(fs, "each Data Center server's pinned host key is the one its settings vouch for")
}

// sameKeys reports whether every key of a is among b.
func sameKeys(a, b []ssh.PublicKey) bool {
	if len(a) == 0 {
		return false
	}
	for _, k := range a {
		if !slices.ContainsFunc(b, func(p ssh.PublicKey) bool { return bytes.Equal(p.Marshal(), k.Marshal()) }) {
			return false
		}
	}
	return true
}

func checkDCHostBlock(ctx context.Context, e *Env, _ Deps) Result {
	var fs []dcFinding
	servers := e.dcServers()
	if !slices.ContainsFunc(servers, func(s *dcServer) bool { return s.Entry != nil }) {
		return dcFold(nil, "")
	}
	sr, err := e.syncResult()
	if err != nil {
		return Result{Status: Fail, Summary: "cannot work out bbkey's ssh config: " + err.Error()}
	}
	if _, err := e.sshBinary(); err != nil {
		return Result{Status: Fail, Summary: "ssh is not installed or not on PATH", Cause: "git runs ssh for SSH remotes", Fix: "install the OpenSSH client"}
	}
	sync := "bbkey doctor --fix (rewrites bbkey's ssh config from its state)"
	for _, s := range servers {
		if s.Entry == nil {
			continue
		}
		want, ok := sshconfig.Find(sr.Blocks, s.Entry.SSHHost)
		if !ok {
			fs = append(fs, dcFinding{Fail, fmt.Sprintf("%s: no Host block for %s", s.URL, s.Entry.SSHHost), "ssh would not use bbkey's key, port or pinned host key for the server", sync})
			continue
		}
		got, err := runSSHG(ctx, e, want.Alias)
		if err != nil {
			fs = append(fs, dcFinding{Fail, fmt.Sprintf("%s: %v", s.URL, err), "ssh cannot read its configuration", "fix the line ssh names above in your ssh config"})
			continue
		}
		var diffs []string
		if !strings.EqualFold(got.HostName, want.HostName) {
			diffs = append(diffs, fmt.Sprintf("HostName %s (bbkey wrote %s)", got.HostName, want.HostName))
		}
		if got.Port != want.Port {
			diffs = append(diffs, fmt.Sprintf("Port %d (bbkey wrote %d)", got.Port, want.Port))
		}
		if !samePath(got.IdentityFile, want.IdentityFile, e.Paths.Home) {
			diffs = append(diffs, fmt.Sprintf("IdentityFile %s first (bbkey wrote %s)", got.IdentityFile, want.IdentityFile))
		}
		if !strings.EqualFold(got.HostKeyAlias, s.Entry.SSHHost) {
			diffs = append(diffs, fmt.Sprintf("HostKeyAlias %q (bbkey wrote %s)", got.HostKeyAlias, s.Entry.SSHHost))
		}
		drift := changedFile(sr, hostkeys.Path(e.Paths.SSHDir)) || changedFile(sr, sshconfig.FilesIn(e.Paths.SSHDir).Managed)
		switch {
		case len(diffs) > 0 && drift:
			fs = append(fs, dcFinding{Fail, fmt.Sprintf("%s: ssh -G %s resolves %s: bbkey's ssh config or pinned keys differ from its state", s.URL, want.Alias, strings.Join(diffs, ", ")),
				"bbkey's files were edited by hand, or written by an older bbkey", sync})
			continue
		case len(diffs) > 0:
			fs = append(fs, dcFinding{Fail, fmt.Sprintf("%s: ssh -G %s resolves %s", s.URL, want.Alias, strings.Join(diffs, ", ")),
				"another setting wins over bbkey's: a Match block, a file ssh reads first, or an option given to ssh itself (GIT_SSH_COMMAND, core.sshCommand)",
				fmt.Sprintf("find where it comes from with: ssh -v -G %s 2>&1 | grep -i -e 'reading configuration' -e 'applying options'", want.Alias)})
			continue
		case drift:
			fs = append(fs, dcFinding{Warn, fmt.Sprintf("%s: bbkey's ssh config or pinned keys differ from its state", s.URL), "edited by hand, or written by an older bbkey", sync})
			continue
		}
		fs = append(fs, dcFinding{OK, fmt.Sprintf("%s: ssh -G %s → %s:%d with %s", s.URL, want.Alias, got.HostName, got.Port, got.IdentityFile), "", ""})
	}
	r := dcFold(fs, "ssh resolves each Data Center server's Host block as bbkey wrote it")
	if slices.ContainsFunc(fs, func(f dcFinding) bool { return f.fix == sync }) {
		r.fixes = []*Fix{syncFix(e)}
	}
	return r
}

func checkDCProof(ctx context.Context, e *Env, deps Deps) Result {
	if d, bad := deps.failed("dc-host-key"); bad && d.Status == Fail {
		return skip(d)
	}
	var fs []dcFinding
	all, _ := e.keys()
	for _, s := range e.dcServers() {
		mks := slices.DeleteFunc(slices.Clone(all), func(k managedKey) bool { return k.Server != s.URL })
		if len(mks) == 0 {
			continue
		}
		pins, err := identity.ServerPins(s.Entry)
		if err != nil || len(pins.Keys) == 0 {
			fs = append(fs, dcFinding{Skipped, s.URL + ": skipped, no pinned host key", "", ""})
			continue
		}
		for _, k := range mks {
			if k.Fingerprint == "" {
				continue
			}
			signer, wipe, err := signerFor(e, k)
			if err != nil {
				fs = append(fs, dcFinding{Skipped, fmt.Sprintf("%s: skipped, %v", s.URL, err), "", ""})
				continue
			}
			res, err := sshproof.Prove(ctx, sshproof.Options{
				Endpoint: s.Entry.SSHEndpoint, HostKeyAlias: s.Entry.SSHHost,
				HostKeyCallback: pins.HostKeyCallback(s.Entry.SSHEndpoint), HostKeyAlgorithms: hostkeys.HostKeyAlgorithms(pins.Keys),
				Signers: []ssh.Signer{signer}, Timeout: e.Timeouts.Proof, Dial: e.Dial, Trace: e.Trace,
			})
			wipe()
			var re *sshproof.RefusedError
			switch {
			case errors.As(err, &re):
				fix := "bbkey list --server " + s.URL + " (shows where the key is registered); bbkey setup --server " + s.URL + " --name " + k.Name + " adds it again"
				if k.Kind == keys.KindAccess {
					fix = "bbkey list --server " + s.URL + " --repo PROJ/slug (shows where the key is registered)"
				}
				fs = append(fs, dcFinding{Fail, fmt.Sprintf("%s (%s) refused %s (%s)", s.URL, s.Entry.SSHEndpoint, k.what(), k.Fingerprint),
					"the server does not accept the key: it is not registered, expired, or was deleted", fix})
			case err != nil:
				fs = append(fs, dcFinding{Fail, fmt.Sprintf("%s: %s: %v", s.URL, k.what(), err), "", firstHint(err, "bbkey doctor --debug")})
			default:
				fs = append(fs, dcFinding{OK, fmt.Sprintf("%s: %s: %s", s.URL, k.what(), firstLine(res.Greeting)), "", ""})
			}
		}
	}
	return dcFold(fs, "every key bbkey holds on a Data Center server works over SSH")
}
