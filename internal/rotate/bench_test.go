package rotate

import (
	"context"
	"testing"
	"time"

	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/keys"
	"github.com/bbkey/bbkey/keys/keystest"
)

// BenchmarkRotateAccount is one whole account-key rotation against the emulator: key
// generation with the bcrypt KDF (16 rounds), the old key looked up, the new one added and
// proven over SSH, two state and config rewrites, the file moves, the old key deleted.
func BenchmarkRotateAccount(b *testing.B) {
	keystest.SetKDFRounds(keys.DefaultKDFRounds) // the real cost, unlike the tests (TestMain)
	b.Cleanup(func() { keystest.SetKDFRounds(1) })
	f := newFixture(b)
	f.seedAccount("ada", time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	e := f.engine()
	e.KeepRetired = 0
	for b.Loop() {
		if _, err := e.Run(context.Background(), Request{Kind: state.RotateAccount}); err != nil {
			b.Fatal(err)
		}
	}
}
