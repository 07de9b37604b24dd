package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGeneratesManPages(t *testing.T) {
	dir := t.TempDir()
	if err := run(dir); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "man1", "bbkey.1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{".TH \"BBKEY\" \"1\"", "Exit codes", `\fB--max-wait\fP`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("bbkey.1 lacks %q", want)
		}
	}
}
