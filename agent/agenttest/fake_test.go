package agenttest

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/bbkey/bbkey/agent"
	"golang.org/x/crypto/ssh"
)

func newKey(t *testing.T) (ed25519.PrivateKey, string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := ssh.NewPublicKey(priv.Public())
	return priv, ssh.FingerprintSHA256(pub)
}

func TestFake(t *testing.T) {
	f := &Fake{}
	priv, fp := newKey(t)
	if err := f.Add(priv, "one", time.Hour, true); err != nil {
		t.Fatal(err)
	}
	if err := f.Add(priv, "two", 0, false); err != nil {
		t.Fatal(err)
	}
	ids, _ := f.List()
	if len(ids) != 1 || ids[0].Comment != "two" || ids[0].Fingerprint != fp {
		t.Fatalf("List after re-add = %+v, want one entry with the new comment", ids)
	}
	e, ok := f.Entry(fp)
	if !ok || e.Lifetime != 0 || e.Confirm {
		t.Errorf("Entry = %+v", e)
	}
	// The fake keeps its own copy, as an agent does.
	clear(priv)
	signers, _ := f.Signers()
	sig, err := signers[0].Sign(rand.Reader, []byte("x"))
	if err != nil || ids[0].PublicKey.Verify([]byte("x"), sig) != nil {
		t.Errorf("fake signer broken after the caller wiped its key: %v", err)
	}
	if err := f.Remove(fp); err != nil {
		t.Fatal(err)
	}
	if ok, _ := f.Has(fp); ok {
		t.Error("Has after Remove")
	}
	if err := f.Remove(fp); !errors.Is(err, agent.ErrNotLoaded) {
		t.Errorf("Remove of an absent key: %v", err)
	}
	f.Err = errors.New("agent went away")
	if _, err := f.List(); err != f.Err {
		t.Errorf("List with Err set = %v", err)
	}
}
