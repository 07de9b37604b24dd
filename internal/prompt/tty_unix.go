//go:build !windows

package prompt

import (
	"fmt"
	"os"
)

func openTTY() (in, out *os.File, closeFn func(), err error) {
	f, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: %v", ErrNoTerminal, err)
	}
	return f, f, func() { f.Close() }, nil
}
