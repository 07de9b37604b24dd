//go:build windows

package privagent

import (
	"net"
	"time"

	"github.com/Microsoft/go-winio"
)

// dialAgent reaches the named pipe Serve returned, as Windows OpenSSH does.
func dialAgent(addr string) (net.Conn, error) {
	timeout := 2 * time.Second
	return winio.DialPipe(addr, &timeout)
}
