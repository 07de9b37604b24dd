package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/internal/state"
)

// doctorProxy forwards TCP connections on a loopback port to a target that can be
// switched (to an impostor server) or cut (Close: the port is then closed), so a test can
// break the network path to the SSH endpoint and nothing else.
type doctorProxy struct {
	ln     net.Listener
	mu     sync.Mutex
	target string
	conns  []net.Conn
	wg     sync.WaitGroup
}

func startDoctorProxy(t *testing.T, target string) *doctorProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &doctorProxy{ln: ln, target: target}
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			to := p.target
			p.conns = append(p.conns, c)
			p.mu.Unlock()
			p.wg.Go(func() { p.forward(c, to) })
		}
	})
	t.Cleanup(p.Close)
	return p
}

func (p *doctorProxy) forward(c net.Conn, to string) {
	defer c.Close()
	u, err := net.Dial("tcp", to)
	if err != nil {
		return
	}
	defer u.Close()
	done := make(chan struct{}, 2)
	go func() { io.Copy(u, c); done <- struct{}{} }()
	go func() { io.Copy(c, u); done <- struct{}{} }()
	<-done
}

func (p *doctorProxy) Addr() string { return p.ln.Addr().String() }

func (p *doctorProxy) SetTarget(to string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.target = to
}

// Close closes the port and every forwarded connection.
func (p *doctorProxy) Close() {
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// doctorEnv is a world after `bbkey setup`: an account key uploaded, loaded in the agent,
// written into the ssh config, with SSH reaching the emulator through a proxy, and a
// clone of acme/api over SSH to run doctor in.
type doctorEnv struct {
	*World
	Proxy *doctorProxy
	Repo  string
	Key   string // the private key file
	FP    string
}

func newDoctorEnv(t *testing.T, setupArgs ...string) *doctorEnv {
	t.Helper()
	w := NewWorld(t)
	px := startDoctorProxy(t, w.Emu.SSHEndpoint())
	w.Setenv("BBKEY_SSH_ENDPOINT", px.Addr())
	args := []string{"setup", "--no-remotes"}
	if !slices.Contains(setupArgs, "--no-passphrase") {
		args = append(args, "--passphrase-file", w.PassFile)
	}
	w.MustRun("", append(args, setupArgs...)...)
	repo := filepath.Join(w.Home.Dir, "src", "api")
	w.MustGit(w.Home.Dir, "clone", "-q", "git@ssh.bitbucket.org:acme/api.git", repo)
	st, err := state.Dir{Path: filepath.Join(w.Home.ConfigDir, "bbkey")}.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Accounts) != 1 {
		t.Fatalf("setup recorded %d accounts", len(st.Accounts))
	}
	d := &doctorEnv{World: w, Proxy: px, Repo: repo}
	for _, a := range st.Accounts {
		d.Key, d.FP = a.KeyPath, a.Fingerprint
	}
	return d
}

type doctorCheck struct {
	ID      string   `json:"id"`
	Title   string   `json:"title"`
	Status  string   `json:"status"`
	Summary string   `json:"summary"`
	Details []string `json:"details"`
	Cause   string   `json:"cause"`
	Fix     string   `json:"fix"`
	Fixable bool     `json:"fixable"`
}

type doctorDoc struct {
	OK     bool          `json:"ok"`
	Checks []doctorCheck `json:"checks"`
	Fixes  []struct {
		Key          string   `json:"key"`
		Checks       []string `json:"checks"`
		Applied      bool     `json:"applied"`
		Error        string   `json:"error"`
		ChangedFiles []string `json:"changed_files"`
	} `json:"fixes"`
	ChangedFiles []string `json:"changed_files"`
}

// doctorJSON runs `bbkey doctor --json` (plus args) in dir and decodes the report.
func (d *doctorEnv) doctorJSON(t *testing.T, dir string, args ...string) (Result, doctorDoc) {
	t.Helper()
	r := d.Run(dir, append([]string{"doctor", "--json"}, args...)...)
	var doc doctorDoc
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatalf("doctor --json is not JSON: %v\n%s", err, r)
	}
	return r, doc
}

func (doc doctorDoc) check(id string) (doctorCheck, bool) {
	i := slices.IndexFunc(doc.Checks, func(c doctorCheck) bool { return c.ID == id })
	if i < 0 {
		return doctorCheck{}, false
	}
	return doc.Checks[i], true
}

// doctorExpect asserts that the checks in want have those statuses and every other check
// passed ("ok"), so a test proves that what it broke shows up there and nowhere else.
func doctorExpect(t *testing.T, r Result, doc doctorDoc, want map[string]string) {
	t.Helper()
	var bad []string
	for _, c := range doc.Checks {
		st, listed := want[c.ID]
		if !listed {
			st = "ok"
		}
		if c.Status != st {
			bad = append(bad, c.ID+": "+c.Status+" (want "+st+"): "+c.Summary)
		}
	}
	for id := range want {
		if _, ok := doc.check(id); !ok {
			bad = append(bad, id+": missing from the report")
		}
	}
	sort.Strings(bad)
	if len(bad) > 0 {
		t.Fatalf("unexpected check results:\n  %s\n%s", strings.Join(bad, "\n  "), r)
	}
	wantCode := 0
	for _, st := range want {
		if st == "fail" {
			wantCode = 1
		}
	}
	if r.Code != wantCode {
		t.Fatalf("exit %d, want %d\n%s", r.Code, wantCode, r)
	}
}

// doctorClient is a Bitbucket client for the emulator as Ada.
func doctorClient(t *testing.T, emu *bbapitest.Server) *bbapi.Client {
	t.Helper()
	c, err := bbapi.NewClient(emu.APIURL(), &bbapi.APIToken{Email: bbapitest.DefaultEmail, Token: emu.DefaultAPIToken()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// doctorDeleteAccountKey deletes the key with fingerprint fp from Ada's account.
func doctorDeleteAccountKey(t *testing.T, emu *bbapitest.Server, fp string) {
	t.Helper()
	c := doctorClient(t, emu)
	k, err := c.SSHKeys.FindByFingerprint(context.Background(), bbapitest.DefaultUUID, fp)
	if err != nil || k == nil {
		t.Fatalf("finding %s: %v", fp, err)
	}
	if _, err := c.SSHKeys.DeleteKey(context.Background(), k); err != nil {
		t.Fatal(err)
	}
}

func doctorWrite(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// doctorOldBitbucketRSA is the RSA host key bitbucket.org presented until June 2023 (its
// fingerprint is the retired SHA256:zzXQOXSRBEiUtuE8AikJYKwbHaxvSc0ojez9YXaGp1A).
const doctorOldBitbucketRSA = "ssh-rsa AAAAB3NzaC1yc2EAAAABIwAAAQEAubiN81eDcafrgMeLzaFPsw2kNvEcqTKl/VqLat/MaB33pZy0y3rJZtnqwR2qOOvbwKZYKiEO1O6VqNEBxKvJJelCq0dTXWT5pbO2gDXC6h6QDXCaHo6pOHGPUy+YBaGQRGuSusMEASYiWunYN0vCAI8QaXnWMXNMdFP3jHAJH0eDsoiGnLPBlBp4TNm6rYI74nMzgz3B9IikW4WVK+dc8KZJZWYjAuORU3jc1c/NPskD2ASinf8v3xnfXeukU0sJ5N6m5E8VLjObPEO+mN2t/FZTMZLiFqPWc/ALSqnMnnhwrNi2rbfg/rd/IpL8Le3pSBne8+seeFVBoGqzHM9yXw=="

// doctorClosedPort returns a loopback address nothing listens on.
func doctorClosedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
