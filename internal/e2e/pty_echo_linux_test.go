package e2e

import (
	"os"

	"golang.org/x/sys/unix"
)

// echoOff reports whether the terminal behind the pty master f has echo turned off, as
// bbkey turns it off to read a secret (on Linux the master reads the slave's termios).
func echoOff(f *os.File) bool {
	t, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil && t.Lflag&unix.ECHO == 0
}
