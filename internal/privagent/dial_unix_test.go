//go:build !windows

package privagent

import (
	"net"
	"testing"
	"time"
)

// dialAgent reaches the socket Serve returned.
func dialAgent(_ *testing.T, addr string) (net.Conn, error) {
	return net.DialTimeout("unix", addr, 2*time.Second)
}
