package doctor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/bbkey/bbkey/agent"
	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/credstore"
	"github.com/bbkey/bbkey/internal/gitrun"
	"github.com/bbkey/bbkey/internal/identity"
	"github.com/bbkey/bbkey/internal/inventory"
	"github.com/bbkey/bbkey/internal/remote"
	"github.com/bbkey/bbkey/internal/secret"
	"github.com/bbkey/bbkey/internal/settings"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/keys"
)

// Timeouts bound the checks by kind: Network each DNS lookup, TCP dial and host-key
// handshake; API the Bitbucket REST calls of a check; Proof the SSH proof of one key;
// Local the checks that only read files or ask local programs.
type Timeouts struct {
	Network, API, Proof, Local time.Duration
}

// DefaultTimeouts keep a run within seconds with the network down.
var DefaultTimeouts = Timeouts{Network: 3 * time.Second, API: 5 * time.Second, Proof: 8 * time.Second, Local: 5 * time.Second}

// Env is everything the checks read, and what the fixes may change. Every side effect
// comes in through it, so tests run the checks against a throw-away home.
type Env struct {
	Settings settings.Settings
	Paths    settings.Paths
	Now      func() time.Time
	Getenv   func(string) string
	Git      gitrun.Runner
	// WorkDir is the directory whose repository's remotes are checked.
	WorkDir string
	// GOOS selects the operating system's checks ("": runtime.GOOS).
	GOOS string

	// Credential and Cloud: the Cloud credential and its Backend (the Factory's).
	Credential func(context.Context) (settings.ResolvedCredential, error)
	Cloud      func(bbapi.Credential) (backend.Backend, error)
	// ServerBackend builds a Data Center server's Backend with its token; nil leaves
	// the servers unchecked.
	ServerBackend func(ctx context.Context, server string) (backend.Backend, error)
	// CredStore opens the secret store (never a new clear-text file), to read when the
	// stored credential was saved, or why there is none.
	CredStore func(ctx context.Context) (credstore.Store, error)
	Agent     func() (agent.Agent, error)
	// AgentService reads the Windows ssh-agent service's state (nil: agent.QueryService).
	AgentService func() (agent.ServiceState, error)
	// Passphrase unlocks keys for the proof without asking (file or environment);
	// FixPassphrase for --fix, which may ask at the terminal.
	Passphrase, FixPassphrase secret.Source
	// PersistSettings records the run's settings when a fix rewrites the ssh config, so
	// a switch of endpoint (--ssh-endpoint with --fix) sticks.
	PersistSettings func(settings.Settings) (string, error)

	// Dial and LookupHost default to the net package's.
	Dial       func(ctx context.Context, network, addr string) (net.Conn, error)
	LookupHost func(ctx context.Context, host string) ([]string, error)
	// Fallback is the endpoint to try when the configured one is blocked
	// (altssh.bitbucket.org:443 for Bitbucket's default endpoint); "" probes none.
	Fallback string
	Timeouts Timeouts
	// Trace receives --debug lines of the SSH handshakes (never secrets).
	Trace io.Writer

	ctx        context.Context
	state      func() (*state.State, error)
	keys       func() ([]managedKey, error)
	user       func() (userInfo, error)
	agentConn  func() (agentInfo, error)
	plan       func() (*remote.Plan, error)
	syncResult func() (identity.Result, error)
	dc         func() []*dcServer
}

// managedKey is a key bbkey's state records, or, with an empty state, one of bbkey's key
// files found in the ssh directory (Unrecorded: the state was lost or never written).
type managedKey struct {
	inventory.Recorded
	Unrecorded bool
	// encrypted and fileErr are read from the private key once (keys.NeedsPassphrase).
	encrypted bool
	fileErr   error
}

func (k managedKey) what() string {
	s := "account key " + k.Name
	if k.Kind == keys.KindAccess {
		s = "access key " + k.Name
	}
	if k.Server != "" {
		s += " on " + k.Server
	}
	return s
}

type agentInfo struct {
	Agent agent.Agent
	IDs   []agent.Identity
}

type userInfo struct {
	Cred  settings.ResolvedCredential
	Cloud backend.Backend
	User  *backend.Account
}

// apiCtx bounds the shared Bitbucket calls by the API timeout, whichever check asks
// first.
func (e *Env) apiCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(e.ctx, e.Timeouts.API)
}

// init sets the defaults and the lazily computed facts several checks share.
func (e *Env) init(ctx context.Context) {
	e.ctx = ctx
	if e.Timeouts == (Timeouts{}) {
		e.Timeouts = DefaultTimeouts
	}
	if e.Dial == nil {
		var d net.Dialer
		e.Dial = d.DialContext
	}
	if e.LookupHost == nil {
		e.LookupHost = net.DefaultResolver.LookupHost
	}
	e.state = sync.OnceValues(func() (*state.State, error) {
		return state.Dir{Path: e.Paths.ConfigDir, Now: e.Now}.Load()
	})
	e.keys = sync.OnceValues(e.loadKeys)
	e.user = sync.OnceValues(func() (userInfo, error) {
		var ui userInfo
		if e.Credential == nil {
			return ui, settings.ErrNoCredential
		}
		cctx, cancel := e.apiCtx()
		defer cancel()
		var err error
		if ui.Cred, err = e.Credential(cctx); err != nil {
			return ui, err
		}
		if ui.Cloud, err = e.Cloud(ui.Cred.Credential); err != nil {
			return ui, err
		}
		ui.User, err = ui.Cloud.Whoami(cctx)
		return ui, err
	})
	e.agentConn = sync.OnceValues(func() (agentInfo, error) {
		if e.Agent == nil {
			return agentInfo{}, agent.ErrNoAgent
		}
		// A wedged agent must fail the agent check, well inside its timeout, and not hold
		// up the checks that only try it first (the proof).
		ch := make(chan agentInfo, 1)
		var err error
		go func() {
			var ai agentInfo
			if ai.Agent, err = e.Agent(); err == nil {
				ai.IDs, err = ai.Agent.List()
			}
			ch <- ai
		}()
		select {
		case ai := <-ch:
			return ai, err
		case <-time.After(e.Timeouts.Local / 2):
			return agentInfo{}, fmt.Errorf("%s: no answer within %s", cmp.Or(e.Getenv("SSH_AUTH_SOCK"), "the agent"), e.Timeouts.Local/2)
		}
	})
	e.plan = sync.OnceValues(func() (*remote.Plan, error) { return planHere(e.ctx, e) })
	e.dc = sync.OnceValue(e.loadDCServers)
	e.syncResult = sync.OnceValues(func() (identity.Result, error) {
		st, err := e.state()
		if err != nil {
			return identity.Result{}, err
		}
		return identity.Regenerate(e.ctx, e.Settings, e.Paths.SSHDir, st, true)
	})
}

var errNoRepo = errors.New("not in a git repository")

// scrubPlans plan the scrub of the Bitbucket hosts whose stored passwords are leaked
// secrets: Cloud's, and each Data Center server's this machine knows.
func (e *Env) scrubPlans(ctx context.Context) ([]*remote.ScrubPlan, error) {
	if e.Git == nil {
		return nil, errors.New("git is not available")
	}
	targets := []remote.ScrubTarget{remote.CloudScrub}
	for _, s := range e.knownServers() {
		targets = append(targets, remote.DataCenterScrub(s))
	}
	var out []*remote.ScrubPlan
	for _, t := range targets {
		sp, err := remote.PlanScrubFor(ctx, e.Git, e.Paths.Home, e.Getenv("XDG_CONFIG_HOME"), t)
		if err != nil {
			return nil, err
		}
		out = append(out, sp)
	}
	return out, nil
}

// knownServers are the Data Center servers this machine uses: the selected one and those
// the state records keys on, sorted.
func (e *Env) knownServers() []string {
	var servers []string
	if st, err := e.state(); err == nil {
		servers = st.ServerURLs()
	}
	if s := e.Settings.Server; s != "" && s != settings.CloudServer {
		servers = append(servers, s)
	}
	slices.Sort(servers)
	return slices.Compact(servers)
}

// loadKeys lists the keys the state records, on Cloud and each Data Center server; with
// an empty state, bbkey's key files in the ssh directory stand in.
func (e *Env) loadKeys() ([]managedKey, error) {
	st, err := e.state()
	if err != nil {
		return nil, err
	}
	var out []managedKey
	for _, r := range inventory.RecordedKeys(st) {
		out = append(out, managedKey{Recorded: r})
	}
	if len(out) == 0 {
		local, err := keys.Local(e.Paths.SSHDir)
		if err != nil {
			return nil, err
		}
		for _, lk := range local {
			kind, name, _ := keys.ParseFileName(filepath.Base(lk.Path))
			mk := managedKey{Recorded: inventory.Recorded{Kind: kind, Name: name, Path: lk.Path}, Unrecorded: true}
			if lk.Key != nil {
				mk.Fingerprint = lk.Key.Fingerprint
			}
			out = append(out, mk)
		}
	}
	for i := range out {
		out[i].encrypted, out[i].fileErr = keys.NeedsPassphrase(out[i].Path)
	}
	return out, nil
}

// cloudKeys are the keys of e.keys() on Bitbucket Cloud (and unrecorded key files), for
// the checks that ask Cloud.
func (e *Env) cloudKeys() ([]managedKey, error) {
	mks, err := e.keys()
	return slices.DeleteFunc(slices.Clone(mks), func(k managedKey) bool { return k.Server != "" }), err
}

func (e *Env) goos() string { return cmp.Or(e.GOOS, runtime.GOOS) }
