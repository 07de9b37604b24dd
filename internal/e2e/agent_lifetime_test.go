package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// agentWatch polls the real agent (ssh-add -l) and records when each fingerprint was
// first and last seen in it.
type agentWatch struct {
	mu          sync.Mutex
	first, last map[string]time.Time
	stop        chan struct{}
	done        chan struct{}
}

func watchAgent(w *World) *agentWatch {
	a := &agentWatch{first: map[string]time.Time{}, last: map[string]time.Time{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(a.done)
		for {
			list := w.AgentList()
			now := time.Now()
			a.mu.Lock()
			for line := range strings.Lines(list) {
				if f := strings.Fields(line); len(f) >= 2 && strings.HasPrefix(f[1], "SHA256:") {
					if _, ok := a.first[f[1]]; !ok {
						a.first[f[1]] = now
					}
					a.last[f[1]] = now
				}
			}
			a.mu.Unlock()
			select {
			case <-a.stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return a
}

func (a *agentWatch) seen(fp string) (first, last time.Time, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	first, ok = a.first[fp]
	return first, a.last[fp], ok
}

func (a *agentWatch) close() { close(a.stop); <-a.done }

// setup --agent-lifetime is recorded on the account's entry in the state, and rotate
// loads the successor into the real ssh-agent with it: the new key is in the agent after
// rotate and the agent forgets it once the lifetime has passed (a key added without a
// lifetime would stay). A later setup without the flag keeps the recorded lifetime.
func TestRotateKeepsSetupAgentLifetime(t *testing.T) {
	const lifetime = 4 * time.Second
	w := NewWorld(t)
	w.MustRun("", "setup", "--passphrase-file", w.PassFile, "--no-remotes", "--agent-lifetime", "4s")
	if got := accountAgentLifetime(t, w); got != 4 {
		t.Fatalf("state agent_lifetime_seconds = %d after setup --agent-lifetime 4s, want 4", got)
	}
	w.MustRun("", "setup", "--passphrase-file", w.PassFile, "--no-remotes")
	if got := accountAgentLifetime(t, w); got != 4 {
		t.Errorf("state agent_lifetime_seconds = %d after a setup without the flag, want 4 kept", got)
	}

	watch := watchAgent(w)
	defer watch.close()
	r := w.MustRun("", "rotate", "--passphrase-file", w.PassFile, "--json")
	d := rotateDecode(t, r)
	if d.Result != "ok" || len(d.Rotations) != 1 {
		t.Fatalf("%s", r)
	}
	newFP := d.Rotations[0].NewFingerprint
	if !strings.Contains(r.Stderr, "loaded the new key into the ssh agent for 4s") {
		t.Errorf("stderr:\n%s", r.Stderr)
	}
	// The agent must drop the key once its lifetime is over; the limit only turns a key
	// kept forever into a failure.
	limit := time.Now().Add(lifetime + 30*time.Second)
	for rotateAgentHolds(w, newFP) {
		if time.Now().After(limit) {
			t.Fatalf("the agent still holds the new key %s long after %s: it was added without the lifetime\n%s", newFP, lifetime, w.AgentList())
		}
		time.Sleep(200 * time.Millisecond)
	}
	first, last, ok := watch.seen(newFP)
	if !ok {
		t.Fatalf("the new key %s never showed in the agent", newFP)
	}
	// Held for a good part of the lifetime (polling on a loaded machine sees less of
	// it): gone because it expired, not taken out at once by something else.
	if held := last.Sub(first); held < lifetime/4 {
		t.Errorf("the new key was in the agent for %s only, want about %s", held, lifetime)
	}
	if got := accountAgentLifetime(t, w); got != 4 {
		t.Errorf("state agent_lifetime_seconds = %d after rotate, want 4 kept", got)
	}
}

// accountAgentLifetime reads agent_lifetime_seconds of Ada's Cloud account from
// state.json as written.
func accountAgentLifetime(t *testing.T, w *World) int64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(w.Home.ConfigDir, "bbkey", "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Accounts map[string]struct {
			AgentLifetimeSeconds int64 `json:"agent_lifetime_seconds"`
		} `json:"accounts"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	a, ok := doc.Accounts["ada"]
	if !ok {
		t.Fatalf("no account ada in state.json:\n%s", b)
	}
	return a.AgentLifetimeSeconds
}
