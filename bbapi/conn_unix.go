//go:build !windows

package bbapi

import (
	"errors"
	"syscall"
)

// isConnReset reports a connection the peer or a middlebox cut.
func isConnReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE)
}
