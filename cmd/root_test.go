package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mitchellh/go-homedir"
	"github.com/spf13/cobra"

	"github.com/bbkey/bbkey/internal/iostreams/iostreamstest"
)

func TestExpandPathFlags(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	homedir.DisableCache = true
	t.Cleanup(func() { homedir.DisableCache = false })

	var key, name string
	c := &cobra.Command{Use: "x", RunE: func(*cobra.Command, []string) error { return nil }}
	c.Flags().StringVar(&key, "key", "", "")
	c.Flags().StringVar(&name, "name", "", "")
	if err := c.ParseFlags([]string{"--key=~/k.pub", "--name=~ada"}); err != nil {
		t.Fatal(err)
	}
	if err := expandPathFlags(c); err != nil {
		t.Fatal(err)
	}
	if key != filepath.Join(home, "k.pub") {
		t.Errorf("--key = %q, want it under %s", key, home)
	}
	if name != "~ada" {
		t.Errorf("--name is not a path but became %q", name)
	}
}

func TestRunRendersErrorsOnce(t *testing.T) {
	tests := []struct {
		args     []string
		wantCode int
		wantErr  string
		wantOut  string
	}{
		{[]string{"--bogus"}, 2, "bbkey: error: unknown flag: --bogus\nbbkey: hint: see 'bbkey --help'\n", ""},
		{[]string{"nosuch"}, 2, "bbkey: error: unknown command \"nosuch\" for \"bbkey\"\nbbkey: hint: see 'bbkey --help'\n", ""},
		{[]string{"--max-wait", "0s", "list"}, 2, "bbkey: error: --max-wait must be positive\nbbkey: hint: give a duration such as --max-wait 30s or --max-wait 10m\n", ""},
		{[]string{"--version"}, 0, "", "bbkey test\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			ios, _, out, errOut := iostreamstest.Test()
			f := NewFactory("test", ios)
			code := Run(context.Background(), f, tt.args)
			if code != tt.wantCode || errOut.String() != tt.wantErr || out.String() != tt.wantOut {
				t.Errorf("Run(%q) = %d\nstderr %q\nstdout %q\nwant %d\nstderr %q\nstdout %q", tt.args, code, errOut, out, tt.wantCode, tt.wantErr, tt.wantOut)
			}
		})
	}
}

// With --json, a command that fails before printing its document prints the error as one.
func TestRunJSONError(t *testing.T) {
	ios, _, out, _ := iostreamstest.Test()
	f := NewFactory("test", ios)
	if code := Run(context.Background(), f, []string{"--json", "--max-wait", "0s", "list"}); code != 2 {
		t.Fatalf("exit %d", code)
	}
	var doc struct {
		Error struct {
			Message  string `json:"message"`
			ExitCode int    `json:"exit_code"`
		} `json:"error"`
	}
	if err := json.NewDecoder(bytes.NewReader([]byte(out.String()))).Decode(&doc); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, out)
	}
	if doc.Error.ExitCode != 2 || !strings.Contains(doc.Error.Message, "--max-wait") {
		t.Errorf("error document = %+v", doc)
	}
}
