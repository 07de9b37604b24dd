package sshproof

import (
	"context"
	"errors"
	"net"
	"testing"
)

// An endpoint without a port is valid everywhere else (settings.SplitEndpoint, the ssh
// config's Port 22), so the proof must dial port 22 too rather than fail with "missing
// port in address".
func TestEndpointWithoutPortDialsPort22(t *testing.T) {
	v := pin(t, newSigner(t).PublicKey())
	var dialled []string
	record := func(_ context.Context, _, addr string) (net.Conn, error) {
		dialled = append(dialled, addr)
		return nil, errors.New("stop here")
	}
	opts := Options{Endpoint: "ssh.example.org", HostKeyCallback: v.HostKeyCallback(), Signer: newSigner(t), Dial: record}
	Prove(context.Background(), opts)
	CheckHostKey(context.Background(), opts)
	if len(dialled) != 2 || dialled[0] != "ssh.example.org:22" || dialled[1] != "ssh.example.org:22" {
		t.Fatalf("dialled %q, want ssh.example.org:22 twice", dialled)
	}
}
