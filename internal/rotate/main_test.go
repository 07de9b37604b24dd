package rotate

import (
	"os"
	"testing"

	"github.com/bbkey/bbkey/internal/testhook"
	"github.com/bbkey/bbkey/keys/keystest"
)

// TestMain writes keys with the cheapest bcrypt KDF: no test here checks the KDF (keys'
// own tests do), and under the race detector each default one costs seconds. The crash
// tests drive the engine through its test hooks, which a bbkey built without the
// bbkey_e2e tag does not read.
func TestMain(m *testing.M) {
	keystest.SetKDFRounds(1)
	testhook.On.Store(true)
	os.Exit(m.Run())
}
