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
	return "ssh://git@" + t.hostPort() + "/" + strings.ToLower(projectKey) + "/" + slug + ".git"
}

func (t DataCenterTarget) hostPort() string {
	h := strings.ToLower(t.SSHHost)
	if strings.Contains(h, ":") {
		h = "[" + h + "]"
	}
	return h + ":" + strconv.Itoa(t.SSHPort)
}

// Rewrite decides what happens to one remote URL. Workspace in the Result holds the
// project key (as the URL wrote it) and Repo the slug.
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
	case p.form == formURL && (p.scheme == "ssh" || p.scheme == "git+ssh" || p.scheme == "ssh+git") && t.sameServerSSH(p.host, host):
		path = strings.TrimPrefix(p.path, "/")
	case p.form == formSCP && t.sameServerSSH(p.host, host):
		path = strings.TrimPrefix(p.path, "/")
	default:
		return Result{Status: NotBitbucket}
	}
	switch {
	case p.nAt > 1:
		res.Status, res.Reason = Unsupported, "more than one '@' before the host: git and curl disagree on where the host starts"
		return res
	case p.query:
		res.Status, res.Reason = Unsupported, "has a query or fragment"
		return res
	case p.badPath:
		res.Status, res.Reason = Unsupported, "bad percent-encoding in the path"
		return res
	}
	proj, slug, ok := dcRepoPath(path)
	if !ok {
		res.Status, res.Reason = Unsupported, "not a PROJECT/repo path"
		return res
	}
	res.Workspace, res.Repo = proj, slug
	if want := t.URL(proj, slug); raw == want {
		res.Status, res.New = Current, raw
	} else {
		res.Status, res.New = NeedsRewrite, want
	}
	return res
}

// sameServerSSH reports an SSH remote of this server: its SSH host or its web host.
func (t DataCenterTarget) sameServerSSH(h, webHost string) bool {
	return h == strings.ToLower(t.SSHHost) || h == webHost
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

// Host is the SSH host and port remotes are written with.
func (t DataCenterTarget) Host() string { return t.hostPort() }

// RewriteBase leaves url.<base>.insteadOf entries of a Data Center server alone: a prefix
// of its HTTPS URLs (/scm/…) has no one SSH prefix that every URL it rewrites maps to.
func (t DataCenterTarget) RewriteBase(string) Result { return Result{Status: NotBitbucket} }
