//go:build windows

package bbapi

import (
	"errors"
	"syscall"

	"golang.org/x/sys/windows"
)

// isConnReset reports a connection the peer or a middlebox cut. Winsock reports its own
// WSA error numbers, not the POSIX-like values syscall invents for Windows.
func isConnReset(err error) bool {
	return errors.Is(err, windows.WSAECONNRESET) || errors.Is(err, windows.WSAECONNABORTED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNABORTED)
}
