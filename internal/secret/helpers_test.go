package secret

import (
	"testing"

	"github.com/bbkey/bbkey/keys"
)

const testPass = "correct horse battery"

// mustGenerate writes a real key with keys.Generate: encrypted with pass, or not when
// pass is "".
func mustGenerate(t testing.TB, path string, pass string) *keys.Key {
	t.Helper()
	opts := keys.GenerateOptions{Path: path, Comment: "bbkey:test@host 2026-11-22"}
	if pass == "" {
		opts.NoPassphrase = true
	} else {
		opts.Passphrase = []byte(pass)
	}
	k, err := keys.Generate(opts)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
