package state_test

import (
	"strings"
	"testing"

	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/state"
)

// A target not of the form WS/SLUG comes with a hint showing the form, with an example,
// wherever it is parsed (add-access-key, list, remove).
func TestParseTargetHints(t *testing.T) {
	for kind, want := range map[state.TargetKind]string{state.TargetRepo: "--repo acme/api", state.TargetProject: "--project acme/OPS"} {
		_, err := state.ParseTarget(kind, "noslash")
		if err == nil {
			t.Fatalf("%s: no error", kind)
		}
		if h := strings.Join(apierr.Hints(errkind.UsageError(err)), "\n"); !strings.Contains(h, want) {
			t.Errorf("%s: hints %q, want an example %q", kind, h, want)
		}
	}
}
