package hostkeys

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Seeds shared by both fuzzers: every form a user's known_hosts or a --ssh-host-keys file
// may take. The checked-in corpus (testdata/fuzz) adds the same and a few mangled ones.
func hostKeySeeds() []string {
	return []string{
		string(bitbucketKnownHosts),
		"bitbucket.org,104.192.143.3 " + oldBitbucketRSA + "\n",
		oldHashedLine + "\n",
		oldBitbucketRSA + " root@old\n",
		"[altssh.bitbucket.org]:443 " + oldBitbucketRSA + "\r\n# comment\n\n",
		"@revoked bitbucket.org " + oldBitbucketRSA + "\n",
		"@cert-authority *.bitbucket.org " + oldBitbucketRSA + "\n",
		"!bitbucket.org,* " + oldBitbucketRSA + "\n",
		"|1|bad|salt " + oldBitbucketRSA + "\n",
		"bitbucket.org ssh-ed25519 AAAA\n",
		"bitbucket.org ssh-rsa " + strings.Repeat("A", 300) + "\n",
		"",
		"\x00\xff\n#\n",
	}
}

// FuzzParseKeys: ParseKeys never panics, and whatever it accepts survives Render (what
// bbkey writes to ~/.ssh/bbkey/known_hosts) as exactly the same set of keys, found both by
// ParseKeys and under the alias by the Load/Verifier path.
func FuzzParseKeys(f *testing.F) {
	for _, s := range hostKeySeeds() {
		f.Add([]byte(s), "https://bitbucket.org/site/ssh")
	}
	f.Add([]byte(string(bitbucketKnownHosts)), "/tmp/keys\nbitbucket.org ssh-ed25519 AAAA\r")
	f.Fuzz(func(t *testing.T, data []byte, source string) {
		keys, err := ParseKeys(data)
		if err != nil {
			if keys != nil {
				t.Fatalf("ParseKeys returned keys with an error: %v", err)
			}
			return
		}
		if len(keys) == 0 {
			t.Fatal("ParseKeys returned no keys and no error")
		}
		want := marshalSet(keys)
		if len(want) != len(keys) {
			t.Fatalf("ParseKeys returned duplicates: %d keys, %d distinct", len(keys), len(want))
		}
		for _, builtin := range []bool{false, true} {
			p := Pins{Alias: "ssh.example.test", Keys: keys, Builtin: builtin, Source: source}
			rendered := Render(p)
			again, err := ParseKeys(rendered)
			if err != nil {
				t.Fatalf("ParseKeys(Render) failed: %v\n%s", err, rendered)
			}
			if got := marshalSet(again); !slices.Equal(got, want) {
				t.Fatalf("Render round trip changed the keys: %d → %d\n%s", len(want), len(got), rendered)
			}
			// The header is comments only: every other line is one key for every host.
			lines := bytes.Split(bytes.TrimSuffix(rendered, []byte("\n")), []byte("\n"))
			if len(lines) != 2+len(keys) {
				t.Fatalf("Render wrote %d lines for %d keys (source %q)", len(lines), len(keys), source)
			}
			for _, h := range p.Hosts() {
				if got := marshalSet(loadFrom(rendered, h)); !slices.Equal(got, want) {
					t.Fatalf("keys pinned under %s: %d, want %d\n%s", h, len(got), len(want), rendered)
				}
			}
		}
	})
}

// loadFrom is Load without the file: the keys of rendered known_hosts data pinned for host.
func loadFrom(data []byte, host string) []ssh.PublicKey {
	var keys []ssh.PublicKey
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		marker, hosts, key, _, _, err := ssh.ParseKnownHosts(line)
		if err != nil || key == nil || marker != "" {
			continue
		}
		if hostsMatch(hosts, knownhosts.Normalize(host)) {
			keys = append(keys, key)
		}
	}
	return keys
}

func marshalSet(keys []ssh.PublicKey) []string {
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, string(k.Marshal()))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// FuzzScanRetired: ScanRetired never panics on any known_hosts data, reports only retired
// keys under Bitbucket host names at line numbers that exist, and still finds a retired
// line appended after whatever garbage came first (one bad line must not hide the rest).
func FuzzScanRetired(f *testing.F) {
	for _, s := range hostKeySeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		stale, err := ScanRetired(bytes.NewReader(data), "kh", RetiredKeys)
		lines := bytes.Count(data, []byte("\n")) + 1
		for _, s := range stale {
			checkStale(t, s, lines)
		}
		if err != nil {
			return // a line over the scanner's 1 MiB limit
		}
		appended := append(append(bytes.Clone(data), '\n'), "bitbucket.org "+oldBitbucketRSA+"\n"...)
		more, err := ScanRetired(bytes.NewReader(appended), "kh", RetiredKeys)
		if err != nil {
			t.Fatalf("ScanRetired with a retired line appended: %v", err)
		}
		if !slices.Equal(more[:min(len(stale), len(more))], stale) {
			t.Fatalf("appending a line changed the earlier findings:\n%+v\n%+v", stale, more)
		}
		wantLine := bytes.Count(data, []byte("\n")) + 2
		if len(more) != len(stale)+1 || more[len(more)-1].Line != wantLine || more[len(more)-1].Host != "bitbucket.org" {
			t.Fatalf("retired line %d after the fuzz data not found: %+v", wantLine, more)
		}
	})
}

func checkStale(t *testing.T, s Stale, lines int) {
	t.Helper()
	if s.Line < 1 || s.Line > lines {
		t.Fatalf("stale line %d outside 1..%d", s.Line, lines)
	}
	if !slices.ContainsFunc(RetiredKeys, func(k RetiredKey) bool { return k.Fingerprint == s.Fingerprint && k.Type == s.Type }) {
		t.Fatalf("stale entry for a key that is not retired: %+v", s)
	}
	if !slices.Contains(RetiredHosts, s.Host) {
		t.Fatalf("stale entry for a host that is not Bitbucket's: %+v", s)
	}
	if fix := s.Fix(); !strings.HasPrefix(fix, "ssh-keygen -R ") || strings.ContainsAny(fix, "\n\r") {
		t.Fatalf("Fix = %q", fix)
	}
}
