//go:build !windows

package agent

import (
	"net"
	"runtime"
	"time"
)

// dialTimeout bounds connecting to a local socket; an agent answers at once or not at all.
const dialTimeout = 5 * time.Second

func dial(lookupEnv func(string) (string, bool)) (net.Conn, string, error) {
	sock, _ := lookupEnv("SSH_AUTH_SOCK")
	if sock == "" {
		return nil, "", noAgent(runtime.GOOS, lookupEnv, "SSH_AUTH_SOCK is not set", nil)
	}
	conn, err := net.DialTimeout("unix", sock, dialTimeout)
	if err != nil {
		return nil, "", noAgent(runtime.GOOS, lookupEnv, "cannot reach the agent at SSH_AUTH_SOCK="+sock, err)
	}
	return conn, sock, nil
}
