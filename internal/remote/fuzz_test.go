package remote

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var fuzzSeeds = []string{
	"https://bitbucket.org/ws/repo.git",
	"https://alice:pw@bitbucket.org/ws/repo",
	"https://x-token-auth:t%40k@BITBUCKET.org:443/ws/repo.git/",
	"git@bitbucket.org:ws/repo.git",
	"bitbucket.org:/ws/repo",
	"ssh://git@altssh.bitbucket.org:443/ws/repo.git",
	"ssh://git@ssh.bitbucket.org/ws/repo.git",
	"git@ssh.bitbucket.org-work:ws/repo.git",
	"git@bb.test:ws/repo.git",
	"https://bitbucket.org@evil.com/ws/repo.git",
	"https://evil.com@bitbucket.org@evil.com/ws/repo.git",
	"https://bitbucket.org.evil.com/ws/repo.git",
	"ssh://git@[::1]:22/ws/repo.git",
	"git@github.com:ws/repo.git",
	"ssh://git@bitbucket.example.com:7999/PROJ/repo.git",
	"https://h/scm/p/r.git",
	"file:///bitbucket.org/ws/repo",
	"C:/x",
	"https://bitbucket.org/ws/re%70o",
	"https://bitbucket.org/ws/a%2Fb",
	"",
}

var (
	sshOut   = regexp.MustCompile(`^git@([A-Za-z0-9._-]+):([A-Za-z0-9._-]+)/([A-Za-z0-9._-]+)\.git$`)
	httpsOut = regexp.MustCompile(`^https://bitbucket\.org/([A-Za-z0-9._-]+)/([A-Za-z0-9._-]+)\.git$`)
)

// FuzzRewrite checks that no input makes Rewrite or RewriteBase touch a URL whose host,
// read independently of the parser under test (net/url for scheme URLs, git's scp rule
// otherwise), is not a Bitbucket Cloud host; that every output parses back as current and
// carries no credentials; and that Mask never shows a password.
func FuzzRewrite(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s, "", false)
		f.Add(s, "work", true)
	}
	f.Fuzz(func(t *testing.T, raw, name string, https bool) {
		if !validName(name) {
			name = ""
		}
		for _, tg := range []Target{{Name: name, HTTPS: https}, {SSHHost: "bb.test", Name: name}} {
			checkRewrite(t, tg, raw, tg.Rewrite(raw), false)
			checkRewrite(t, tg, raw, tg.RewriteBase(raw), true)
		}
		checkMask(t, raw)
	})
}

func checkRewrite(t *testing.T, tg Target, raw string, res Result, base bool) {
	t.Helper()
	if res.Status != NeedsRewrite && res.Status != Current {
		if res.New != "" {
			t.Fatalf("%q left alone (%v) but New = %q", raw, res.Status, res.New)
		}
		return
	}
	scheme, host, ok := oracleHost(raw)
	if !ok {
		t.Fatalf("%q rewritten (%v → %q) but the oracle cannot find its host", raw, res.Status, res.New)
	}
	if !oracleCloud(tg, scheme, host) {
		t.Fatalf("%q rewritten (%v → %q) but its host %q (%s) is not Bitbucket Cloud", raw, res.Status, res.New, host, scheme)
	}
	again := tg.RewriteBase
	if !base {
		again = tg.Rewrite
		if !sshOut.MatchString(res.New) && !httpsOut.MatchString(res.New) {
			t.Fatalf("%q → %q: not a canonical remote", raw, res.New)
		}
	}
	if r := again(res.New); r.Status != Current || r.New != res.New || r.Secret {
		t.Fatalf("%q → %q does not parse back as current: %v %q", raw, res.New, r.Status, r.New)
	}
}

// oracleHost reads the host as net/url (scheme URLs) or git's scp-like rule would.
func oracleHost(raw string) (scheme, host string, ok bool) {
	if strings.Contains(raw, "://") {
		u, err := url.Parse(raw)
		if err != nil || u.Opaque != "" {
			return "", "", false
		}
		auth := raw[strings.Index(raw, "://")+3:]
		if i := strings.IndexAny(auth, "/?#"); i >= 0 {
			auth = auth[:i]
		}
		if strings.Count(auth, "@") > 1 {
			return "", "", false
		}
		return strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), true
	}
	colon := strings.IndexByte(raw, ':')
	if colon < 0 || strings.Contains(raw[:colon], "/") {
		return "", "", false
	}
	h := raw[:colon]
	if i := strings.LastIndexByte(h, '@'); i >= 0 {
		h = h[i+1:]
	}
	return "", strings.ToLower(h), true
}

func oracleCloud(tg Target, scheme, host string) bool {
	switch scheme {
	case "https", "http":
		return host == "bitbucket.org"
	case "", "ssh", "git+ssh", "ssh+git":
		switch host {
		case "bitbucket.org", "altssh.bitbucket.org", "ssh.bitbucket.org", tg.sshHost():
			return true
		}
		return strings.HasPrefix(host, "ssh.bitbucket.org-") || strings.HasPrefix(host, tg.sshHost()+"-")
	}
	return false
}

func checkMask(t *testing.T, raw string) {
	t.Helper()
	if !strings.Contains(raw, "://") {
		return // Mask is only shown scheme URLs and scp-like remotes (which have no password)
	}
	u, err := url.Parse(raw)
	if err != nil || u.User == nil || u.Scheme == "" || !strings.HasPrefix(strings.ToLower(raw), u.Scheme+"://") {
		return // scheme-relative "//…" strings are local paths to git
	}
	pw, has := u.User.Password()
	if !has || len(pw) < 4 {
		return
	}
	m := Mask(raw)
	mu, err := url.Parse(m)
	if err != nil {
		if strings.Contains(m, pw) && !strings.Contains(strings.Replace(raw, pw, "", 1), pw) {
			t.Fatalf("Mask(%q) = %q shows the password", raw, m)
		}
		return
	}
	if mp, _ := mu.User.Password(); mu.User != nil && mp == pw {
		t.Fatalf("Mask(%q) = %q shows the password", raw, m)
	}
}
