//go:build windows

package prompt

import (
	"fmt"
	"os"
)

func openTTY() (in, out *os.File, closeFn func(), err error) {
	i, err := os.OpenFile("CONIN$", os.O_RDWR, 0)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: %v", ErrNoTerminal, err)
	}
	o, err := os.OpenFile("CONOUT$", os.O_WRONLY, 0)
	if err != nil {
		i.Close()
		return nil, nil, nil, fmt.Errorf("%w: %v", ErrNoTerminal, err)
	}
	return i, o, func() { i.Close(); o.Close() }, nil
}
