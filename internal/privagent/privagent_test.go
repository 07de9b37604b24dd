package privagent

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"

	"golang.org/x/crypto/ssh"
	sshagent "golang.org/x/crypto/ssh/agent"
)

// The private agent holds exactly the one key, signs with it, and is gone once stopped.
func TestServeOneKey(t *testing.T) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	addr, stop, err := Serve(priv, "bbkey test")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { stop() }()
	conn, err := dialAgent(t, addr)
	if err != nil {
		t.Fatal(err)
	}
	ag := sshagent.NewClient(conn)
	ids, err := ag.List()
	if err != nil || len(ids) != 1 || ids[0].Comment != "bbkey test" {
		t.Fatalf("List = %v, %v", ids, err)
	}
	signer, _ := ssh.NewSignerFromKey(priv)
	sig, err := ag.Sign(signer.PublicKey(), []byte("data"))
	if err != nil || signer.PublicKey().Verify([]byte("data"), sig) != nil {
		t.Fatalf("Sign: %v", err)
	}
	conn.Close()
	stop()
	stop = func() {}
	if c, err := dialAgent(t, addr); err == nil {
		c.Close()
		t.Fatalf("%s still answers after stop", addr)
	}
}
