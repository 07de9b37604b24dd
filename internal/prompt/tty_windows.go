//go:build windows

package prompt

import (
	"fmt"
	"os"

	"golang.org/x/sys/windows"
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

// echoOff turns off the echo of the console input in, keeping line input (the console
// edits the line and hands it over on Enter) and processed input (Ctrl-C), and returns
// the function that puts the console mode back exactly as it was.
func echoOff(in *os.File) (restore func(), err error) {
	h := windows.Handle(in.Fd())
	var old uint32
	if err := windows.GetConsoleMode(h, &old); err != nil {
		return nil, err
	}
	quiet := old &^ windows.ENABLE_ECHO_INPUT
	quiet |= windows.ENABLE_LINE_INPUT | windows.ENABLE_PROCESSED_INPUT
	if err := windows.SetConsoleMode(h, quiet); err != nil {
		return nil, err
	}
	return func() { _ = windows.SetConsoleMode(h, old) }, nil
}
