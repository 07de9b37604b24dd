package hostkeys

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/fsutil"
)

// File is the name of bbkey's known_hosts inside ~/.ssh/bbkey.
const File = "known_hosts"

// Path returns ~/.ssh/bbkey/known_hosts for an ssh directory.
func Path(sshDir string) string { return filepath.Join(sshDir, "bbkey", File) }

// WriteResult says what Write changed (or would change).
type WriteResult struct {
	Changed bool   `json:"changed"`
	Path    string `json:"path"`
}

// Write makes path hold the pins, atomically and under bbkey's lock
// (~/.ssh/bbkey/.lock, shared with the ssh config editor): the set filed under p.Alias is
// replaced, the sets of other aliases (another Bitbucket's: Cloud's, a Data Center
// server's) and any @revoked lines are kept as they are. A second run changes nothing.
// With dryRun it only reports whether the file would change.
func Write(ctx context.Context, path string, p Pins, dryRun bool) (WriteResult, error) {
	if len(p.Keys) == 0 || p.Alias == "" {
		return WriteResult{Path: path}, errors.New("no host keys to pin")
	}
	return write(ctx, path, dryRun, func(old []byte) []byte {
		sets := parseSets(old)
		if i := slices.IndexFunc(sets, func(s Pins) bool { return strings.EqualFold(s.Alias, p.Alias) }); i >= 0 {
			sets[i] = p
		} else {
			sets = append(sets, p)
		}
		return RenderAll(sets)
	})
}

// WriteAll makes path hold exactly the sets, in order, as Write does for one; a set no
// longer given is dropped.
func WriteAll(ctx context.Context, path string, sets []Pins, dryRun bool) (WriteResult, error) {
	for _, p := range sets {
		if len(p.Keys) == 0 || p.Alias == "" {
			return WriteResult{Path: path}, errors.New("no host keys to pin")
		}
	}
	return write(ctx, path, dryRun, func([]byte) []byte { return RenderAll(sets) })
}

func write(ctx context.Context, path string, dryRun bool, render func(old []byte) []byte) (WriteResult, error) {
	res := WriteResult{Path: path}
	if !dryRun {
		dir := filepath.Dir(path)
		if err := fsutil.MkdirPrivate(dir); err != nil {
			return res, fmt.Errorf("creating %s: %w", dir, err)
		}
		lock, err := fsutil.LockContext(ctx, filepath.Join(dir, ".lock"))
		if err != nil {
			return res, fmt.Errorf("locking %s: %w", path, err)
		}
		defer lock.Unlock()
	}
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return res, err
	}
	want := render(old)
	// A revocation a user or administrator added stays, as ssh must keep refusing the key.
	for line := range bytes.Lines(old) {
		if bytes.HasPrefix(line, []byte("@revoked")) {
			want = append(want, bytes.TrimRight(line, "\r\n")...)
			want = append(want, '\n')
		}
	}
	if res.Changed = !bytes.Equal(old, want); dryRun || !res.Changed {
		return res, nil
	}
	// Host keys are public; 0644 is what ssh-keyscan users and ssh itself produce.
	return res, fsutil.WriteFileAtomic(path, want, 0o644)
}

// parseSets reads back the sets RenderAll wrote: each "# Source:" line starts one, filed
// under the first host name of its first key. Other lines bbkey did not write are dropped
// (the file is bbkey's own).
func parseSets(b []byte) []Pins {
	var sets []Pins
	var cur *Pins
	for line := range strings.Lines(string(b)) {
		line = strings.TrimRight(line, "\r\n")
		if src, ok := strings.CutPrefix(line, "# Source: "); ok {
			sets = append(sets, Pins{Source: src})
			cur = &sets[len(sets)-1]
			continue
		}
		if cur == nil {
			continue
		}
		marker, hosts, key, _, _, err := ssh.ParseKnownHosts([]byte(line))
		if err != nil || key == nil || marker != "" || len(hosts) == 0 {
			continue
		}
		if cur.Alias == "" {
			cur.Alias = hosts[0]
			cur.Builtin = len(hosts) > 1
		}
		cur.Keys = append(cur.Keys, key)
	}
	return slices.DeleteFunc(sets, func(p Pins) bool { return p.Alias == "" || len(p.Keys) == 0 })
}

// Load reads the keys pinned for alias in a known_hosts file (plain, hashed or by pattern).
func Load(path, alias string) ([]ssh.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading pinned host keys: %w", err)
	}
	keys, _ := scan(b, path, alias)
	return keys, nil
}

// revocation is a known_hosts line marking a key @revoked for a host.
type revocation struct {
	key  ssh.PublicKey
	file string
	line int
}

// scan returns the keys data pins for host and those it marks @revoked for it. Other
// markers (@cert-authority) and lines ssh cannot parse are skipped, as ssh skips them.
func scan(data []byte, file, host string) (keys []ssh.PublicKey, revoked []revocation) {
	host = knownhosts.Normalize(host)
	for n, line := range bytes.Split(data, []byte("\n")) {
		marker, hosts, key, _, _, err := ssh.ParseKnownHosts(line)
		if err != nil || key == nil || !hostsMatch(hosts, host) {
			continue
		}
		switch marker {
		case "":
			keys = append(keys, key)
		case "revoked":
			revoked = append(revoked, revocation{key, file, n + 1})
		}
	}
	return keys, revoked
}

// systemKnownHosts names the files ssh reads as GlobalKnownHostsFile by default (bbkey's Host
// blocks set only the user's file): an administrator's @revoked line there counts too.
var systemKnownHosts = func() []string {
	switch pd := os.Getenv("ProgramData"); {
	case runtime.GOOS != "windows":
		return []string{"/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"}
	case pd != "":
		return []string{filepath.Join(pd, "ssh", "ssh_known_hosts")}
	}
	return nil // never a path relative to the working directory
}

// Verifier checks host keys against the keys pinned for Alias in bbkey's known_hosts:
// what setup wrote is what its proof trusts.
type Verifier struct {
	Alias string
	File  string
	Keys  []ssh.PublicKey
	// Source is shown in the mismatch hint: CheckURL or the --ssh-host-keys file.
	Source string
}

// NewVerifier reads the pinned keys for alias from file. A file with no key for alias is
// an error: bbkey never trusts on first use.
func NewVerifier(file, alias string) (*Verifier, error) {
	keys, err := Load(file, alias)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, errkind.WithHint(fmt.Errorf("no host key pinned for %s in %s", alias, file),
			"run bbkey setup (or bbkey doctor --fix) to pin Bitbucket's host keys")
	}
	return &Verifier{Alias: alias, File: file, Keys: keys, Source: CheckURL}, nil
}

// HostKeyAlgorithms are the algorithms to negotiate so the server presents a pinned type.
func (v *Verifier) HostKeyAlgorithms() []string { return HostKeyAlgorithms(v.Keys) }

// HostKeyCallback checks the key a server presents, whatever address was dialled, against
// the keys pinned for the alias, as OpenSSH does with HostKeyAlias; a key marked @revoked
// is refused first (Guard).
func (v *Verifier) HostKeyCallback() ssh.HostKeyCallback {
	pins := Pins{Alias: v.Alias, Keys: v.Keys, Source: v.Source}
	return pins.Guard(func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := pins.HostKeyCallback(hostname)(hostname, remote, key)
		if m, ok := err.(*MismatchError); ok {
			m.File = v.File
		}
		return err
	}, v.File)
}

// Guard wraps cb so that, as ssh does, a key marked @revoked for p.Alias in file (bbkey's
// known_hosts, ssh's UserKnownHostsFile for the alias) or in the system-wide known_hosts
// is refused whatever cb or any pin says. The files are read when a key is checked.
func (p Pins) Guard(cb ssh.HostKeyCallback, file string) ssh.HostKeyCallback {
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		for _, f := range append([]string{file}, systemKnownHosts()...) {
			b, err := os.ReadFile(f)
			if err != nil {
				continue // ssh skips a known_hosts file it cannot read
			}
			_, revoked := scan(b, f, p.Alias)
			for _, r := range revoked {
				if equalTo(key)(r.key) {
					return &RevokedError{Alias: p.Alias, Endpoint: hostname, Seen: describe(key), File: r.file, Line: r.line, Source: p.Source}
				}
			}
		}
		return cb(hostname, remote, key)
	}
}

// RevokedError is a server presenting a host key a known_hosts line marks @revoked.
type RevokedError struct {
	Alias, Endpoint, Seen string
	File                  string
	Line                  int
	Source                string
}

func (e *RevokedError) Error() string {
	return fmt.Sprintf("host key of %s is marked @revoked in %s:%d: the server presented %s",
		where(e.Alias, e.Endpoint), e.File, e.Line, e.Seen)
}

// ExitCode makes a revoked host key an SSH verification failure (exit 5).
func (e *RevokedError) ExitCode() int { return errkind.ExitVerify }

// Hints say that ssh refuses the key too, where to check, and how to undo a mistaken line.
func (e *RevokedError) Hints() []string {
	return []string{fmt.Sprintf("ssh refuses a revoked key too; check the server's keys at %s, and delete line %d of %s only if the revocation is a mistake",
		cmp.Or(e.Source, CheckURL), e.Line, e.File)}
}

// where names the alias and, when it says more, the address dialled.
func where(alias, endpoint string) string {
	if endpoint != "" && !strings.HasPrefix(endpoint, alias+":") {
		return alias + " (" + endpoint + ")"
	}
	return alias
}

// MismatchError is a server presenting a host key that is not pinned for the alias.
type MismatchError struct {
	Alias    string
	Endpoint string // the address dialled
	Seen     string // "type SHA256:…" of the key presented
	Pinned   []string
	Revoked  bool   // Seen is one of RetiredKeys
	File     string // the known_hosts read, if any
	Source   string
}

func (e *MismatchError) Error() string {
	where := where(e.Alias, e.Endpoint)
	if e.Revoked {
		return fmt.Sprintf("host key of %s is one Bitbucket retired in June 2023: the server presented %s", where, e.Seen)
	}
	if len(e.Pinned) == 0 {
		return fmt.Sprintf("no host key pinned for %s in %s: the server presented %s", where, e.File, e.Seen)
	}
	return fmt.Sprintf("host key of %s does not match the pinned keys: the server presented %s; pinned: %s",
		where, e.Seen, strings.Join(e.Pinned, ", "))
}

// ExitCode makes a host key mismatch an SSH verification failure (exit 5).
func (e *MismatchError) ExitCode() int { return errkind.ExitVerify }

// Hints say where to check the fingerprints and what not to do.
func (e *MismatchError) Hints() []string {
	return []string{
		"check them at " + cmp.Or(e.Source, CheckURL) + ": bbkey never trusts a host key on first use; if the server's key is not listed there, someone may be intercepting the connection",
	}
}

// hostsMatch reports whether a known_hosts host list names host (already normalized to
// known_hosts notation) as ssh decides it: a pattern with '*' and '?' (case-insensitive),
// a hashed name, and no negated pattern ("!pattern") matching.
func hostsMatch(hosts []string, host string) bool {
	found := false
	for _, h := range hosts {
		if neg, ok := strings.CutPrefix(h, "!"); ok {
			if wildcard(strings.ToLower(neg), strings.ToLower(host)) {
				return false
			}
			continue
		}
		found = found || hashedMatch(h, host) || wildcard(strings.ToLower(h), strings.ToLower(host))
	}
	return found
}

// wildcard matches s against an OpenSSH pattern: '*' any run of characters, '?' one.
// Backtracking only to the last '*' keeps it linear in practice, whatever the pattern.
func wildcard(pattern, s string) bool {
	p, i, star, mark := 0, 0, -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p, i = p+1, i+1
		case p < len(pattern) && pattern[p] == '*':
			star, mark, p = p, i, p+1
		case star >= 0:
			mark++
			p, i = star+1, mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// hashedMatch checks a HashKnownHosts entry `|1|base64(salt)|base64(HMAC-SHA1(salt, host))`.
func hashedMatch(entry, host string) bool {
	parts := strings.Split(entry, "|")
	if len(parts) != 4 || parts[0] != "" || parts[1] != "1" {
		return false
	}
	salt, err1 := base64.StdEncoding.DecodeString(parts[2])
	sum, err2 := base64.StdEncoding.DecodeString(parts[3])
	if err1 != nil || err2 != nil {
		return false
	}
	mac := hmac.New(sha1.New, salt)
	mac.Write([]byte(host))
	return hmac.Equal(mac.Sum(nil), sum)
}
