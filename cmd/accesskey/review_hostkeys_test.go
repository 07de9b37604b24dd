package accesskey

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/errkind"
)

// A --ssh-host-keys file that cannot be read (or an --ssh-host that is not a host name)
// fails before the key is made or added anywhere: it used to surface after every target
// had the key, as the run rendered the ssh config.
func TestAddBadHostKeySettingsFailFirst(t *testing.T) {
	for _, tt := range []struct{ env, val, want string }{
		{"BBKEY_SSH_HOST_KEYS", "/nonexistent/host_keys", "reading the ssh host keys"},
		{"BBKEY_SSH_HOST", "bad host", "invalid --ssh-host"},
	} {
		h := newHarness(t)
		h.env[tt.env] = tt.val
		err := h.run(context.Background(), "--repo", "acme/api", "--passphrase-file", h.pass)
		if apierr.ExitCode(err) != errkind.ExitUsage || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v (exit %d)", tt.env, err, apierr.ExitCode(err))
		}
		if reqs := h.emu.Requests(); len(reqs) != 0 {
			t.Errorf("%s: %d requests before failing", tt.env, len(reqs))
		}
		if entries, _ := os.ReadDir(h.home.SSHDir); len(entries) != 0 {
			t.Errorf("%s: files written before failing: %v", tt.env, entries)
		}
	}
}
