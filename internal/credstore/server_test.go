package credstore

import (
	"errors"
	"testing"
)

func TestNormalizeServer(t *testing.T) {
	for in, want := range map[string]string{
		"https://bitbucket.example.com":              "https://bitbucket.example.com",
		"HTTPS://Bitbucket.Example.com:443/":         "https://bitbucket.example.com",
		"https://bitbucket.example.com/ctx/rest/":    "https://bitbucket.example.com/ctx",
		"https://bitbucket.example.com:8443/ctx":     "https://bitbucket.example.com:8443/ctx",
		"http://127.0.0.1:7990":                      "http://127.0.0.1:7990",
		"http://[::1]:7990/":                         "http://[::1]:7990",
		" https://bitbucket.example.com/a%20b?x=1#f": "https://bitbucket.example.com/a%20b",
	} {
		got, err := NormalizeServer(in)
		if err != nil || got != want {
			t.Errorf("NormalizeServer(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "bitbucket.example.com", "ssh://git@host:7999", "https://", "https://ada:pw@host"} {
		if got, err := NormalizeServer(bad); err == nil {
			t.Errorf("NormalizeServer(%q) = %q, want an error", bad, got)
		}
	}
}

func TestServerTokenRoundTrip(t *testing.T) {
	ctx := t.Context()
	s := NewFile(t.TempDir())
	n, _ := NormalizeServer("https://A.example.com/")
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
