package cmd

import (
	"context"
	"testing"

	"github.com/bbkey/bbkey/internal/iostreams/iostreamstest"
)

// BenchmarkVersion is the in-process part of `bbkey --version`: building the command tree
// and running it (process start and package init are measured by bench/).
func BenchmarkVersion(b *testing.B) {
	for b.Loop() {
		ios, _, _, _ := iostreamstest.Test()
		if code := Run(context.Background(), NewFactory("bench", ios), []string{"--version"}); code != 0 {
			b.Fatal(code)
		}
	}
}
