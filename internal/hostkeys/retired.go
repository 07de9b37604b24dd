package hostkeys

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/internal/text"
)

// RetiredKey is a host key Bitbucket no longer presents.
type RetiredKey struct {
	Type        string
	Fingerprint string
}

// RetiredKeys are the keys Bitbucket retired in June 2023 (API.md §4). A known_hosts line
// pinning one of them for a Bitbucket host makes ssh stop with "REMOTE HOST
// IDENTIFICATION HAS CHANGED" (or, with StrictHostKeyChecking, "Host key verification
// failed").
var RetiredKeys = []RetiredKey{
	{Type: "RSA", Fingerprint: "SHA256:zzXQOXSRBEiUtuE8AikJYKwbHaxvSc0ojez9YXaGp1A"},
	{Type: "DSA", Fingerprint: "SHA256:RezPkAnH1sowiJM0NQXH90IohWdzHc3fAisEp7L3O3o"},
}

// RetiredHosts are the names under which the user's known_hosts may hold Bitbucket's old
// keys, in known_hosts notation (port 22 bare, other ports bracketed), which is also what
// hashed entries hash.
var RetiredHosts = []string{
	"bitbucket.org", "ssh.bitbucket.org", "altssh.bitbucket.org",
	"[altssh.bitbucket.org]:443", "[bitbucket.org]:443", "[ssh.bitbucket.org]:443",
}

// Stale is one known_hosts line pinning a retired key for a Bitbucket host.
type Stale struct {
	File        string `json:"file"`
	Line        int    `json:"line"`
	Host        string `json:"host"`   // the Bitbucket host name the line matches
	Hashed      bool   `json:"hashed"` // the line's host names are hashed
	Type        string `json:"type"`
	Fingerprint string `json:"fingerprint"`
}

// Fix is the command that removes the line (and any other entry for the host).
func (s Stale) Fix() string {
	return fmt.Sprintf("ssh-keygen -R %s -f %s", text.CommandQuote(s.Host), text.CommandQuote(s.File))
}

// String describes the finding for a doctor report.
func (s Stale) String() string {
	h := s.Host
	if s.Hashed {
		h += " (hashed)"
	}
	return fmt.Sprintf("%s:%d pins the retired %s key %s for %s", s.File, s.Line, s.Type, s.Fingerprint, h)
}

// FindRetired scans a known_hosts file (normally ~/.ssh/known_hosts) for RetiredKeys
// pinned under RetiredHosts. A missing file has none.
func FindRetired(path string) ([]Stale, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ScanRetired(f, path, RetiredKeys)
}

// ScanRetired reads known_hosts data and returns its lines pinning any of retired for a
// Bitbucket host, plain or hashed. Lines it cannot parse, @revoked lines (which already
// distrust a key) and @cert-authority lines are skipped: a doctor must not fail on a file
// ssh itself tolerates.
func ScanRetired(r io.Reader, file string, retired []RetiredKey) ([]Stale, error) {
	var out []Stale
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		marker, hosts, key, _, _, err := ssh.ParseKnownHosts(sc.Bytes())
		if err != nil || key == nil || marker != "" {
			continue
		}
		fp := ssh.FingerprintSHA256(key)
		i := slices.IndexFunc(retired, func(k RetiredKey) bool { return k.Fingerprint == fp })
		if i < 0 {
			continue
		}
		for _, h := range RetiredHosts {
			if hostsMatch(hosts, h) {
				out = append(out, Stale{
					File: file, Line: n, Host: h, Type: retired[i].Type, Fingerprint: fp,
					Hashed: slices.ContainsFunc(hosts, func(x string) bool { return strings.HasPrefix(x, "|1|") }),
				})
				break
			}
		}
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("reading %s: %w", file, err)
	}
	return out, nil
}

// FixCommands returns the commands that remove every stale entry, one per host and file.
func FixCommands(stale []Stale) []string {
	var cmds []string
	for _, s := range stale {
		if c := s.Fix(); !slices.Contains(cmds, c) {
			cmds = append(cmds, c)
		}
	}
	return cmds
}

// StaleError explains stale entries as what they cause (FixCommands fix them); nil when
// there are none. The message is what `doctor` shows next to ssh's "REMOTE HOST
// IDENTIFICATION HAS CHANGED".
func StaleError(stale []Stale) error {
	if len(stale) == 0 {
		return nil
	}
	where := make([]string, len(stale))
	for i, s := range stale {
		where[i] = fmt.Sprintf("%s:%d", s.File, s.Line)
	}
	return fmt.Errorf("%s still pins a host key Bitbucket retired in June 2023 (%s %s): "+
		"this is why ssh to Bitbucket says REMOTE HOST IDENTIFICATION HAS CHANGED",
		strings.Join(where, ", "), stale[0].Type, stale[0].Fingerprint)
}
