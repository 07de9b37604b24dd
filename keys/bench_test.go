package keys

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// The cost of a new key is the bcrypt KDF (16 rounds), the same work ssh-keygen -a 16
// does; these benchmarks compare bbkey's in-process generate + encrypt + write against
// the real ssh-keygen in the same run. ssh-keygen reads a new passphrase from the
// terminal or, with SSH_ASKPASS_REQUIRE=force, from the SSH_ASKPASS program: never -N, so
// the passphrase stays out of argv here too (askpass runs twice: entry and confirmation,
// a real cost of the only argv-free way to drive it).
//
//	go test ./keys -run '^$' -bench 'Generate|SSHKeygen' -benchtime 20x

func BenchmarkGenerateWrite(b *testing.B) {
	dir := b.TempDir()
	n := 0
	for b.Loop() {
		n++
		k, err := Generate(GenerateOptions{
			Path:       filepath.Join(dir, fmt.Sprintf("k%d", n)),
			Comment:    "bbkey:bench@host 2026-11-22",
			Passphrase: []byte(testPass),
		})
		if err != nil {
			b.Fatal(err)
		}
		k.Wipe()
	}
}

func BenchmarkSSHKeygen(b *testing.B) {
	dir := b.TempDir()
	env := askpassEnv(b, testPass)
	n := 0
	for b.Loop() {
		n++
		sshKeygenNew(b, env, filepath.Join(dir, fmt.Sprintf("k%d", n)))
	}
}

// BenchmarkGenerateVsSSHKeygen alternates the two in one loop, so both see the same
// machine load, and reports bbkey's time as a fraction of ssh-keygen's (target ≤ 1.0).
func BenchmarkGenerateVsSSHKeygen(b *testing.B) {
	dir := b.TempDir()
	env := askpassEnv(b, testPass)
	var ours, theirs time.Duration
	n := 0
	for b.Loop() {
		n++
		start := time.Now()
		k, err := Generate(GenerateOptions{Path: filepath.Join(dir, fmt.Sprintf("b%d", n)), Passphrase: []byte(testPass)})
		if err != nil {
			b.Fatal(err)
		}
		ours += time.Since(start)
		k.Wipe()
		start = time.Now()
		sshKeygenNew(b, env, filepath.Join(dir, fmt.Sprintf("s%d", n)))
		theirs += time.Since(start)
	}
	b.ReportMetric(float64(ours)/float64(theirs), "bbkey/ssh-keygen")
	b.ReportMetric(float64(ours.Microseconds())/float64(n)/1000, "bbkey-ms/key")
	b.ReportMetric(float64(theirs.Microseconds())/float64(n)/1000, "ssh-keygen-ms/key")
}

func sshKeygenNew(b *testing.B, env []string, path string) {
	b.Helper()
	if _, err := sshKeygen(b, env, "-q", "-t", "ed25519", "-a", "16", "-C", "bench", "-f", path); err != nil {
		b.Fatal(err)
	}
}
