package remote

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// DataCenterTarget is the form the remotes of one Bitbucket Data Center server are
// rewritten to: ssh://git@<SSHHost>:<SSHPort>/proj/repo.git, with the SSH host and port
// the server's own SSH settings name (GET /rest/ssh/latest/settings). Remotes of other
// hosts, Cloud's included, are NotBitbucket to it.
//
// What it moves: the server's HTTP(S) clone URLs, https://[user[:secret]@]host[/context]
// /scm/PROJ/repo[.git], personal repositories (/scm/~user/repo.git) included, and SSH
// remotes of the server that are not yet in the target form (another host name or port
// of the same server). Its web pages (/projects/…/browse) are Unsupported.
type DataCenterTarget struct {
	// ServerURL is the server's base URL as users see it: https://host[:port][/context].
	ServerURL string
	// SSHHost and SSHPort are where its SSH git listens.
	SSHHost string
	SSHPort int
}

// Validate checks that the server URL, the SSH host and the port can be used.
func (t DataCenterTarget) Validate() error {
	if _, _, _, err := t.server(); err != nil {
		return err
	}
	if !validHost(t.SSHHost) {
		return fmt.Errorf("invalid ssh host %q: want a host name", t.SSHHost)
	}
	if t.SSHPort <= 0 || t.SSHPort > 65535 {
		return fmt.Errorf("invalid ssh port %d", t.SSHPort)
	}
	return nil
}

// server splits ServerURL into its lower-case host, its port ("" for the scheme's
// default) and its context path without a trailing slash.
func (t DataCenterTarget) server() (host, port, context string, err error) {
	u, err := url.Parse(t.ServerURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" {
		return "", "", "", fmt.Errorf("invalid data center server url %q: want https://host[/context]", t.ServerURL)
	}
	return strings.ToLower(u.Hostname()), defaultPort(u.Scheme, u.Port()), strings.TrimRight(u.Path, "/"), nil
}

// URL renders the target URL of a repository. The project key is written in lower case,
// as Data Center's own clone links are ("~user" stays as it is).
func (t DataCenterTarget) URL(projectKey, slug string) string {
	return "ssh://git@" + t.Host() + "/" + strings.ToLower(projectKey) + "/" + slug + ".git"
}

// Host is the SSH host and port remotes are written with.
func (t DataCenterTarget) Host() string {
	h := strings.ToLower(t.SSHHost)
	if strings.Contains(h, ":") {
		h = "[" + h + "]"
	}
	return h + ":" + strconv.Itoa(t.SSHPort)
}

// Rewrite decides what happens to one remote URL.
func (t DataCenterTarget) Rewrite(raw string) Result {
	host, port, context, err := t.server()
	if err != nil {
		return Result{Status: NotBitbucket}
	}
	p, ok := split(raw)
	if !ok {
		return Result{Status: NotBitbucket}
	}
	res := Result{Secret: p.secret()}
	var path string
	switch {
	case (p.scheme == "https" || p.scheme == "http") && p.host == host && defaultPort(p.scheme, p.port) == port:
		rest, under := strings.CutPrefix(p.path, context+"/")
		if !under {
			return Result{Status: NotBitbucket}
		}
		scm, found := strings.CutPrefix(rest, "scm/")
		if !found {
			res.Status, res.Reason = Unsupported, "not a clone URL (/scm/PROJECT/repo.git) of the server"
			return res
		}
		path = scm
	case (p.form == formSCP || p.scheme == "ssh" || p.scheme == "git+ssh" || p.scheme == "ssh+git") &&
		(p.host == strings.ToLower(t.SSHHost) || p.host == host):
		// An SSH remote of this server: its SSH host or its web host.
		path = strings.TrimPrefix(p.path, "/")
	default:
		return Result{Status: NotBitbucket}
	}
	if res.Reason = p.problem(); res.Reason != "" {
		res.Status = Unsupported
		return res
	}
	proj, slug, ok := dcRepoPath(path)
	if !ok {
		res.Status, res.Reason = Unsupported, "not a PROJECT/repo path"
		return res
	}
	if want := t.URL(proj, slug); raw == want {
		res.Status, res.New = Current, raw
	} else {
		res.Status, res.New = NeedsRewrite, want
	}
	return res
}

// defaultPort is port, or "" when it is the scheme's default.
func defaultPort(scheme, port string) string {
	if port == "443" && scheme == "https" || port == "80" && scheme == "http" {
		return ""
	}
	return port
}

// dcRepoPath reads PROJ/repo[.git][/]; PROJ may be ~user.
func dcRepoPath(path string) (proj, slug string, ok bool) {
	path = strings.TrimSuffix(path, "/")
	proj, slug, found := strings.Cut(path, "/")
	if !found {
		return "", "", false
	}
	slug = strings.TrimSuffix(slug, ".git")
	if !validSegment(strings.TrimPrefix(proj, "~")) || !validSegment(slug) {
		return "", "", false
	}
	return proj, slug, true
}

// RewriteBase leaves url.<base>.insteadOf entries of a Data Center server alone: a prefix
// of its HTTPS URLs (/scm/…) has no one SSH prefix that every URL it rewrites maps to.
func (t DataCenterTarget) RewriteBase(string) Result { return Result{Status: NotBitbucket} }
