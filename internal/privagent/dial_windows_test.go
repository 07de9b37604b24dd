//go:build windows

package privagent

import (
	"net"
	"testing"
	"time"

	"github.com/Microsoft/go-winio"

	"github.com/bbkey/bbkey/internal/testutil"
)

// dialAgent reaches the named pipe Serve returned, as Windows OpenSSH does.
func dialAgent(t *testing.T, addr string) (net.Conn, error) {
	if testutil.UnderWine() {
		t.Skip("Wine 8 never completes go-winio's overlapped I/O on a message-mode named pipe (the first agent request hangs); the pipe agent runs on Windows only")
	}
	timeout := 2 * time.Second
	return winio.DialPipe(addr, &timeout)
}
