package e2e

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestUsageErrorsSayWhatToDo: bad input to audit, list, remove, remote and rotate (and the
// flags every command shares) exits 2 before anything is asked of Bitbucket, with `bbkey: error:` and
// a `bbkey: hint:` naming what to type instead; with --json the same error is the one
// document on stdout.
func TestUsageErrorsSayWhatToDo(t *testing.T) {
	w := NewWorld(t)
	for _, c := range []struct {
		args []string
		hint string
	}{
		{[]string{"audit", "--workspace", "acme", "--concurrency", "0"}, "--concurrency 10"},
		{[]string{"remove", "42"}, "--repo WS/SLUG"},
		{[]string{"list", "--token-file", "~nobody-here/token"}, "~/"},
		{[]string{"list", "--ssh-endpoint", "host:notaport"}, "HOST:PORT"},
		{[]string{"list", "--server", "https://bitbucket.example.com", "--ssh-endpoint", ":7999"}, "HOST:PORT"},
		{[]string{"remove", "bbkey:x", "--ssh-endpoint", "host:0"}, "HOST:PORT"},
		{[]string{"audit", "--workspace", "acme", "--ssh-endpoint", "host:notaport"}, "HOST:PORT"},
		{[]string{"setup", "--ssh-host-keys", "/nonexistent/host_keys"}, "--ssh-host-keys"},
		{[]string{"rotate", "--keep-retired", "-1"}, "--keep-retired 30"},
		{[]string{"remote", "--to", "http"}, "--to https"},
		{[]string{"remote", "--to", "https", "--name", "work"}, "drop --name"},
	} {
		for _, js := range []bool{false, true} {
			args := c.args
			if js {
				args = append(append([]string{}, args...), "--json")
			}
			before := len(w.Emu.Requests())
			r := w.Run("", args...)
			hints := hintLines(r.Stderr)
			if r.Code != 2 || !strings.HasPrefix(r.Stderr, "bbkey: error: ") || !anyContains(hints, c.hint) {
				t.Errorf("want exit 2, an error and a hint naming %q\n%s", c.hint, r)
			}
			if n := len(w.Emu.Requests()) - before; n != 0 {
				t.Errorf("%v: %d requests to Bitbucket", args, n)
			}
			if !js {
				continue
			}
			var doc struct {
				Error struct {
					Code  int      `json:"exit_code"`
					Hints []string `json:"hints"`
				} `json:"error"`
			}
			if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil || doc.Error.Code != 2 || len(doc.Error.Hints) != len(hints) {
				t.Errorf("--json: %v %+v\n%s", err, doc, r)
			}
		}
	}
}
