package remote

import (
	"context"
	"strings"
	"testing"

	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/iostreams/iostreamstest"
)

// A PATH or --recursive DIR that does not exist is a mistake in the command line: exit 2
// naming the operand, before anything is read or changed (not exit 0 with a warning, or
// exit 1 with git's chdir error).
func TestMissingPathsAreUsageErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		set  func(*Options)
		want string
	}{
		{"recursive", func(o *Options) { o.Recursive = []string{"nowhere"} }, "--recursive nowhere"},
		{"path", func(o *Options) { o.Dirs = []string{"nowhere"} }, "nowhere"},
		{"recursive file", func(o *Options) { o.Recursive = []string{"file"} }, "is not a directory"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t)
			fx.repo("a", "origin", "https://bitbucket.org/ws/a.git")
			writeFile(t, fx.root+"/file", "x")
			ios, _, stdout, _ := iostreamstest.Test()
			o := fx.opts(ios)
			o.Yes = true
			o.Recursive = append(o.Recursive, ".")
			tt.set(o)
			err := runRemote(context.Background(), o)
			if apierr.ExitCode(err) != errkind.ExitUsage || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v (exit %d), want exit 2 naming %q", err, apierr.ExitCode(err), tt.want)
			}
			if len(apierr.Hints(err)) == 0 {
				t.Errorf("no hint with %v", err)
			}
			if stdout.String() != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			if got := fx.url("a", "origin"); got != "https://bitbucket.org/ws/a.git" {
				t.Errorf("a was rewritten to %s before the bad operand was refused", got)
			}
		})
	}
}
