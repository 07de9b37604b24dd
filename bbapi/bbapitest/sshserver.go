package bbapitest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// Texts of Bitbucket's SSH side (API.md §4; "conq" is the name of its git-over-SSH
// handler, which prefixes its errors).
const (
	sshGreetingAccount = "authenticated via ssh key.\n\nYou can use git to connect to Bitbucket. Shell access is disabled.\n"
	sshGreetingDeploy  = "authenticated via a deploy key.\n\nYou can use git to connect to Bitbucket. Shell access is disabled.\n"
	sshReadOnly        = "conq: repository access denied. access via a deployment key is read-only.\n"
	sshAccessDenied    = "conq: repository access denied.\n"
	sshNoRepo          = "conq: repository does not exist.\n"
	sshBadCommand      = "conq: invalid command syntax.\n"
)

const handshakeTimeout = 30 * time.Second

func (s *Server) newSSHConfig() *ssh.ServerConfig {
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: s.sshAuth,
		ServerVersion:     "SSH-2.0-conker_bbapitest",
	}
	cfg.AddHostKey(s.hostKey)
	return cfg
}

// sshAuth accepts user git with a live account key or any access key; the key's
// wire form rides along in the permissions so each command re-checks what it may do.
// (x/crypto/ssh hands a ServerConn the permissions of the key that finally authenticated.)
func (s *Server) sshAuth(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
	if meta.User() != "git" {
		return nil, errors.New("only user git")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.deniedSSH[fingerprint(key)] {
		return nil, errors.New("key denied")
	}
	blob := string(key.Marshal())
	if s.onlySSH != nil && !s.onlySSH[blob] {
		return nil, errors.New("key denied")
	}
	if s.dc != nil {
		return s.dcSSHAuth(blob)
	}
	if k := s.accountKeyByBlob(blob); k != nil {
		if k.ExpiresOn != nil && !s.now().Before(*k.ExpiresOn) {
			return nil, errors.New("key expired")
		}
		return &ssh.Permissions{Extensions: map[string]string{"key": blob}}, nil
	}
	if len(s.deployKeysByBlob(blob)) > 0 {
		return &ssh.Permissions{Extensions: map[string]string{"key": blob}}, nil
	}
	return nil, errors.New("unknown key")
}

func (s *Server) serveSSH() {
	for {
		conn, err := s.sshLn.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		select {
		case <-s.closed:
			s.mu.Unlock()
			_ = conn.Close()
			return
		default:
		}
		s.rawConns[conn] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.rawConns, conn)
				s.mu.Unlock()
				_ = conn.Close()
			}()
			s.serveSSHConn(conn)
		}()
	}
}

func (s *Server) serveSSHConn(conn net.Conn) {
	_ = conn.SetDeadline(time.Now().Add(handshakeTimeout))
	sc, chans, reqs, err := ssh.NewServerConn(conn, s.sshCfg)
	if err != nil {
		return
	}
	_ = conn.SetDeadline(time.Time{})
	defer sc.Close()
	var wg sync.WaitGroup
	wg.Go(func() { ssh.DiscardRequests(reqs) })
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only session channels")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			continue
		}
		wg.Go(func() { s.serveSession(sc, ch, creqs) })
	}
	wg.Wait()
}

type execRequest struct{ Command string }
type envRequest struct{ Name, Value string }
type exitStatus struct{ Status uint32 }

func (s *Server) serveSession(sc *ssh.ServerConn, ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	blob := sc.Permissions.Extensions["key"]
	var env []string
	var wg sync.WaitGroup
	started := false
	for req := range reqs {
		switch req.Type {
		case "env":
			var e envRequest
			ok := ssh.Unmarshal(req.Payload, &e) == nil && e.Name == "GIT_PROTOCOL"
			if ok {
				env = append(env, "GIT_PROTOCOL="+e.Value)
			}
			_ = req.Reply(ok, nil)
		case "shell":
			if started {
				_ = req.Reply(false, nil)
				continue
			}
			started = true
			_ = req.Reply(true, nil)
			wg.Go(func() {
				_, _ = io.WriteString(ch, s.greeting(blob))
				finish(ch, 0)
			})
		case "exec":
			var e execRequest
			if started || ssh.Unmarshal(req.Payload, &e) != nil {
				_ = req.Reply(false, nil)
				continue
			}
			started = true
			_ = req.Reply(true, nil)
			wg.Go(func() { finish(ch, s.runGit(ch, blob, e.Command, env)) })
		default:
			// pty-req included: Bitbucket allocates no terminal ("PTY allocation
			// request failed"), as does this server.
			_ = req.Reply(false, nil)
		}
	}
	wg.Wait()
}

// finish sends EOF and the exit status, then closes the channel, as OpenSSH's sshd does.
func finish(ch ssh.Channel, code int) {
	_ = ch.CloseWrite()
	_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(exitStatus{uint32(code)}))
	_ = ch.Close()
}

func (s *Server) greeting(blob string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dc != nil {
		return s.dcGreeting(blob)
	}
	s.touchKey(blob)
	if s.accountKeyByBlob(blob) != nil {
		return sshGreetingAccount
	}
	var b strings.Builder
	b.WriteString(sshGreetingDeploy)
	b.WriteString("\nThis deploy key has read access to the following repositories:\n")
	var seen []string
	for _, k := range s.deployKeysByBlob(blob) {
		w := s.workspaces[k.Workspace]
		var rs []*repo
		if k.RepoSlug != "" {
			rs = []*repo{w.repoBySlug[k.RepoSlug]}
		} else {
			for _, r := range w.repos {
				if r.project.key == k.ProjectKey {
					rs = append(rs, r)
				}
			}
		}
		for _, r := range rs {
			if !slices.Contains(seen, r.fullName()) {
				seen = append(seen, r.fullName())
				fmt.Fprintf(&b, "%s: %s\n", r.fullName(), k.Label)
			}
		}
	}
	return b.String()
}

// touchKey records that a key was used now. Callers hold s.mu.
func (s *Server) touchKey(blob string) {
	now := s.now()
	if k := s.accountKeyByBlob(blob); k != nil {
		k.LastUsed = &now
	}
	for _, k := range s.deployKeysByBlob(blob) {
		k.LastUsed = &now
	}
}

// parseGitCommand reads `git-upload-pack 'ws/repo.git'` and its variants: quotes, the
// .git suffix and a leading slash are optional, `git upload-pack` is accepted too.
func parseGitCommand(cmd string) (service, ws, slug string, ok bool) {
	cmd = strings.TrimSpace(cmd)
	for _, svc := range []string{"upload-pack", "receive-pack"} {
		for _, prefix := range []string{"git-" + svc + " ", "git " + svc + " "} {
			if rest, found := strings.CutPrefix(cmd, prefix); found {
				arg := strings.TrimSpace(rest)
				if len(arg) >= 2 && (arg[0] == '\'' || arg[0] == '"') && arg[len(arg)-1] == arg[0] {
					arg = arg[1 : len(arg)-1]
				}
				arg = strings.TrimSuffix(strings.TrimPrefix(arg, "/"), "/")
				arg = strings.TrimSuffix(arg, ".git")
				w, sl, found := strings.Cut(arg, "/")
				if !found || w == "" || sl == "" || strings.ContainsAny(sl, "/'\"\\") {
					return "", "", "", false
				}
				return svc, strings.ToLower(w), strings.ToLower(sl), true
			}
		}
	}
	return "", "", "", false
}

// runGit authorizes one git command and runs the real git on the bare repository with
// the channel as stdin and stdout and its stderr stream as stderr (separate streams, so
// nothing interleaves). It returns the exit status for the client.
func (s *Server) runGit(ch ssh.Channel, blob, command string, env []string) int {
	stderr := ch.Stderr()
	service, wsName, slug, ok := parseGitCommand(command)
	if !ok {
		_, _ = io.WriteString(stderr, sshBadCommand)
		return 128
	}
	dir, denial, err := s.gitTarget(blob, service, wsName, slug)
	if denial != "" {
		_, _ = io.WriteString(stderr, denial)
		return 1
	}
	if err != nil {
		_, _ = fmt.Fprintf(stderr, "conq: internal error: %v\n", err)
		return 1
	}
	cmd := exec.CommandContext(s.ctx, "git", service, dir)
	cmd.Env = append(s.gitEnv(), env...)
	cmd.Stdout = ch
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return 1
	}
	if err := cmd.Start(); err != nil {
		_, _ = fmt.Fprintf(stderr, "conq: cannot run git: %v\n", err)
		return 1
	}
	// Not waited for: it ends when the client sends EOF or the channel closes.
	go func() {
		_, _ = io.Copy(stdin, ch)
		_ = stdin.Close()
	}()
	err = cmd.Wait()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee) && ee.ExitCode() > 0:
		return ee.ExitCode()
	}
	return 1
}

// gitTarget authorizes one git command and returns the bare repository to run it on,
// or the refusal to print.
func (s *Server) gitTarget(blob, service, wsName, slug string) (dir, denial string, err error) {
	if s.dc != nil {
		return s.dcGitTarget(blob, service, wsName, slug)
	}
	s.mu.Lock()
	r, denial := s.authorizeGit(blob, service, wsName, slug)
	s.mu.Unlock()
	if denial != "" {
		return "", denial, nil
	}
	dir, err = s.ensureRepo(r)
	return dir, "", err
}

// authorizeGit decides what a key may do on a repository: an account key reads what its
// owner reads and writes what its owner writes; an access key reads its repositories and
// the repositories of its projects, and never writes. Callers hold s.mu.
func (s *Server) authorizeGit(blob, service, wsName, slug string) (*repo, string) {
	r, exists := s.repo(wsName, slug)
	if k := s.accountKeyByBlob(blob); k != nil {
		if !exists {
			return nil, sshNoRepo
		}
		perm := s.userPerm(k.Owner, r)
		if perm == PermNone {
			return nil, sshNoRepo
		}
		if service == "receive-pack" && perm < PermWrite {
			return nil, sshAccessDenied
		}
		s.touchKey(blob)
		return r, ""
	}
	dks := s.deployKeysByBlob(blob)
	if len(dks) == 0 {
		return nil, sshAccessDenied // deleted since the connection authenticated
	}
	if !exists {
		return nil, sshNoRepo
	}
	granted := false
	for _, k := range dks {
		if k.Workspace == r.ws.slug && (k.RepoSlug == r.slug || k.ProjectKey != "" && k.ProjectKey == r.project.key) {
			granted = true
		}
	}
	if !granted {
		return nil, sshAccessDenied
	}
	if service == "receive-pack" {
		return nil, sshReadOnly
	}
	s.touchKey(blob)
	return r, ""
}

// gitEnv is the environment for server-side git: the process environment without the
// caller's GIT_* variables and without user or system config, so a developer's settings
// cannot change what the server does.
func (s *Server) gitEnv() []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "GIT_") || strings.HasPrefix(kv, "HOME=") || strings.HasPrefix(kv, "XDG_CONFIG_HOME=")
	})
	return append(env,
		"HOME="+s.dir,
		"XDG_CONFIG_HOME="+filepath.Join(s.dir, "xdg"),
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL="+os.DevNull,
		"GIT_TERMINAL_PROMPT=0",
	)
}
