package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/bbkey/bbkey/internal/fsutil"
	"github.com/bbkey/bbkey/internal/gitrun"
)

// Credential file formats.
const (
	FormatGitCredentials = "git-credentials"
	FormatNetrc          = "netrc"
)

// CredFile is a credential file that holds Bitbucket entries (as `bbkey remote --json`
// shows it).
type CredFile struct {
	Path   string `json:"path"`
	Format string `json:"format"`
	// Entries describe the Bitbucket entries without their secrets, e.g.
	// "https://alice:***@bitbucket.org" or "machine bitbucket.org login alice".
	Entries []string `json:"entries"`
	// Removed counts the entries Scrub removed.
	Removed int `json:"removed"`
	// Backup is the copy of the original file Scrub made before removing the entries.
	Backup string `json:"backup,omitempty"`
}

// ScrubPlan lists the secrets Scrub would remove.
type ScrubPlan struct {
	Files []CredFile
	// Helpers are the credential helpers git would ask for https://bitbucket.org, in
	// order; Scrub asks them all to forget the Bitbucket entry with `git credential reject`.
	Helpers []string
	// Rejected is set once `git credential reject` succeeded.
	Rejected bool

	home   string
	target ScrubTarget
}

// CredentialFiles are the files git and curl read credentials from: ~/.git-credentials
// and $XDG_CONFIG_HOME/git/credentials (git's store helper), ~/.netrc and ~/_netrc.
// xdgConfigHome empty means ~/.config, as git does.
func CredentialFiles(home, xdgConfigHome string) []CredFile {
	if xdgConfigHome == "" {
		xdgConfigHome = filepath.Join(home, ".config")
	}
	return []CredFile{
		{Path: filepath.Join(home, ".git-credentials"), Format: FormatGitCredentials},
		{Path: filepath.Join(xdgConfigHome, "git", "credentials"), Format: FormatGitCredentials},
		{Path: filepath.Join(home, ".netrc"), Format: FormatNetrc},
		{Path: filepath.Join(home, "_netrc"), Format: FormatNetrc},
	}
}

// ScrubTarget says whose stored credentials PlanScrubFor finds and Scrub removes.
type ScrubTarget struct {
	// Hosts are the host names whose entries go: "host" matches any port, "host:port"
	// that port only (a netrc entry, which names no port, matches by its host).
	Hosts []string
	// URL is what git's credential helpers are asked to forget: its scheme and host.
	URL string
}

// URL is what the plan asks git's credential helpers to forget.
func (sp *ScrubPlan) URL() string { return sp.target.URL }

// CloudScrub is Bitbucket Cloud's: the web and git host, the REST API (tools that call
// it keep their token under its name), and the two SSH names.
var CloudScrub = ScrubTarget{
	Hosts: []string{cloudHTTPSHost, apiHost, altSSHHost, defaultSSHHost},
	URL:   "https://" + cloudHTTPSHost,
}

// DataCenterScrub is a Data Center server's: its web host, with its port when the URL
// names one that is not the scheme's default (a credential for the same host on another
// port belongs to another service and stays).
func DataCenterScrub(serverURL string) ScrubTarget {
	t := ScrubTarget{URL: serverURL}
	if u, err := url.Parse(serverURL); err == nil && u.Hostname() != "" {
		h := strings.ToLower(u.Hostname())
		if p := defaultPort(u.Scheme, u.Port()); p != "" {
			h += ":" + p
		}
		t.Hosts = append(t.Hosts, h)
	}
	return t
}

// match reports whether host with port ("" for the scheme's default) is one of the
// target's; anyPort matches by name alone (a netrc machine name carries no port).
func (t ScrubTarget) match(host, port string, anyPort bool) bool {
	for _, h := range t.Hosts {
		name, p, hasPort := strings.Cut(h, ":")
		if strings.EqualFold(name, host) && (anyPort || !hasPort || p == port) {
			return true
		}
	}
	return false
}

// helperHost is the scheme and host[:port] of URL, as `git credential` takes them.
func (t ScrubTarget) helperHost() (scheme, host string) {
	u, err := url.Parse(t.URL)
	if err != nil || u.Host == "" {
		return "https", cloudHTTPSHost
	}
	return strings.ToLower(u.Scheme), strings.ToLower(u.Host)
}

// PlanScrubFor finds the entries of t's hosts (CloudScrub, or a server's DataCenterScrub)
// in the credential files, and the credential helpers git would ask for t's URL (git runs
// in home, so the user's global configuration applies).
func PlanScrubFor(ctx context.Context, git gitrun.Runner, home, xdgConfigHome string, t ScrubTarget) (*ScrubPlan, error) {
	sp := &ScrubPlan{home: home, target: t}
	for _, cf := range CredentialFiles(home, xdgConfigHome) {
		data, err := os.ReadFile(cf.Path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", cf.Path, err)
		}
		_, cf.Entries = removeHosts(t, cf.Format, data)
		if len(cf.Entries) > 0 {
			sp.Files = append(sp.Files, cf)
		}
	}
	helpers, err := credentialHelpers(ctx, git, home, t)
	if err != nil {
		return nil, err
	}
	sp.Helpers = helpers
	return sp, nil
}

// credentialHelpers lists credential.helper values that apply to the target's URL.
// An empty value resets the list, as in git.
func credentialHelpers(ctx context.Context, git gitrun.Runner, dir string, t ScrubTarget) ([]string, error) {
	es, err := listConfig(ctx, git, dir)
	if err != nil {
		return nil, fmt.Errorf("reading the git credential helpers: %w", err)
	}
	scheme, hostPort := t.helperHost()
	host, port, _ := strings.Cut(hostPort, ":")
	var helpers []string
	for _, e := range es {
		sec, sub, name := e.parts()
		if sec != "credential" || name != "helper" {
			continue
		}
		if sub != "" {
			p, ok := split(sub)
			if !ok || p.host != host || defaultPort(p.scheme, p.port) != defaultPort(scheme, port) || (p.scheme != scheme && p.scheme != "") {
				continue
			}
		}
		if e.value == "" {
			helpers = nil
			continue
		}
		helpers = append(helpers, e.value)
	}
	return helpers, nil
}

// Scrub removes the planned entries from each file (re-read under git's lock, after a
// backup copy of the original, 0600, next to it), then asks the credential helpers to
// forget https://bitbucket.org. Files come first: the store helper's reject would remove
// the same lines without a backup. now names the backups.
func Scrub(ctx context.Context, git gitrun.Runner, sp *ScrubPlan, now time.Time) error {
	var errs []error
	for i := range sp.Files {
		if err := scrubFile(&sp.Files[i], sp.target, now); err != nil {
			errs = append(errs, err)
		}
	}
	if len(sp.Helpers) > 0 {
		scheme, host := sp.target.helperHost()
		_, err := git.RunInput(ctx, sp.home, "protocol="+scheme+"\nhost="+host+"\n\n", "credential", "reject")
		if err != nil {
			errs = append(errs, fmt.Errorf("asking the credential helpers to forget %s: %w", host, err))
		} else {
			sp.Rejected = true
		}
	}
	return errors.Join(errs...)
}

func scrubFile(cf *CredFile, t ScrubTarget, now time.Time) error {
	target, err := fsutil.ResolveTarget(cf.Path)
	if err != nil {
		return err
	}
	// git's store helper locks <file>.lock while it rewrites the file; take the same lock
	// so neither loses the other's write.
	lock := target + ".lock"
	lf, err := os.OpenFile(lock, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s is locked by another process (%s exists)", cf.Path, lock)
		}
		return fmt.Errorf("locking %s: %w", cf.Path, err)
	}
	lf.Close()
	defer os.Remove(lock)

	data, err := os.ReadFile(target)
	if err != nil {
		return fmt.Errorf("reading %s: %w", cf.Path, err)
	}
	out, removed := removeHosts(t, cf.Format, data)
	if len(removed) == 0 {
		return nil
	}
	backup, err := WriteBackup(target, data, now)
	if err != nil {
		return err
	}
	if err := fsutil.WriteFileAtomic(target, out, 0o600); err != nil {
		return fmt.Errorf("removing the Bitbucket entries from %s: %w", cf.Path, err)
	}
	cf.Backup, cf.Removed, cf.Entries = backup, len(removed), removed
	return nil
}

// WriteBackup copies data to <file>.bbkey-backup-<UTC time>, never over an existing file.
func WriteBackup(target string, data []byte, now time.Time) (string, error) {
	base := target + ".bbkey-backup-" + now.UTC().Format("20060102T150405Z")
	for i := range 100 {
		name := base
		if i > 0 {
			name = fmt.Sprintf("%s-%d", base, i)
		}
		err := fsutil.CreateExclusive(name, data, 0o600)
		if err == nil {
			return name, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("backing up %s: %w", target, err)
		}
	}
	return "", fmt.Errorf("backing up %s: too many backups named %s-N", target, base)
}

// removeHosts returns data without its entries for the target's hosts, and a
// description of each entry removed (without secrets). Every other byte is kept.
func removeHosts(t ScrubTarget, format string, data []byte) ([]byte, []string) {
	if format == FormatNetrc {
		return netrcRemove(data, func(h string) bool { return t.match(h, "", true) })
	}
	var out bytes.Buffer
	var removed []string
	for line := range bytes.Lines(data) {
		s := strings.TrimRight(string(line), "\r\n")
		if p, ok := split(unescapeCredentialHost(s)); ok && p.form == formURL && (p.scheme == "https" || p.scheme == "http") && t.match(p.host, defaultPort(p.scheme, p.port), false) {
			removed = append(removed, Mask(s))
			continue
		}
		out.Write(line)
	}
	return out.Bytes(), removed
}

// unescapeCredentialHost decodes the host of a git-credentials line: git's store helper
// percent-encodes it, so a server on a port is written 127.0.0.1%3a7990. The rest of the
// line is left as it is (only the host is matched).
func unescapeCredentialHost(s string) string {
	head, user, rest, found := cutUser(s)
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	host, err := url.PathUnescape(rest[:end])
	if head == "" || err != nil {
		return s
	}
	if found {
		user += "@"
	}
	return head + user + host + rest[end:]
}

// netrc tokens with their byte offsets.
type netrcToken struct {
	start, end int
	text       string
}

// netrcRemove removes the machine entries whose name matches. An entry runs from its
// "machine" token to the end of the line of its last token (or to the next entry, when
// that starts on the same line), so comments and blank lines between entries stay.
func netrcRemove(data []byte, match func(host string) bool) ([]byte, []string) {
	toks := netrcTokens(data)
	type span struct{ start, end int }
	var cut []span
	var removed []string
	for i := 0; i < len(toks); i++ {
		if toks[i].text != "machine" || i+1 >= len(toks) || !match(toks[i+1].text) {
			continue
		}
		j := i + 2
		login := ""
		for ; j < len(toks) && toks[j].text != "machine" && toks[j].text != "default"; j++ {
			if toks[j].text == "login" && j+1 < len(toks) {
				login = toks[j+1].text
			}
		}
		end := toks[j-1].end
		if toks[j-1].text != "macdef" { // a macdef token already ends after its body
			if nl := bytes.IndexByte(data[end:], '\n'); nl >= 0 {
				end += nl + 1
			} else {
				end = len(data)
			}
		}
		if j < len(toks) && toks[j].start < end {
			end = toks[j].start
		}
		cut = append(cut, span{toks[i].start, end})
		desc := "machine " + toks[i+1].text
		if login != "" {
			desc += " login " + login
		}
		removed = append(removed, desc)
		i = j - 1
	}
	if len(cut) == 0 {
		return data, nil
	}
	var out bytes.Buffer
	prev := 0
	for _, c := range cut {
		out.Write(data[prev:c.start])
		prev = c.end
	}
	out.Write(data[prev:])
	return out.Bytes(), removed
}

// netrcWord matches, at each place of a netrc file, a '#' comment line, a "quoted
// string" with backslash escapes (as curl reads them), or a whitespace-separated word.
var netrcWord = regexp.MustCompile(`(?m)^[ \t\r\f\v]*#.*|"(?:\\[\s\S]?|[^"\\\n])*"?|[^ \t\n\r\f\v]+`)

// netrcTokens splits a netrc file into tokens, comment lines and macdef bodies (which run
// to the first empty line) skipped. A macdef body becomes part of the macdef token so an
// entry that holds one ends after it.
func netrcTokens(data []byte) []netrcToken {
	var toks []netrcToken
	skip := 0
	for _, m := range netrcWord.FindAllIndex(data, -1) {
		w := data[m[0]:m[1]]
		if m[0] < skip || strings.IndexByte(" \t\r\f\v", w[0]) >= 0 || w[0] == '#' && (m[0] == 0 || data[m[0]-1] == '\n') {
			continue // a comment line, or inside a macdef body
		}
		tok := netrcToken{start: m[0], end: m[1], text: string(w)}
		if w[0] == '"' {
			var b strings.Builder
			for i := 1; i < len(w) && w[i] != '"'; i++ {
				if w[i] == '\\' && i+1 < len(w) {
					i++
				}
				b.WriteByte(w[i])
			}
			tok.text = b.String()
		}
		if tok.text == "macdef" {
			// macdef NAME, then the body from the next line to an empty line.
			i := m[1]
			if nl := bytes.IndexByte(data[i:], '\n'); nl >= 0 {
				i += nl + 1
			} else {
				i = len(data)
			}
			for i < len(data) {
				nl := bytes.IndexByte(data[i:], '\n')
				if nl < 0 {
					i = len(data)
					break
				}
				empty := len(bytes.TrimRight(data[i:i+nl], "\r")) == 0
				i += nl + 1
				if empty {
					break
				}
			}
			tok.end, skip = i, i
		}
		toks = append(toks, tok)
	}
	return toks
}
