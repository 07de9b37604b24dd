// Package privagent serves one key from an in-process ssh agent only the current user can
// reach (a socket in a 0700 directory; on Windows a pipe admitting only its owner), so ssh
// uses a passphrase-protected key without ever seeing the passphrase.
package privagent

import (
	"crypto"
	"net"
	"sync"

	sshagent "golang.org/x/crypto/ssh/agent"
)

// Serve serves key and returns the agent's address and a function that stops it: it
// closes the listener and every connection, waits for them, and forgets the key.
func Serve(key crypto.PrivateKey, comment string) (addr string, stop func(), err error) {
	kr := sshagent.NewKeyring()
	if err := kr.Add(sshagent.AddedKey{PrivateKey: key, Comment: comment}); err != nil {
		return "", nil, err
	}
	ln, addr, cleanup, err := listenAgent()
	if err != nil {
		return "", nil, err
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				_ = sshagent.ServeAgent(kr, c)
				_ = c.Close()
			})
		}
	})
	stop = func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
		_ = kr.RemoveAll()
		cleanup()
	}
	return addr, stop, nil
}
