package list

import (
	"os"
	"testing"

	"github.com/bbkey/bbkey/keys/keystest"
)

// TestMain writes keys with the cheapest bcrypt KDF: no test here checks the KDF (keys'
// own tests do), and under the race detector each default one costs seconds.
func TestMain(m *testing.M) {
	keystest.SetKDFRounds(1)
	os.Exit(m.Run())
}
