//go:build !windows

package privagent

import (
	"net"
	"os"
	"path/filepath"
)

// listenAgent listens on a socket in a fresh 0700 directory under the (short) temp dir.
func listenAgent() (net.Listener, string, func(), error) {
	dir, err := os.MkdirTemp("", "bbkey-agent-")
	if err != nil {
		return nil, "", nil, err
	}
	addr := filepath.Join(dir, "agent.sock")
	ln, err := net.Listen("unix", addr)
	if err != nil {
		os.RemoveAll(dir)
		return nil, "", nil, err
	}
	return ln, addr, func() { os.RemoveAll(dir) }, nil
}
