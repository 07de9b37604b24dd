package remote

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"sync"

	"github.com/bbkey/bbkey/internal/redact"
)

// Status says what Rewrite decided for one URL.
type Status int

const (
	// NotBitbucket is any other host: never touched, never reported.
	NotBitbucket Status = iota
	// NeedsRewrite is a Bitbucket Cloud URL that is not yet in the target form.
	NeedsRewrite
	// Current is a Bitbucket Cloud URL already in the target form.
	Current
	// DataCenter is a Bitbucket Data Center / Server URL: not Cloud, left alone.
	DataCenter
	// Unsupported is a Bitbucket Cloud host written in a form bbkey will not guess at
	// (a web page URL, a query, an odd port): left alone and reported.
	Unsupported
)

var statusNames = [...]string{"not-bitbucket", "change", "current", "datacenter", "unsupported"}

func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "unknown"
}

// Bitbucket Cloud host names. bitbucket.org serves HTTPS only since 12 November 2026; the
// SSH names are kept so old remotes can be recognised and moved.
const (
	cloudHTTPSHost = "bitbucket.org"
	apiHost        = "api.bitbucket.org"
	altSSHHost     = "altssh.bitbucket.org"
	defaultSSHHost = "ssh.bitbucket.org"
)

// Rewriter decides what happens to remote URLs: Target for Bitbucket Cloud,
// DataCenterTarget for one Data Center server.
type Rewriter interface {
	Rewrite(raw string) Result
	// RewriteBase decides what happens to the base of a url.<base>.insteadOf entry.
	RewriteBase(raw string) Result
	// Host is the host remotes are written with, for messages.
	Host() string
	// URL is a repository's remote: Cloud's workspace and repository, or a Data Center
	// project key and repository slug.
	URL(owner, repo string) string
}

// Target is the form Bitbucket Cloud remotes are rewritten to.
type Target struct {
	// SSHHost is the host written into SSH remotes (the --ssh-host setting); empty means
	// ssh.bitbucket.org.
	SSHHost string
	// Name selects an account alias: remotes become git@<SSHHost>-<Name>:WS/REPO.git.
	Name string
	// HTTPS reverses the migration: https://bitbucket.org/WS/REPO.git, never with a user
	// or secret.
	HTTPS bool
}

func (t Target) sshHost() string {
	if t.SSHHost == "" {
		return defaultSSHHost
	}
	return strings.ToLower(t.SSHHost)
}

// Validate checks that the SSH host and the account name can be written into a remote.
func (t Target) Validate() error {
	if t.SSHHost != "" && !validHost(t.SSHHost) {
		return fmt.Errorf("invalid ssh host %q: want a host name", t.SSHHost)
	}
	if t.Name != "" && !validName(t.Name) {
		return fmt.Errorf("invalid account name %q: use letters, digits, '.', '_' or '-'", t.Name)
	}
	return nil
}

// Host is the host name remotes are written with.
func (t Target) Host() string {
	if t.HTTPS {
		return cloudHTTPSHost
	}
	if t.Name != "" {
		return t.sshHost() + "-" + t.Name
	}
	return t.sshHost()
}

// URL renders the target URL of a repository.
func (t Target) URL(workspace, repo string) string {
	if t.HTTPS {
		return "https://" + cloudHTTPSHost + "/" + workspace + "/" + repo + ".git"
	}
	return "git@" + t.Host() + ":" + workspace + "/" + repo + ".git"
}

// Result is the decision for one URL.
type Result struct {
	Status Status
	// New is the rewritten URL (Status NeedsRewrite) or the URL itself (Current).
	New string
	// Secret is set when the URL carries a password or a token.
	Secret bool
	// Reason says why a Bitbucket URL is left alone (DataCenter, Unsupported).
	Reason string
}

// cloud parses raw as a Bitbucket Cloud URL the target can rewrite; when it cannot, res
// is the decision (NotBitbucket, DataCenter with dc, Unsupported).
func (t Target) cloud(raw string, dc bool) (p parsed, res Result, ok bool) {
	if p, ok = split(raw); !ok {
		return p, Result{Status: NotBitbucket}, false
	}
	res = Result{Secret: p.secret()}
	switch {
	case !t.isCloud(p) && dc && dataCenter(p) != "":
		res.Status, res.Reason = DataCenter, dataCenter(p)
	case !t.isCloud(p):
		res = Result{Status: NotBitbucket}
	case t.unsupported(p) != "":
		res.Status, res.Reason = Unsupported, t.unsupported(p)
	default:
		return p, res, true
	}
	return p, res, false
}

// Rewrite decides what happens to one remote URL.
func (t Target) Rewrite(raw string) Result {
	p, res, ok := t.cloud(raw, true)
	if !ok {
		return res
	}
	ws, repo, ok := repoPath(p.path, p.form == formSCP)
	if !ok {
		res.Status, res.Reason = Unsupported, "not a WORKSPACE/REPO path"
		return res
	}
	res.Status, res.New = NeedsRewrite, t.URL(ws, repo)
	// Without --name, a remote on an account alias of the SSH host is current too: it
	// belongs to another account the user set up on purpose.
	if raw == res.New || !t.HTTPS && t.Name == "" && p.form == formSCP && p.userinfo == "git" &&
		t.aliasOf(p.host) != "" && raw == "git@"+p.host+":"+ws+"/"+repo+".git" {
		res.Status, res.New = Current, raw
	}
	return res
}

// RewriteBase decides what happens to the base of a url.<base>.insteadOf entry: a prefix
// of Bitbucket Cloud URLs (scheme and host, maybe the start of a path). The new base keeps
// the rest of the prefix, so every URL the entry rewrote still lands on the same
// repository, now on the target host.
func (t Target) RewriteBase(raw string) Result {
	p, res, ok := t.cloud(raw, false)
	if !ok {
		return res
	}
	rest := p.path
	if p.form == formSCP {
		rest = strings.TrimPrefix(rest, "/")
		if rest != "" {
			rest = "/" + rest
		} else {
			// git@host: is followed by WS/REPO, so the prefix stands for "/".
			rest = "/"
		}
	}
	if !validPrefix(rest) {
		res.Status, res.Reason = Unsupported, "not a prefix of WORKSPACE/REPO paths"
		return res
	}
	var nb string
	switch {
	case t.HTTPS:
		nb = "https://" + cloudHTTPSHost + rest
	case rest == "":
		// https://bitbucket.org + "/ws/repo": the remainder starts with a slash, which
		// only the ssh:// form can carry.
		nb = "ssh://git@" + t.Host()
	default:
		nb = "git@" + t.Host() + ":" + rest[1:]
	}
	if nb == raw {
		res.Status, res.New = Current, raw
		return res
	}
	res.Status, res.New = NeedsRewrite, nb
	return res
}

// Mask hides the secret of a URL for display: the password, or a user name that looks like
// a token. URLs without credentials come back unchanged.
func Mask(raw string) string {
	head, ui, rest, found := cutUser(raw)
	if head == "" || !found {
		return redact.URLs(raw)
	}
	if j := strings.IndexAny(ui, ":@"); j >= 0 {
		ui = ui[:j] + ":" + redact.Mask
	} else if redact.URLs("x://"+ui+"@h") != "x://"+ui+"@h" {
		ui = redact.Mask
	}
	return redact.URLs(head + ui + "@" + rest)
}

// cutUser splits a URL around the last '@' of its authority (up to the path, or for
// scp-like remotes up to the first colon): head is "scheme://" ("" for scp-like), user
// the userinfo, rest the host onward.
func cutUser(raw string) (head, user, rest string, found bool) {
	end := strings.IndexByte(raw, ':')
	if i := strings.Index(raw, "://"); i >= 0 {
		head, raw = raw[:i+3], raw[i+3:]
		end = strings.IndexAny(raw, "/?#")
	}
	if end < 0 {
		end = len(raw)
	}
	if at := strings.LastIndex(raw[:end], "@"); at >= 0 {
		return head, raw[:at], raw[at+1:], true
	}
	return head, "", raw, false
}

type form int

const (
	formURL form = iota // scheme://…
	formSCP             // [user@]host:path
)

// parsed is a URL split the way git splits it, with the host lower-cased and the path of
// scheme URLs percent-decoded.
type parsed struct {
	form     form
	scheme   string // lower-case; "" for scp-like
	userinfo string
	nAt      int // number of '@' in the authority
	host     string
	port     string
	path     string
	query    bool // '?' or '#' follow the path
	badPath  bool // the path does not percent-decode
}

func (p parsed) secret() bool {
	if p.userinfo == "" {
		return false
	}
	if strings.Contains(p.userinfo, ":") || p.nAt > 1 {
		return true
	}
	return Mask("x://"+p.userinfo+"@h") != "x://"+p.userinfo+"@h"
}

// split parses raw as git does: scheme://[userinfo@]host[:port]/path, or scp-like
// [user@]host:path when a colon comes before any slash. Anything with whitespace or
// control characters, or a host git would not read the same way, is rejected.
func split(raw string) (parsed, bool) {
	var p parsed
	for i := range len(raw) {
		if c := raw[i]; c <= ' ' || c == 0x7f || c == '\\' {
			return p, false
		}
	}
	head, user, rest, found := cutUser(raw)
	if found {
		p.nAt = strings.Count(user, "@") + 1
		p.userinfo = user
	}
	if head != "" {
		p.form = formURL
		p.scheme = strings.ToLower(strings.TrimSuffix(head, "://"))
		if !validScheme(p.scheme) || !userinfoRE().MatchString(user) {
			return p, false
		}
		end := strings.IndexAny(rest, "/?#")
		if end < 0 {
			end = len(rest)
		}
		tail := rest[end:]
		if q := strings.IndexAny(tail, "?#"); q >= 0 {
			p.query = true
			tail = tail[:q]
		}
		var ok bool
		if p.host, p.port, ok = splitHostPort(rest[:end]); !ok {
			return p, false
		}
		path, err := url.PathUnescape(tail)
		if err != nil {
			p.badPath = true
			path = tail
		}
		p.path = path
		return p, true
	}
	colon := strings.IndexByte(raw, ':')
	switch slash := strings.IndexByte(raw, '/'); {
	case colon <= 0, slash >= 0 && slash < colon: // no host, or a local path
		return p, false
	case raw[0] == '[': // bracketed scp hosts: never a Bitbucket remote in practice
		return p, false
	}
	p.form = formSCP
	hostPart, path, _ := strings.Cut(rest, ":")
	// C:foo is a drive letter to git on Windows.
	if len(hostPart) == 1 || !validHost(hostPart) {
		return p, false
	}
	p.host, p.path = strings.ToLower(hostPart), path
	return p, true
}

// word reports whether s is not empty and holds only ASCII letters, digits and bytes of
// extra.
func word(s, extra string) bool {
	for i := range len(s) {
		if c := s[i]; !isAlnum(c) && strings.IndexByte(extra, c) < 0 {
			return false
		}
	}
	return s != ""
}

func validScheme(s string) bool { return word(s, "+-.") && s[0] >= 'a' && s[0] <= 'z' }

// userinfoRE accepts RFC 3986 userinfo (with '@' allowed so that an unencoded '@' in a
// password is still recognised as a secret; nAt makes such URLs unsupported).
var userinfoRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})*$`)
})

func validHost(h string) bool { return word(h, "-._") }

// hostPortRE is an authority's host[:port]: a bracketed host (IPv6) or a host name, and a
// port of digits (maybe empty, as git allows).
var hostPortRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^(?:\[([^\]]*)\]|([A-Za-z0-9._-]+))(?::([0-9]*))?$`)
})

func splitHostPort(s string) (host, port string, ok bool) {
	m := hostPortRE().FindStringSubmatch(s)
	if m == nil {
		return "", "", false
	}
	return strings.ToLower(m[1] + m[2]), m[3], true
}

// isCloud reports whether the URL names a Bitbucket Cloud host for its protocol:
// bitbucket.org over HTTP(S); bitbucket.org, altssh.bitbucket.org, ssh.bitbucket.org, the
// configured SSH host and its account aliases over SSH.
func (t Target) isCloud(p parsed) bool {
	switch p.scheme {
	case "https", "http":
		return p.host == cloudHTTPSHost
	case "", "ssh", "git+ssh", "ssh+git":
		switch p.host {
		case cloudHTTPSHost, altSSHHost, defaultSSHHost, t.sshHost():
			return true
		}
		return t.aliasOf(p.host) != ""
	}
	return false
}

// aliasOf returns the account name of an alias host <ssh-host>-<name>, or "".
func (t Target) aliasOf(h string) string {
	for _, base := range []string{t.sshHost(), defaultSSHHost} {
		if name, ok := strings.CutPrefix(h, base+"-"); ok && validName(name) {
			return name
		}
	}
	return ""
}

// validName accepts account alias names: letters, digits, '.', '_' and '-'.
func validName(s string) bool { return word(s, "-._") && s[0] != '-' && s[0] != '.' }

// unsupported returns why a Cloud URL is left alone, or "".
func (t Target) unsupported(p parsed) string {
	if r := p.problem(); r != "" {
		return r
	}
	want := map[string]string{"https": "443", "http": "80"}[p.scheme]
	switch {
	case want != "":
	case p.host == altSSHHost:
		want = "443"
	default:
		want = "22"
	}
	if p.port != "" && p.port != want {
		return "unexpected port " + p.port
	}
	return ""
}

// problem returns why a Bitbucket URL of any kind is left alone, or "".
func (p parsed) problem() string {
	switch {
	case p.nAt > 1:
		return "more than one '@' before the host: git and curl disagree on where the host starts"
	case p.query:
		return "has a query or fragment"
	case p.badPath:
		return "bad percent-encoding in the path"
	}
	return ""
}

// repoPath extracts WORKSPACE and REPO (without .git) from a path: /WS/REPO[.git][/] for
// URLs, [/]WS/REPO[.git][/] for scp-like remotes.
func repoPath(path string, scp bool) (ws, repo string, ok bool) {
	if scp {
		path = strings.TrimPrefix(path, "/")
	} else {
		var found bool
		if path, found = strings.CutPrefix(path, "/"); !found {
			return "", "", false
		}
	}
	path = strings.TrimSuffix(path, "/")
	ws, repo, found := strings.Cut(path, "/")
	if !found {
		return "", "", false
	}
	repo = strings.TrimSuffix(repo, ".git")
	if !validSegment(ws) || !validSegment(repo) {
		return "", "", false
	}
	return ws, repo, true
}

// validSegment accepts workspace ids and repository slugs as Bitbucket makes them
// (letters, digits, '-', '_', '.'), never "." or "..", never starting with '-' (an option
// to ssh or git).
func validSegment(s string) bool {
	return word(s, "-_.") && s != "." && s != ".." && s[0] != '-'
}

// validPrefix accepts "" or a path of segments with an optional trailing slash, as the
// start of /WS/REPO paths.
func validPrefix(path string) bool {
	if path == "" || path == "/" {
		return true
	}
	if path[0] != '/' {
		return false
	}
	segs := strings.Split(strings.TrimSuffix(path[1:], "/"), "/")
	if len(segs) > 2 {
		return false
	}
	for _, s := range segs {
		if !validSegment(s) {
			return false
		}
	}
	return true
}

// dataCenter recognises Bitbucket Data Center / Server remotes: HTTP(S) paths under
// /scm/PROJECT/REPO (maybe after a context path), and ssh:// on port 7999.
func dataCenter(p parsed) string {
	const reason = "Bitbucket Data Center/Server, not Cloud: left alone"
	switch p.scheme {
	case "https", "http":
		segs := strings.Split(strings.Trim(p.path, "/"), "/")
		if len(segs) >= 3 && segs[len(segs)-3] == "scm" {
			return reason
		}
	case "ssh", "git+ssh", "ssh+git":
		if p.port == "7999" {
			return reason
		}
	}
	return ""
}
