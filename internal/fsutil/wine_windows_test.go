//go:build windows

package fsutil

import "golang.org/x/sys/windows"

// underWine is testutil.UnderWine, which this package's tests cannot import (testutil
// imports fsutil).
func underWine() bool {
	return windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version").Find() == nil
}
