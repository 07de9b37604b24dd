//go:build !windows

package privagent

import (
	"net"
	"time"
)

// dialAgent reaches the socket Serve returned.
func dialAgent(addr string) (net.Conn, error) { return net.DialTimeout("unix", addr, 2*time.Second) }
