package keys

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestValidateName(t *testing.T) {
	good := []string{"laptop", "ci-01", "a", "build.example", strings.Repeat("a", MaxNameLen)}
	for _, n := range good {
		if err := ValidateName(n); err != nil {
			t.Errorf("ValidateName(%q) = %v, want nil", n, err)
		}
	}
	bad := []string{"", "Laptop", "ci_01", "-x", ".x", "a b", "a/b", "..", "ä", "a:b", strings.Repeat("a", MaxNameLen+1)}
	for _, n := range bad {
		if err := ValidateName(n); err == nil {
			t.Errorf("ValidateName(%q) = nil, want an error", n)
		}
	}
}

func TestSanitizeName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Build-01", "build-01"},
		{"ANN'S MacBook Pro", "ann-s-macbook-pro"},
		{"__ci__runner__", "ci-runner"},
		{"-.x.-", "x"},
		{strings.Repeat("ab", 40), strings.Repeat("ab", 32)},
	}
	for _, tt := range tests {
		got, err := SanitizeName(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("SanitizeName(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
		if err := ValidateName(got); err != nil {
			t.Errorf("SanitizeName(%q) gave an invalid name: %v", tt.in, err)
		}
	}
	if _, err := SanitizeName("ää__"); err == nil {
		t.Error("SanitizeName of nothing usable: want an error")
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
