package bbapi

import (
	"encoding/base64"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
)

// NormalizeFingerprint turns the forms a SHA-256 key fingerprint comes in into OpenSSH's
// "SHA256:<unpadded base64>", the form ssh.FingerprintSHA256 and ssh-keygen -l print.
// Bitbucket sends the bare unpadded base64; padded base64 and a lowercase prefix are
// accepted too. It returns "" when s is not a SHA-256 fingerprint.
func NormalizeFingerprint(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 7 && strings.EqualFold(s[:7], "SHA256:") {
		s = s[7:]
	}
	s = strings.TrimRight(s, "=")
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil || len(b) != 32 {
		return ""
	}
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(b)
}

// FingerprintOf returns the SHA256 fingerprint of an authorized_keys line
// ("ssh-ed25519 AAAA… comment").
func FingerprintOf(authorizedKey string) (string, error) {
	pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(authorizedKey))
	if err != nil {
		return "", fmt.Errorf("parsing public key: %w", err)
	}
	return ssh.FingerprintSHA256(pk), nil
}

// SameFingerprint compares two fingerprints in any accepted form.
func SameFingerprint(a, b string) bool {
	na, nb := NormalizeFingerprint(a), NormalizeFingerprint(b)
	return na != "" && na == nb
}

// KeyFingerprint is the fingerprint the server reported, else the one computed from the
// key text; "" when neither can be had.
func KeyFingerprint(reported, key string) string {
	if fp := NormalizeFingerprint(reported); fp != "" {
		return fp
	}
	fp, err := FingerprintOf(key)
	if err != nil {
		return ""
	}
	return fp
}
