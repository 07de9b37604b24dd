//go:build !windows

package testutil

// UnderWine reports whether the tests run under Wine: never, off Windows.
func UnderWine() bool { return false }
