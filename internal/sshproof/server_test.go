package sshproof

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/ssh"
)

// testServer is a small SSH server on loopback that behaves like Bitbucket's for a proof:
// public-key authentication against a set of registered keys, and on a shell request a
// greeting on stdout, a line on stderr, an exit status, and the channel closed.
type testServer struct {
	Addr    string
	HostKey ssh.Signer

	mu         sync.Mutex
	authorized map[string]bool
	authTries  atomic.Int32
}

const testGreeting = "authenticated via ssh key.\n\nYou can use git to connect to Bitbucket. Shell access is disabled.\n"

func newSigner(t testing.TB) ssh.Signer {
	s, _ := newKeyPair(t)
	return s
}

func newKeyPair(t testing.TB) (ssh.Signer, ed25519.PrivateKey) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s, priv
}

func startServer(t testing.TB, registered ...ssh.PublicKey) *testServer {
	t.Helper()
	s := &testServer{HostKey: newSigner(t), authorized: map[string]bool{}}
	for _, k := range registered {
		s.Register(k)
	}
	cfg := &ssh.ServerConfig{
		// No SHA-1 RSA signatures, as Bitbucket.
		PublicKeyAuthAlgorithms: []string{ssh.KeyAlgoED25519, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoECDSA256},
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			s.authTries.Add(1)
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.authorized[string(key.Marshal())] {
				return nil, nil
			}
			return nil, errors.New("unknown key")
		},
	}
	cfg.AddHostKey(s.HostKey)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = ln.Addr().String()
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { s.serve(c, cfg) })
		}
	})
	return s
}

func (s *testServer) Register(k ssh.PublicKey) {
	s.mu.Lock()
	s.authorized[string(k.Marshal())] = true
	s.mu.Unlock()
}

func (s *testServer) serve(c net.Conn, cfg *ssh.ServerConfig) {
	defer c.Close()
	sc, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		return
	}
	defer sc.Close()
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "no")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			return
		}
		go func() {
			defer ch.Close()
			for req := range chReqs {
				if req.Type != "shell" {
					req.Reply(false, nil)
					continue
				}
				req.Reply(true, nil)
				fmt.Fprint(ch, testGreeting)
				fmt.Fprint(ch.Stderr(), "note on stderr\n")
				ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{1}))
				return
			}
		}()
	}
}

func (s *testServer) HostKeyLine(alias string) []byte {
	return fmt.Appendf(nil, "%s %s", alias, bytes.TrimSpace(ssh.MarshalAuthorizedKey(s.HostKey.PublicKey())))
}
