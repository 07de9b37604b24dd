package remove

import (
	"io"
	"strings"
	"testing"

	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/cmdutil"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/iostreams/iostreamstest"
)

// Without KEY (or with two) the error says what KEY is and where to find one, not
// cobra's "accepts 1 arg(s), received 0".
func TestKeyArgument(t *testing.T) {
	for _, args := range [][]string{{}, {"a", "b"}} {
		ios, _, _, _ := iostreamstest.Test()
		f := &cmdutil.Factory{IOStreams: ios, Globals: &cmdutil.GlobalOptions{}}
		cmd := NewCmdRemove(f, func(*Options) error { t.Fatal("ran without one KEY"); return nil })
		cmd.SetArgs(args)
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		err := cmd.Execute()
		if apierr.ExitCode(err) != errkind.ExitUsage || !strings.Contains(err.Error(), "KEY") || strings.Contains(err.Error(), "arg(s)") {
			t.Errorf("args %q: err = %v (exit %d)", args, err, apierr.ExitCode(err))
		}
		if h := apierr.Hints(err); len(h) == 0 || !strings.Contains(strings.Join(h, " "), "bbkey list") {
			t.Errorf("args %q: hints %q, want one pointing at bbkey list", args, h)
		}
	}
}
