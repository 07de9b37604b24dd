// Package keystest lowers the bcrypt KDF cost of the keys a test writes. Only tests import
// it, so the release binary has no way to lower the cost.
package keystest

import (
	"sync/atomic"
	_ "unsafe" // go:linkname

	_ "github.com/bbkey/bbkey/keys" // defines kdfRounds
)

// kdfRounds is keys' own setting, for which the binary has no setter.
//
//go:linkname kdfRounds github.com/bbkey/bbkey/keys.kdfRounds
var kdfRounds atomic.Int32

// SetKDFRounds makes keys written from now on use n (at least 1) bcrypt rounds, for tests
// that do not check the KDF (under -race one default KDF costs seconds).
func SetKDFRounds(n int) {
	kdfRounds.Store(int32(max(n, 1)))
}
