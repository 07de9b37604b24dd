package state

import (
	"strings"
	"testing"

	"github.com/bbkey/bbkey/internal/cmdutil"
)

// A target not of the form WS/SLUG comes with a hint showing the form, with an example,
// wherever it is parsed (add-access-key, list, remove).
func TestParseTargetHints(t *testing.T) {
	for kind, want := range map[TargetKind]string{TargetRepo: "--repo acme/api", TargetProject: "--project acme/OPS"} {
		_, err := ParseTarget(kind, "noslash")
		if err == nil {
			t.Fatalf("%s: no error", kind)
		}
		if h := strings.Join(cmdutil.Hints(cmdutil.UsageError(err)), "\n"); !strings.Contains(h, want) {
			t.Errorf("%s: hints %q, want an example %q", kind, h, want)
		}
	}
}
