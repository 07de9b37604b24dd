//go:build bbkey_e2e

package keys

import (
	"os"
	"strconv"
)

// Only the binary internal/e2e builds for itself (go build -tags bbkey_e2e) reads
// BBKEY_TEST_KDF_ROUNDS: its tests do not check the KDF, and every key they make costs a
// default KDF in bbkey and again in ssh and ssh-add. A bbkey built without the tag never
// lowers the cost, whatever its environment.
func init() {
	if v, err := strconv.Atoi(os.Getenv("BBKEY_TEST_KDF_ROUNDS")); err == nil && v >= 1 {
		kdfRounds.Store(int32(v))
	}
}
