package hostkeys

import (
	"strings"
	"testing"

	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/settings"
)

// An ssh-host that is not a host name would be written into known_hosts as something
// else ("bad host" is the host "bad" with key type "host"), so it is refused as a usage
// error before anything is pinned.
func TestPinnedRefusesAnAliasThatIsNotAHostName(t *testing.T) {
	for _, h := range []string{"bad host", "a,b", "#x", "x\ny", "*.org", "h!"} {
		_, err := Pinned(settings.Settings{SSHHost: h})
		if apierr.ExitCode(err) != errkind.ExitUsage || !strings.Contains(err.Error(), "--ssh-host") || len(apierr.Hints(err)) == 0 {
			t.Errorf("ssh-host %q: err = %v (exit %d)", h, err, apierr.ExitCode(err))
		}
	}
	for _, h := range []string{"ssh.bitbucket.org", "bitbucket_test-1.example", ""} {
		if _, err := Pinned(settings.Settings{SSHHost: h}); err != nil {
			t.Errorf("ssh-host %q: %v", h, err)
		}
	}
}
