//go:build windows

package testutil

import "golang.org/x/sys/windows"

// UnderWine reports whether the tests run under Wine rather than Windows: Wine's ntdll
// exports wine_get_version, Windows' does not. Tests use it to skip, with the reason
// written, only what Wine cannot emulate.
func UnderWine() bool {
	return windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version").Find() == nil
}
