// Package iostreamstest gives tests streams backed by buffers.
package iostreamstest

import (
	"bytes"
	"sync"

	"github.com/bbkey/bbkey/internal/iostreams"
)

// Test returns streams backed by buffers (stdin, stdout, stderr), none of them a terminal.
func Test() (*iostreams.IOStreams, *bytes.Buffer, *SyncBuffer, *SyncBuffer) {
	in, out, errOut := &bytes.Buffer{}, &SyncBuffer{}, &SyncBuffer{}
	return &iostreams.IOStreams{In: in, Out: out, ErrOut: errOut, NoColor: true}, in, out, errOut
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers (progress from goroutines).
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Reset empties the buffer.
func (b *SyncBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}
