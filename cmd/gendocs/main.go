// Command gendocs writes bbkey's man pages (and Markdown reference) into a directory:
//
//	go run ./cmd/gendocs DIR
//
// It is a separate program so cobra's doc generator and its Markdown/roff dependencies stay
// out of the bbkey binary.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra/doc"

	"github.com/bbkey/bbkey/cmd"
	"github.com/bbkey/bbkey/internal/build"
	"github.com/bbkey/bbkey/internal/iostreams"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go run ./cmd/gendocs DIR")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	root := cmd.NewCmdRoot(cmd.NewFactory(build.String(), iostreams.System()))
	root.DisableAutoGenTag = true
	man := filepath.Join(dir, "man1")
	md := filepath.Join(dir, "md")
	for _, d := range []string{man, md} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	hdr := &doc.GenManHeader{Title: "BBKEY", Section: "1", Source: "bbkey " + build.String()}
	if err := doc.GenManTree(root, hdr, man); err != nil {
		return err
	}
	return doc.GenMarkdownTree(root, md)
}
