//go:build bbkey_e2e

package testhook

// The binary internal/e2e builds (go build -tags bbkey_e2e) reads the hooks.
func init() { On.Store(true) }
