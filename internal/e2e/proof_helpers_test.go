package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bbkey/bbkey/bbapi/bbapitest"
)

// proofFault is one way Bitbucket, or what stands between bbkey and it, can fail: an
// answer (status and body), a request that never gets one, or a dropped connection.
type proofFault struct {
	name   string
	status int
	body   string
	hang   bool // no answer until the client gives up
	reset  bool // TCP reset, no answer
	// code is the exit code a command ends with when the fault persists: 4 for refused
	// credentials and scopes, 3 when the retries of a transient fault use up --max-wait,
	// 1 for everything else (DESIGN.md, exit codes).
	code int
}

// proofFaults are every fault the emulator can inject, with the bodies Bitbucket and
// proxies really send. The non-JSON bodies come with 200, where a client that trusts the
// status would decode garbage (a captive portal, a proxy answering for the API); with
// error statuses they are exercised by 502 (HTML) and 503 (plain text).
func proofFaults() []proofFault {
	return []proofFault{
		{name: "401", status: 401, body: "Login failed due to incorrect login credentials or method.", code: 4},
		{name: "403-missing-scope", status: 403, code: 4,
			body: `{"type":"error","error":{"message":"Your credentials lack one or more required privilege scopes.","detail":{"required":["write:ssh-key:bitbucket","admin:repository:bitbucket","delete:ssh-key:bitbucket"],"granted":["read:user:bitbucket"]}}}`},
		{name: "404", status: 404, body: `{"type":"error","error":{"message":"Resource not found"}}`, code: 1},
		{name: "409", status: 409, body: `{"type":"error","error":{"message":"Conflict","detail":"the resource was changed by another request"}}`, code: 1},
		{name: "429", status: 429, body: "Rate limit for this resource has been exceeded.", code: 3},
		{name: "500", status: 500, body: `{"type":"error","error":{"message":"Something went wrong","id":"c0ffee"}}`, code: 1},
		{name: "502", status: 502, body: bbapitest.BodyHTML, code: 3},
		{name: "503", status: 503, body: bbapitest.BodyPlain, code: 3},
		{name: "timeout", hang: true, code: 3},
		{name: "connection-reset", reset: true, code: 3},
		{name: "html-body", status: 200, body: "<!DOCTYPE html>\n<html><head><title>Sign in to the guest network</title></head><body><form></form></body></html>\n", code: 1},
		{name: "plain-text-body", status: 200, body: "OK\n", code: 1},
		{name: "oversized-body", status: 200, body: bbapitest.BodyOversized(9 << 20), code: 1},
		{name: "malformed-json", status: 200, body: bbapitest.BodyMalformedJSON, code: 1},
	}
}

// proofPersistent is how many matching requests a "persistent" fault answers: more than
// any command's retries within --max-wait.
const proofPersistent = 1000

// inject makes the fault answer the next n requests that match.
func (f proofFault) inject(emu *bbapitest.Server, match bbapitest.Matcher, n int) {
	switch {
	case f.hang:
		emu.Hang(match, n)
	case f.reset:
		emu.ResetConnections(match, n)
	default:
		emu.FailNext(match, n, f.status, f.body)
	}
}

// proofRemoteState is what Bitbucket holds that a command may change: Ada's account keys
// and the access keys of the seeded repositories and project, by fingerprint.
func proofRemoteState(emu *bbapitest.Server) string {
	var lines []string
	for _, k := range emu.UserKeys(bbapitest.DefaultAccountID) {
		lines = append(lines, "account "+k.Fingerprint+" "+k.Label)
	}
	for _, slug := range bbapitest.DefaultRepos {
		for _, k := range emu.RepoDeployKeys(bbapitest.DefaultWorkspace, slug) {
			lines = append(lines, fmt.Sprintf("repo %s %s %s", slug, k.Fingerprint, k.Label))
		}
	}
	for _, k := range emu.ProjectDeployKeys(bbapitest.DefaultWorkspace, bbapitest.DefaultProject) {
		lines = append(lines, "project "+k.Fingerprint+" "+k.Label)
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// proofFilterDiff drops from a DiffSnapshots report the lines about paths a command is
// documented to leave behind (home-relative, exact: a directory does not cover what is
// under it, so an allowance never hides an unexpected file).
func proofFilterDiff(diff string, allow []string) string {
	if diff == "" {
		return ""
	}
	var kept []string
	for _, line := range strings.Split(diff, "\n") {
		_, rest, _ := strings.Cut(line, " ")
		path, _, _ := strings.Cut(rest, ": ")
		if !slices.ContainsFunc(allow, func(a string) bool { return path == filepath.FromSlash(a) }) {
			kept = append(kept, line)
		}
	}
	return strings.Join(kept, "\n")
}

// proofCheckFailure asserts what every failed run owes its user: no panic or Go trace,
// exactly the documented exit code, one error line, and at least one hint naming what to
// do next.
func proofCheckFailure(t *testing.T, r Result, wantCode int) {
	t.Helper()
	if strings.Contains(r.Stderr, "panic:") || strings.Contains(r.Stderr, "goroutine ") {
		t.Fatalf("bbkey panicked:\n%s", r)
	}
	if r.Code != wantCode {
		t.Errorf("exit code %d, want %d\n%s", r.Code, wantCode, r)
	}
	if n := strings.Count(r.Stderr, "bbkey: error: "); n != 1 {
		t.Errorf("%d error lines on stderr, want 1\n%s", n, r)
	}
	if !strings.Contains(r.Stderr, "bbkey: hint: ") {
		t.Errorf("no hint naming the next step\n%s", r)
	}
}

// proofChildren are the programs bbkey may start (directly, or git's ssh): each gets a
// wrapper on PATH that records its argv and environment. The real OpenSSH and git run
// behind their wrappers; systemctl and crontab are stand-ins that record and pretend to
// succeed, so scheduling a rotation never touches the machine's real timers.
var (
	proofPassThrough = []string{"git", "ssh", "ssh-add", "ssh-keygen", "ssh-agent"}
	proofStandIns    = []string{"systemctl", "crontab"}
)

// proofWrappers writes the wrapper scripts into a new directory (to prepend to PATH) and
// returns it with the directory where each run of a wrapped program leaves one record
// file (<program>.<pid>, so concurrent children never interleave).
func proofWrappers(t *testing.T) (binDir, logDir string) {
	t.Helper()
	binDir, logDir = t.TempDir(), t.TempDir()
	record := func(name string) string {
		return fmt.Sprintf(`#!/bin/sh
{
	printf 'program %%s\n' %s
	for a in "$@"; do printf 'arg %%s\n' "$a"; done
	env | sed 's/^/env /'
} > %s/%s.$$
`, shQuote(name), shQuote(logDir), name)
	}
	for _, name := range proofPassThrough {
		real, err := exec.LookPath(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err) // NewWorld required them already
		}
		script := record(name) + "exec " + shQuote(real) + ` "$@"` + "\n"
		if err := os.WriteFile(filepath.Join(binDir, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	crontab := filepath.Join(logDir, "crontab.txt")
	standIns := map[string]string{
		"systemctl": "exit 0\n",
		"crontab": fmt.Sprintf(`case "$1" in
-l) [ -f %[1]s ] && exec cat %[1]s; echo "no crontab for $(id -un)" >&2; exit 1 ;;
-r) rm -f %[1]s ;;
*) cat "${1:--}" > %[1]s ;;
esac
`, shQuote(crontab)),
	}
	for _, name := range proofStandIns {
		if err := os.WriteFile(filepath.Join(binDir, name), []byte(record(name)+standIns[name]), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return binDir, logDir
}

func shQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// proofRecords returns every record the wrappers left, by file name.
func proofRecords(t *testing.T, logDir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(logDir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(logDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}
