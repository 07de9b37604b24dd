package sshconfig

import (
	"bytes"
	"testing"
)

// A 2,000-line config, an old bbkey line near the end: the editor is linear in the file.
func BenchmarkEnsureInclude(b *testing.B) {
	var buf bytes.Buffer
	for i := range 500 {
		buf.WriteString("Host h" + itoa(i) + "\n  HostName h.example\n  User u\n\n")
	}
	buf.WriteString("Include /old " + Marker + "\n")
	in := buf.Bytes()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		EnsureInclude(in, "/home/ada/.ssh/bbkey/config")
	}
}
