package setup

import (
	"net/http"
	"os"
	"sync"
	"testing"

	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/keys"
)

// The new key's KDF runs during the credential check, on the passphrase file as it was
// then. A file changed while GET /user is on the network: the key is written with the
// passphrase setup read afterwards (the one it reports using), not the earlier one.
func TestSetupPassphraseChangedDuringCredentialCheck(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	const later = "a different passphrase"
	var once sync.Once
	user := bbapitest.Match("GET", "/2.0/user")
	fx.emu.FailNext(func(r *http.Request) bool {
		if user(r) {
			once.Do(func() {
				if err := os.WriteFile(fx.passFile, []byte(later+"\n"), 0o600); err != nil {
					t.Error(err)
				}
			})
		}
		return false // a hook, not a fault
	}, 1, 0, "")
	fx.mustRun("--passphrase-file", fx.passFile)
	if _, err := keys.LoadPrivate(fx.keyPath("ada"), []byte(testPassphrase)); err == nil {
		t.Error("the key was written with the passphrase of before the credential check")
	}
	k, err := keys.LoadPrivate(fx.keyPath("ada"), []byte(later))
	if err != nil {
		t.Fatalf("the key does not open with the passphrase setup read: %v", err)
	}
	k.Wipe()
}
