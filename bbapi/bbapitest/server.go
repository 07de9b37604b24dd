package bbapitest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// Seeded defaults: the account, workspace, project and repositories every Server starts
// with.
const (
	DefaultEmail       = "ada@example.com"
	DefaultNickname    = "ada"
	DefaultDisplayName = "Ada Lovelace"
	DefaultAccountID   = "712020:a0a0a0a0-ada0-4ada-8ada-000000000001"
	DefaultUUID        = "{a0a0a0a0-ada0-4ada-8ada-00000000ada0}"
	DefaultWorkspace   = "acme"
	DefaultProject     = "OPS"
)

// DefaultRepos are the repositories of DefaultWorkspace, each a bare git repository with
// one commit on main.
var DefaultRepos = []string{"api", "web", "infra"}

// AllScopes are the API-token scopes bbkey needs (API.md §2); the default token holds them.
var AllScopes = []string{
	"read:user:bitbucket", "read:ssh-key:bitbucket", "write:ssh-key:bitbucket",
	"delete:ssh-key:bitbucket", "admin:repository:bitbucket", "admin:project:bitbucket",
	"read:repository:bitbucket", "read:workspace:bitbucket", "read:project:bitbucket",
}

// DefaultRateLimit is Bitbucket's budget of authenticated requests to /2.0/repositories/*
// per user and rolling hour.
const DefaultRateLimit = 1000

// OAuthTokenLifetime is how long an OAuth access token lives (Bitbucket: two hours).
const OAuthTokenLifetime = 2 * time.Hour

// Option configures a Server.
type Option func(*config)

type config struct {
	specTB          testing.TB
	keyCooldown     time.Duration
	refuseTokenKeys bool
	noSeed          bool
	clock           func() time.Time
	dir             string
	latency         time.Duration
	datacenter      bool   // WithDataCenter
	dcSSHHost       string // WithDataCenterSSHHost
}

// WithSpecValidation validates every request the server receives and every response it
// sends against Bitbucket's OpenAPI spec (the subset in testdata), failing tb on a
// violation. Injected faults are not validated: they are wrong on purpose.
func WithSpecValidation(tb testing.TB) Option { return func(c *config) { c.specTB = tb } }

// WithDeletedKeyCooldown makes a deleted account key impossible to add again (to any
// account) for d, as Bitbucket may do for up to 30 days. Off by default.
func WithDeletedKeyCooldown(d time.Duration) Option { return func(c *config) { c.keyCooldown = d } }

// WithAccessTokensRefusedOnDeployKeys makes access tokens get 403 "This API is not
// accessible by this authentication mechanism" on the deploy-key endpoints, as one report
// (DrFaust92/terraform-provider-bitbucket#221) saw on the real service.
func WithAccessTokensRefusedOnDeployKeys() Option {
	return func(c *config) { c.refuseTokenKeys = true }
}

// WithoutSeed starts the server empty: no default user, token, workspace or repositories.
func WithoutSeed() Option { return func(c *config) { c.noSeed = true } }

// WithClock replaces the clock from the start (see SetClock).
func WithClock(now func() time.Time) Option { return func(c *config) { c.clock = now } }

// WithDir keeps the bare repositories and the host-key file in dir instead of a temporary
// directory removed by Close.
func WithDir(dir string) Option { return func(c *config) { c.dir = dir } }

// WithLatency delays every HTTP request by d (see SetLatency).
func WithLatency(d time.Duration) Option { return func(c *config) { c.latency = d } }

// Server is an in-memory Bitbucket Cloud: REST and OAuth over HTTP, git over SSH, both on
// loopback. All methods are safe for concurrent use.
type Server struct {
	cfg config

	httpLn  net.Listener
	httpSrv *http.Server
	sshLn   net.Listener
	sshCfg  *ssh.ServerConfig
	hostKey ssh.Signer
	dir     string
	ownDir  bool
	apiURL  string
	baseURL string

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed chan struct{}
	once   sync.Once

	spec *specValidator
	dc   *dcState // Data Center mode (WithDataCenter); nil for Cloud

	mu          sync.Mutex
	clock       atomic.Pointer[func() time.Time] // read without s.mu: now() runs under it and outside it
	latency     time.Duration
	users       map[string]*User // by account id
	tokens      map[string]*token
	consumers   map[string]*consumer
	refresh     map[string]string // refresh token -> consumer id
	workspaces  map[string]*workspace
	wsOrder     []string
	userKeys    []*UserKey
	keyBlobs    map[string]string // user key uuid -> wire-format public key
	deployBlobs map[int]string    // deploy key id -> wire-format public key
	deleted     map[string]time.Time
	nextID      int
	deniedSSH   map[string]bool // fingerprints refused over SSH
	onlySSH     map[string]bool // with DenySSHNewKeys: the only key blobs SSH accepts
	rateLimit   int
	rateLog     map[string][]time.Time
	faults      []*fault
	// reqMu guards requests and requestsGen alone: a handler writes its answer (and so
	// logs its status) while holding mu.
	reqMu    sync.Mutex
	requests []Request
	// requestsGen counts ResetRequests, so a request in flight does not write into a new log.
	requestsGen int
	rawConns    map[net.Conn]struct{}
	defaultTok  string
	hanging     int
}

// NewServer starts the emulator: REST and OAuth on 127.0.0.1:0, SSH on 127.0.0.1:0.
func NewServer(opts ...Option) (*Server, error) {
	s := &Server{
		users:       map[string]*User{},
		tokens:      map[string]*token{},
		consumers:   map[string]*consumer{},
		refresh:     map[string]string{},
		workspaces:  map[string]*workspace{},
		keyBlobs:    map[string]string{},
		deployBlobs: map[int]string{},
		deleted:     map[string]time.Time{},
		deniedSSH:   map[string]bool{},
		rateLimit:   DefaultRateLimit,
		rateLog:     map[string][]time.Time{},
		rawConns:    map[net.Conn]struct{}{},
		nextID:      1000,
		closed:      make(chan struct{}),
	}
	for _, o := range opts {
		o(&s.cfg)
	}
	clock := time.Now
	if s.cfg.clock != nil {
		clock = s.cfg.clock
	}
	s.clock.Store(&clock)
	s.latency = s.cfg.latency
	if s.cfg.datacenter {
		s.dc = newDCState()
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())

	if s.cfg.dir != "" {
		s.dir = s.cfg.dir
		if err := os.MkdirAll(s.dir, 0o700); err != nil {
			return nil, fmt.Errorf("bbapitest: %w", err)
		}
	} else {
		d, err := os.MkdirTemp("", "bbapitest-")
		if err != nil {
			return nil, fmt.Errorf("bbapitest: %w", err)
		}
		s.dir, s.ownDir = d, true
	}
	fail := func(err error) (*Server, error) {
		s.Close()
		return nil, fmt.Errorf("bbapitest: %w", err)
	}

	if s.cfg.specTB != nil {
		newValidator := newSpecValidator
		if s.dc != nil {
			newValidator = newDCSpecValidator
		}
		v, err := newValidator()
		if err != nil {
			return fail(err)
		}
		s.spec = v
	}

	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fail(err)
	}
	if s.hostKey, err = ssh.NewSignerFromKey(priv); err != nil {
		return fail(err)
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.hostKey.PublicKey()))) + " bbapitest-host-key\n"
	if err := os.WriteFile(s.HostKeyFile(), []byte(line), 0o644); err != nil {
		return fail(err)
	}

	if s.httpLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return fail(err)
	}
	s.baseURL = "http://" + s.httpLn.Addr().String()
	s.apiURL = s.baseURL + "/2.0"
	if s.dc != nil {
		s.apiURL = s.baseURL + "/rest"
	}
	s.httpSrv = &http.Server{
		Handler:           s.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return s.ctx },
	}
	if s.sshLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return fail(err)
	}
	s.sshCfg = s.newSSHConfig()

	if !s.cfg.noSeed {
		seed := s.seed
		if s.dc != nil {
			seed = s.dcSeed
		}
		if err := seed(); err != nil {
			return fail(err)
		}
	}

	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		_ = s.httpSrv.Serve(s.httpLn)
	}()
	go func() {
		defer s.wg.Done()
		s.serveSSH()
	}()
	return s, nil
}

// Start is NewServer for tests: it fails tb on error and closes the server when tb ends.
func Start(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	s, err := NewServer(opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Error(err)
		}
	})
	return s
}

func (s *Server) seed() error {
	if _, err := s.AddUser(User{
		AccountID: DefaultAccountID, UUID: DefaultUUID, DisplayName: DefaultDisplayName,
		Nickname: DefaultNickname, Email: DefaultEmail,
	}); err != nil {
		return err
	}
	tok, err := s.AddAPIToken(DefaultEmail, AllScopes...)
	if err != nil {
		return err
	}
	s.defaultTok = tok
	if err := s.AddWorkspace(DefaultWorkspace, "Acme", DefaultEmail); err != nil {
		return err
	}
	if err := s.AddProject(DefaultWorkspace, DefaultProject, "Operations"); err != nil {
		return err
	}
	for _, r := range DefaultRepos {
		if err := s.AddRepo(DefaultWorkspace, r, DefaultProject); err != nil {
			return err
		}
	}
	return nil
}

// Close stops both servers, drops every connection, ends running git processes, waits for
// its goroutines and removes its temporary directory.
func (s *Server) Close() error {
	var errs []error
	s.once.Do(func() {
		close(s.closed)
		s.cancel()
		if s.httpSrv != nil {
			errs = append(errs, ignoreClosed(s.httpSrv.Close()))
		} else if s.httpLn != nil {
			errs = append(errs, ignoreClosed(s.httpLn.Close()))
		}
		if s.sshLn != nil {
			errs = append(errs, ignoreClosed(s.sshLn.Close()))
		}
		s.mu.Lock()
		for c := range s.rawConns {
			_ = c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
		if s.ownDir {
			errs = append(errs, os.RemoveAll(s.dir))
		}
	})
	return errors.Join(errs...)
}

func ignoreClosed(err error) error {
	if err == nil || errors.Is(err, net.ErrClosed) || errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// APIURL is the REST base, "http://127.0.0.1:PORT/2.0".
func (s *Server) APIURL() string { return s.apiURL }

// OAuthTokenURL is the OAuth 2.0 token endpoint.
func (s *Server) OAuthTokenURL() string { return s.baseURL + "/site/oauth2/access_token" }

// SSHEndpoint is where git over SSH listens, "127.0.0.1:PORT".
func (s *Server) SSHEndpoint() string { return s.sshLn.Addr().String() }

// HostKeyFile is a file with the SSH host key as a `.pub` line.
func (s *Server) HostKeyFile() string { return filepath.Join(s.dir, "host_key.pub") }

// HostPublicKey is the SSH host key of this run.
func (s *Server) HostPublicKey() ssh.PublicKey { return s.hostKey.PublicKey() }

// KnownHostsLine is the host key as a known_hosts line for the SSH endpoint
// ("[127.0.0.1]:PORT ssh-ed25519 AAAA…"), for tests that run ssh without HostKeyAlias.
func (s *Server) KnownHostsLine() string {
	return knownHostsAddr(s.SSHEndpoint()) + " " + keyLine(s.hostKey.PublicKey())
}

func knownHostsAddr(hostport string) string {
	host, port, _ := net.SplitHostPort(hostport)
	if port == "22" {
		return host
	}
	return "[" + host + "]:" + port
}

// DefaultAPIToken is the seeded user's API token holding AllScopes ("" WithoutSeed).
func (s *Server) DefaultAPIToken() string { return s.defaultTok }

// Env returns KEY=VALUE lines that point bbkey at this server as the seeded user.
func (s *Server) Env() []string {
	if s.dc != nil {
		return s.dcEnv()
	}
	env := []string{
		"BITBUCKET_API_URL=" + s.APIURL(),
		"BITBUCKET_OAUTH_TOKEN_URL=" + s.OAuthTokenURL(),
		"BBKEY_SSH_ENDPOINT=" + s.SSHEndpoint(),
		"BBKEY_SSH_HOST_KEYS=" + s.HostKeyFile(),
	}
	if s.defaultTok != "" {
		env = append(env, "BITBUCKET_EMAIL="+DefaultEmail, "BITBUCKET_API_TOKEN="+s.defaultTok)
	}
	return env
}

func (s *Server) now() time.Time {
	return (*s.clock.Load())().UTC()
}

// SetClock replaces the clock used for timestamps, token expiry, the rate-limit window and
// key cooldowns. Latency and hangs use real time.
func (s *Server) SetClock(now func() time.Time) {
	s.clock.Store(&now)
}

// SetLatency delays every later HTTP request by d.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// SetRateLimit sets the budget of requests to /2.0/repositories/* per credential and
// rolling hour (default DefaultRateLimit); 0 or less means unlimited.
func (s *Server) SetRateLimit(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rateLimit = n
	s.rateLog = map[string][]time.Time{}
}

// DenySSH makes the SSH server refuse the key with this fingerprint (with or without the
// "SHA256:" prefix) even while it is registered, so a failing proof can be tested.
func (s *Server) DenySSH(fp string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deniedSSH[strings.TrimPrefix(fp, "SHA256:")] = true
}

// AllowSSH undoes DenySSH.
func (s *Server) AllowSSH(fp string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.deniedSSH, strings.TrimPrefix(fp, "SHA256:"))
}

// DenySSHNewKeys makes the SSH server refuse every key registered after the call, while
// keys registered now keep working: a rotation's successor then fails its proof although
// its fingerprint is not known in advance. AllowSSHNewKeys undoes it.
func (s *Server) DenySSHNewKeys() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onlySSH = map[string]bool{}
	for _, b := range s.keyBlobs {
		s.onlySSH[b] = true
	}
	for _, b := range s.deployBlobs {
		s.onlySSH[b] = true
	}
	if s.dc != nil {
		for _, k := range s.dc.keys {
			s.onlySSH[k.blob] = true
		}
	}
}

// AllowSSHNewKeys undoes DenySSHNewKeys.
func (s *Server) AllowSSHNewKeys() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onlySSH = nil
}
