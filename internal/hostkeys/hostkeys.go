// Package hostkeys decides which SSH host keys bbkey trusts and keeps them where both
// OpenSSH and bbkey's own Go-side checks read them: ~/.ssh/bbkey/known_hosts, keyed by the
// HostKeyAlias (the ssh-host), so the same pins hold for port 22, altssh on 443 or a test
// server. Trust never comes from the network: the keys are Bitbucket's published ones
// built into the binary, or those of a file the user names with --ssh-host-keys. A server
// presenting anything else is refused with both fingerprints (never trust on first use).
//
// It also finds the host keys Bitbucket retired in June 2023 in the user's own
// known_hosts, plain or hashed, the usual cause of "REMOTE HOST IDENTIFICATION HAS
// CHANGED" on old remotes.
package hostkeys

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/settings"
)

// bitbucketKnownHosts is Bitbucket's published host keys (https://bitbucket.org/site/ssh),
// a copy of shared/bitbucket/known_hosts.
//
//go:embed bitbucket_known_hosts
var bitbucketKnownHosts []byte

// CheckURL is where Atlassian publishes the fingerprints for users to compare.
const CheckURL = "https://bitbucket.org/site/ssh"

// BitbucketHosts are the names the built-in keys are pinned under besides the alias:
// git over SSH on ssh.bitbucket.org, the old bitbucket.org, and altssh on port 443 in
// known_hosts notation. Whether ssh.bitbucket.org presents the same keys as bitbucket.org
// is unconfirmed (API.md §4); a mismatch is refused, not trusted.
var BitbucketHosts = []string{"ssh.bitbucket.org", "bitbucket.org", "[altssh.bitbucket.org]:443"}

var builtin = sync.OnceValues(func() ([]ssh.PublicKey, error) { return ParseKeys(bitbucketKnownHosts) })

// Builtin returns Bitbucket's published host keys.
func Builtin() []ssh.PublicKey {
	keys, err := builtin()
	if err != nil {
		panic("hostkeys: embedded known_hosts: " + err.Error()) // checked by the tests
	}
	return keys
}

// Pins are the keys trusted for an alias and where they came from.
type Pins struct {
	// Alias is the HostKeyAlias the keys are filed under: the ssh-host.
	Alias string
	Keys  []ssh.PublicKey
	// Builtin is true for Bitbucket's published keys, also pinned for BitbucketHosts.
	Builtin bool
	// Source says where the keys came from, for messages: a file or CheckURL.
	Source string
}

// Pinned returns the keys to trust for the settings: the --ssh-host-keys file when one is
// set, else the built-in Bitbucket keys, filed under the ssh-host.
func Pinned(s settings.Settings) (Pins, error) {
	alias := s.SSHHost
	if alias == "" {
		alias = settings.DefaultSSHHost
	}
	if !hostName(alias) {
		// Anything else would not survive known_hosts ("bad host" reads as the host "bad"
		// with key type "host") or ssh config's Host line.
		return Pins{}, errkind.UsageError(fmt.Errorf("invalid --ssh-host %q: want a host name", alias),
			"set --ssh-host (or BBKEY_SSH_HOST) to a host name such as "+settings.DefaultSSHHost)
	}
	if s.SSHHostKeys == "" {
		return Pins{Alias: alias, Keys: Builtin(), Builtin: true, Source: CheckURL}, nil
	}
	b, err := os.ReadFile(s.SSHHostKeys)
	if err != nil {
		return Pins{}, errkind.UsageError(fmt.Errorf("reading the ssh host keys: %w", err),
			"check the path: --ssh-host-keys (or BBKEY_SSH_HOST_KEYS) names a file of the server's host keys; without it Bitbucket Cloud's published keys are pinned")
	}
	keys, err := ParseKeys(b)
	if err != nil {
		return Pins{}, errkind.UsageError(fmt.Errorf("reading the ssh host keys from %s: %w", s.SSHHostKeys, err),
			"give a file of known_hosts lines or .pub lines (e.g. from ssh-keyscan or the server's /etc/ssh/ssh_host_*_key.pub)")
	}
	return Pins{Alias: alias, Keys: keys, Source: s.SSHHostKeys}, nil
}

// hostName reports whether h is a plain host name: letters, digits, '.', '-' and '_'.
func hostName(h string) bool {
	return h != "" && strings.Trim(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") == ""
}

// Hosts are the host names pins are written under.
func (p Pins) Hosts() []string {
	hosts := []string{p.Alias}
	if p.Builtin {
		for _, h := range BitbucketHosts {
			if !slices.Contains(hosts, h) {
				hosts = append(hosts, h)
			}
		}
	}
	return hosts
}

// HostKeyCallback checks a server's key against the pins themselves, before (or
// without) any known_hosts file: a key not among them is a *MismatchError naming it and
// every pinned key. endpoint is the address dialled, for the message.
func (p Pins) HostKeyCallback(endpoint string) ssh.HostKeyCallback {
	return func(_ string, _ net.Addr, key ssh.PublicKey) error {
		if slices.ContainsFunc(p.Keys, equalTo(key)) {
			return nil
		}
		fp := ssh.FingerprintSHA256(key)
		return &MismatchError{
			Alias: p.Alias, Endpoint: endpoint, Seen: describe(key),
			Pinned: Fingerprints(p.Keys), Source: p.Source,
			Revoked: slices.ContainsFunc(RetiredKeys, func(r RetiredKey) bool { return r.Fingerprint == fp }),
		}
	}
}

// ParseKeys reads host keys from known_hosts lines (any host, plain or hashed) or public
// key lines ("type base64 [comment]", as in a .pub file). Blank lines and comments are
// skipped, duplicates dropped. As in ssh, a key an @revoked line names is never trusted;
// @cert-authority lines name a CA, not a host key, and are skipped. Certificates are
// refused, as bbkey pins plain keys only.
func ParseKeys(data []byte) ([]ssh.PublicKey, error) {
	var keys, revoked []ssh.PublicKey
	for n, line := range bytes.Split(data, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		marker, key, err := parseKeyLine(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n+1, err)
		}
		switch {
		case marker == "revoked":
			revoked = append(revoked, key)
		case marker == "" && !slices.ContainsFunc(keys, equalTo(key)):
			keys = append(keys, key)
		}
	}
	for _, r := range revoked {
		keys = slices.DeleteFunc(keys, equalTo(r))
	}
	if len(keys) == 0 {
		return nil, errors.New("no host keys found")
	}
	return keys, nil
}

func equalTo(key ssh.PublicKey) func(ssh.PublicKey) bool {
	return func(k ssh.PublicKey) bool { return bytes.Equal(k.Marshal(), key.Marshal()) }
}

func parseKeyLine(line []byte) (marker string, key ssh.PublicKey, err error) {
	if marker, _, key, _, _, err := ssh.ParseKnownHosts(line); err == nil {
		return marker, key, nil
	}
	key, _, _, _, err = ssh.ParseAuthorizedKey(line)
	if err != nil {
		return "", nil, errors.New("not a known_hosts line or a public key")
	}
	if _, isCert := key.(*ssh.Certificate); isCert {
		return "", nil, errors.New("certificates are not supported: give the plain host key")
	}
	return "", key, nil
}

// Fingerprints returns "type SHA256:…" for each key.
func Fingerprints(keys []ssh.PublicKey) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = describe(k)
	}
	return out
}

func describe(k ssh.PublicKey) string { return k.Type() + " " + ssh.FingerprintSHA256(k) }

// header opens bbkey's known_hosts.
const header = "# Host keys pinned by bbkey: do not edit, bbkey rewrites this file.\n"

// Render is the content of bbkey's known_hosts for pins: a header naming the source,
// then one line per key listing every host name.
func Render(p Pins) []byte { return RenderAll([]Pins{p}) }

// RenderAll is the content of bbkey's known_hosts for several sets of pins (Bitbucket
// Cloud's and each Data Center server's), in order: the header, then for each set a line
// naming its source and one line per key.
func RenderAll(sets []Pins) []byte {
	var b strings.Builder
	b.WriteString(header)
	for _, p := range sets {
		fmt.Fprintf(&b, "# Source: %s\n", strings.NewReplacer("\n", " ", "\r", " ").Replace(p.Source))
		for _, k := range p.Keys {
			b.WriteString(knownhosts.Line(p.Hosts(), k))
			b.WriteByte('\n')
		}
	}
	return []byte(b.String())
}

// HostKeyAlgorithms lists the host key algorithms to ask a server for so that it presents
// a key of a pinned type (as OpenSSH does from known_hosts): otherwise a server preferring
// an unpinned type would look like a mismatch.
func HostKeyAlgorithms(keys []ssh.PublicKey) []string {
	rank := func(k ssh.PublicKey) int { // strongest first, whatever the order of the file
		switch t := k.Type(); {
		case t == ssh.KeyAlgoED25519:
			return 0
		case strings.HasPrefix(t, "ecdsa-"):
			return 1
		case t == ssh.KeyAlgoRSA:
			return 2
		}
		return 3
	}
	var algos []string
	for _, k := range slices.SortedStableFunc(slices.Values(keys), func(a, b ssh.PublicKey) int { return rank(a) - rank(b) }) {
		add := []string{k.Type()}
		if k.Type() == ssh.KeyAlgoRSA {
			add = []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256}
		}
		for _, a := range add {
			if !slices.Contains(algos, a) {
				algos = append(algos, a)
			}
		}
	}
	return algos
}
