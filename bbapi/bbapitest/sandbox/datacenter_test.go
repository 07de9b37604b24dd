package main

import (
	"bytes"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/bbkey/bbkey/internal/testutil"
)

// -datacenter: the command sees a Data Center server and a clone whose origin is that
// server's HTTPS form; the report lists Data Center keys.
func TestRunCommandDataCenter(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the command is a POSIX shell script")
	}
	testutil.RequireBinary(t, "git", "sh")
	script := `printf '%s\n' "origin=$(git remote get-url origin)" "server=$BITBUCKET_SERVER" "token=$BITBUCKET_SERVER_TOKEN" "api=$BITBUCKET_API_URL" "readme=$(head -1 README.md)"`
	var out, errb bytes.Buffer
	if code := run([]string{"-datacenter", "--", "sh", "-c", script}, &out, &errb); code != 0 {
		t.Fatalf("exit %d\n%s", code, errb.String())
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		k, v, _ := strings.Cut(line, "=")
		got[k] = v
	}
	m := regexp.MustCompile(`^http://ada@(127\.0\.0\.1:\d+)/scm/ops/api\.git$`).FindStringSubmatch(got["origin"])
	if m == nil || got["server"] != "http://"+m[1] {
		t.Errorf("origin %q, server %q", got["origin"], got["server"])
	}
	if got["token"] == "" || got["api"] != "" || got["readme"] != "# OPS/api" {
		t.Errorf("token set %v, BITBUCKET_API_URL %q, README %q", got["token"] != "", got["api"], got["readme"])
	}
	if !strings.Contains(errb.String(), "sandbox: SSH keys of ada: 0") || strings.Contains(errb.String(), got["token"]) {
		t.Errorf("report:\n%s", errb.String())
	}
}
