package accesskey

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bbkey/bbkey/bbapi/bbapitest"
	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/errkind"
)

// hintsOf is the run's error's hints in one string, one a line.
func hintsOf(err error) string { return strings.Join(apierr.Hints(err), "\n") }

const rerunHint = "run the same command again to finish"

// A run whose every failure a re-run meets again (a repository the token may not
// administer: 403; one that does not exist: 404) does not end with "run the same command
// again to finish": its hints say what to fix instead. Exit 3 either way.
func TestAddNoRerunHintWhenARerunFailsTheSameWay(t *testing.T) {
	h := newHarness(t)
	if err := h.emu.SetRepoPermission("acme", "infra", bbapitest.DefaultEmail, bbapitest.PermWrite); err != nil {
		t.Fatal(err)
	}
	err := h.run(context.Background(), "--repo", "acme/api,acme/infra,acme/nope", "--passphrase-file", h.pass)
	if apierr.ExitCode(err) != errkind.ExitPartial || !strings.Contains(err.Error(), "2 of 3 targets do not have the key: acme/infra, acme/nope") {
		t.Fatalf("err = %v (exit %d), want a partial failure naming acme/infra and acme/nope", err, apierr.ExitCode(err))
	}
	hints := hintsOf(err)
	if strings.Contains(hints, rerunHint) || !strings.Contains(hints, "a re-run alone fails the same way") {
		t.Errorf("hints:\n%s", hints)
	}
}

// A server error (500 on every attempt) is one a re-run may not meet: the hint to run the
// same command again stays, next to what the 403 target needs.
func TestAddRerunHintWhenSomeFailurePasses(t *testing.T) {
	h := newHarness(t)
	h.f.Globals.MaxWait = 2 * time.Second
	if err := h.emu.SetRepoPermission("acme", "infra", bbapitest.DefaultEmail, bbapitest.PermWrite); err != nil {
		t.Fatal(err)
	}
	h.emu.FailNext(bbapitest.Match("POST", "/2.0/repositories/acme/web/deploy-keys"), 50, 500, `{"type":"error","error":{"message":"Something went wrong"}}`)
	err := h.run(context.Background(), "--repo", "acme/web,acme/infra", "--passphrase-file", h.pass)
	if apierr.ExitCode(err) != errkind.ExitPartial || !strings.Contains(err.Error(), "2 of 2 targets do not have the key") {
		t.Fatalf("err = %v (exit %d), want a partial failure of both", err, apierr.ExitCode(err))
	}
	if hints := hintsOf(err); !strings.Contains(hints, rerunHint) || strings.Contains(hints, "fails the same way") {
		t.Errorf("hints:\n%s", hints)
	}
}
