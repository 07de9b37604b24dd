//go:build !windows

package prompt

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

func openTTY() (in, out *os.File, closeFn func(), err error) {
	f, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: %v", ErrNoTerminal, err)
	}
	return f, f, func() { f.Close() }, nil
}

// echoOff turns off the echo of the terminal behind in, keeping line editing (ICANON),
// Ctrl-C (ISIG) and Enter as a newline (ICRNL), and returns the function that puts the
// terminal's mode back exactly as it was. The change applies at once (TCSETS/TIOCSETA),
// so a caller that prints its prompt afterwards never shows a prompt with echo still on.
func echoOff(in *os.File) (restore func(), err error) {
	fd := int(in.Fd())
	old, err := unix.IoctlGetTermios(fd, ioctlGetTermios)
	if err != nil {
		return nil, err
	}
	quiet := *old
	quiet.Lflag &^= unix.ECHO
	quiet.Lflag |= unix.ICANON | unix.ISIG
	quiet.Iflag |= unix.ICRNL
	if err := unix.IoctlSetTermios(fd, ioctlSetTermios, &quiet); err != nil {
		return nil, err
	}
	return func() { _ = unix.IoctlSetTermios(fd, ioctlSetTermios, old) }, nil
}
