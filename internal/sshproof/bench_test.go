package sshproof

import (
	"context"
	"testing"
)

// BenchmarkProve is one full proof over loopback: dial, key exchange, host key check,
// public-key authentication, shell and greeting.
func BenchmarkProve(b *testing.B) {
	key := newSigner(b)
	srv := startServer(b, key.PublicKey())
	opts := options(srv, pin(b, srv.HostKey.PublicKey()), key)
	for b.Loop() {
		if _, err := Prove(context.Background(), opts); err != nil {
			b.Fatal(err)
		}
	}
}
