//go:build !windows

package rotate

import (
	"errors"
	"net"
	"path/filepath"
	"sync"

	xagent "golang.org/x/crypto/ssh/agent"

	"github.com/bbkey/bbkey/keys"
)

var errNoPrivateAgent = errors.New("no private ssh agent on this system")

// servePrivateAgent serves an in-process agent holding only k on a socket in dir (0700,
// made by the caller), so ssh can sign with a key whose passphrase it never sees. stop
// closes the socket and waits for the connections to end.
func servePrivateAgent(dir string, k *keys.Key) (sock string, stop func(), err error) {
	ring := xagent.NewKeyring()
	if err := ring.Add(xagent.AddedKey{PrivateKey: k.Private, Comment: k.Comment}); err != nil {
		return "", nil, err
	}
	sock = filepath.Join(dir, "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		return "", nil, err
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				_ = xagent.ServeAgent(ring, c)
			})
		}
	})
	return sock, func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
		ring.RemoveAll()
	}, nil
}
