package setup

import (
	"strings"
	"testing"

	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/testutil"
)

// A --ssh-host-keys file that cannot be read, or an --ssh-host that is not a host name,
// is a usage error before anything is asked, generated, uploaded or written (it used to
// surface at the host keys step, after the upload, and a bad --ssh-host rewrote the pins).
func TestSetupBadHostKeySettingsFailFirst(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, env, val, want string
	}{
		{"host keys file", "BBKEY_SSH_HOST_KEYS", "/nonexistent/host_keys", "reading the ssh host keys"},
		{"ssh host", "BBKEY_SSH_HOST", "bad host", "invalid --ssh-host"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fx := newFixture(t)
			fx.env[tt.env] = tt.val
			before := fx.snapshot()
			err := fx.run("--passphrase-file", fx.passFile)
			if apierr.ExitCode(err) != errkind.ExitUsage || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v (exit %d), want exit 2 with %q", err, apierr.ExitCode(err), tt.want)
			}
			if got := fx.requests(); len(got) != 0 {
				t.Errorf("requests before failing: %q", got)
			}
			if d := testutil.DiffSnapshots(before, fx.snapshot()); d != "" {
				t.Errorf("files written before failing:\n%s", d)
			}
		})
	}
}
