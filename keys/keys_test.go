package keys

import (
	"path/filepath"
	"testing"
	"time"
)

func TestValidateAccountName(t *testing.T) {
	for _, n := range []string{"laptop", "access", "accessx", "x-access-y", "ada-bitbucket.example.com-7990"} {
		if err := ValidateAccountName(n); err != nil {
			t.Errorf("ValidateAccountName(%q) = %v, want nil", n, err)
		}
	}
	// access_x and access-x would share access key x's file or Host alias.
	for _, n := range []string{"access-x", "access-", "access_x", "Laptop", ""} {
		if err := ValidateAccountName(n); err == nil {
			t.Errorf("ValidateAccountName(%q) = nil, want an error", n)
		}
	}
}

func TestKeyPathsRoundTrip(t *testing.T) {
	dir := filepath.FromSlash("/home/ann/.ssh")
	acc, err := AccountKeyPath(dir, "laptop")
	if err != nil || acc != filepath.Join(dir, "bbkey_laptop_ed25519") {
		t.Fatalf("AccountKeyPath = %q, %v", acc, err)
	}
	acs, err := AccessKeyPath(dir, "ci-01")
	if err != nil || acs != filepath.Join(dir, "bbkey_access_ci-01_ed25519") {
		t.Fatalf("AccessKeyPath = %q, %v", acs, err)
	}
	if _, err := AccountKeyPath(dir, "../evil"); err == nil {
		t.Error("AccountKeyPath accepted a path in the name")
	}
	tests := []struct {
		base string
		kind Kind
		name string
		ok   bool
	}{
		{"bbkey_laptop_ed25519", KindAccount, "laptop", true},
		{"bbkey_access_ci-01_ed25519", KindAccess, "ci-01", true},
		{"bbkey_laptop_ed25519.pub", KindOther, "", false},
		{"bbkey_laptop_ed25519.bak-20261122T101010", KindOther, "", false},
		{"id_ed25519", KindOther, "", false},
		{"bbkey__ed25519", KindOther, "", false},
	}
	for _, tt := range tests {
		kind, name, ok := ParseFileName(tt.base)
		if kind != tt.kind || name != tt.name || ok != tt.ok {
			t.Errorf("ParseFileName(%q) = %v, %q, %v; want %v, %q, %v", tt.base, kind, name, ok, tt.kind, tt.name, tt.ok)
		}
	}
}

func TestComment(t *testing.T) {
	now := time.Date(2026, 11, 22, 23, 59, 0, 0, time.UTC)
	if got, want := Comment("laptop", "Build-01", now), "bbkey:laptop@build-01 2026-11-22"; got != want {
		t.Errorf("Comment = %q, want %q", got, want)
	}
}
