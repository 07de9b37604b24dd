package credstore

import (
	"errors"
	"testing"

	"github.com/bbkey/bbkey/internal/settings"
)

func TestServerTokenRoundTrip(t *testing.T) {
	ctx := t.Context()
	s := NewFile(t.TempDir())
	n, _ := settings.NormalizeServerURL("https://A.example.com/")
	a := ServerAccount(n)
	if a != "server:https://a.example.com" {
		t.Fatalf("account %q", a)
	}
	if err := s.Set(ctx, a, Secret{Kind: KindHTTPAccessToken, Server: "https://a.example.com", Secret: []byte("tok-a")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, DefaultAccount, Secret{Kind: KindAPIToken, Email: "a@b.c", Secret: []byte("cloud")}); err != nil {
		t.Fatal(err)
	}
	sec, err := GetServerToken(ctx, s, "https://a.example.com:443")
	if err != nil || string(sec.Secret) != "tok-a" {
		t.Errorf("got %v, %v", sec, err)
	}
	if _, err := GetServerToken(ctx, s, "https://b.example.com"); !errors.Is(err, ErrNotFound) {
		t.Errorf("another server: %v", err)
	}
	if err := s.Set(ctx, "server:https://c.example.com", Secret{Kind: KindPassphrase, Secret: []byte("p")}); err != nil {
		t.Fatal(err)
	}
	if _, err := GetServerToken(ctx, s, "https://c.example.com"); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("a passphrase read as a token: %v", err)
	}
}
