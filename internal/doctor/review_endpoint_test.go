package doctor

import (
	"context"
	"errors"
	"net"
	"testing"
)

// A bare host is a valid endpoint (port 22, as in the ssh config bbkey writes): the TCP
// check dials HOST:22 instead of failing with "missing port in address".
func TestTCPEndpointWithoutPort(t *testing.T) {
	e := newEnv(t)
	e.Settings.SSHEndpoint = "ssh.example.test"
	e.LookupHost = func(context.Context, string) ([]string, error) { return []string{"192.0.2.7"}, nil }
	var dialled []string
	e.Dial = func(_ context.Context, _, addr string) (net.Conn, error) {
		dialled = append(dialled, addr)
		if addr != "ssh.example.test:22" {
			return nil, errors.New("missing port in address")
		}
		c1, c2 := net.Pipe()
		c2.Close()
		return c1, nil
	}
	if r := runOnly(t, e, "dns", "tcp")["tcp"]; r.Status != OK {
		t.Fatalf("tcp = %+v (dialled %q)", r, dialled)
	}
}
