//go:build windows

package privagent

import (
	"crypto/rand"
	"encoding/hex"
	"net"

	"github.com/Microsoft/go-winio"
)

// listenAgent listens on a named pipe with a random name that only the current user (the
// pipe's owner) may open, as Windows OpenSSH reaches agents through pipes.
func listenAgent() (net.Listener, string, func(), error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, "", nil, err
	}
	addr := `\\.\pipe\bbkey-agent-` + hex.EncodeToString(b[:])
	ln, err := winio.ListenPipe(addr, &winio.PipeConfig{SecurityDescriptor: "D:P(A;;GA;;;OW)"})
	if err != nil {
		return nil, "", nil, err
	}
	return ln, addr, func() {}, nil
}
