package doctor

import (
	"context"
	"testing"
)

// BenchmarkRunOffline runs every check in an empty home with the network refused: the
// floor of a doctor run (git, ssh -G and the file checks, all concurrent).
func BenchmarkRunOffline(b *testing.B) {
	e := newEnv(b)
	for b.Loop() {
		env := *e
		Run(context.Background(), &env, Checks(env.Timeouts))
	}
}
