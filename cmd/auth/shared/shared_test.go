package shared

import (
	"slices"
	"strings"
	"testing"

	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/errkind"
)

func TestMissing(t *testing.T) {
	need := []string{"a", "b", "c"}
	if got := Missing(nil, need); got != nil {
		t.Errorf("unknown scopes: %q, want nothing known missing", got)
	}
	if got := Missing([]string{}, need); !slices.Equal(got, need) {
		t.Errorf("no scopes: %q", got)
	}
	if got := Missing([]string{"b", "x"}, need); !slices.Equal(got, []string{"a", "c"}) {
		t.Errorf("got %q", got)
	}
}

func TestRequireScopes(t *testing.T) {
	if err := RequireScopes(Verified{}, SetupScopes, "setup"); err != nil {
		t.Errorf("unknown scopes must not fail: %v", err)
	}
	err := RequireScopes(Verified{Scopes: []string{"read:user:bitbucket"}}, SetupScopes, "bbkey setup")
	if apierr.ExitCode(err) != errkind.ExitAuth || !strings.Contains(err.Error(), "read:ssh-key:bitbucket, write:ssh-key:bitbucket") {
		t.Errorf("err = %v (exit %d)", err, apierr.ExitCode(err))
	}
}

func TestTrimSpaceBytesClearsTheRest(t *testing.T) {
	b := []byte("  tok\r\n")
	got := trimSpaceBytes(b)
	if string(got) != "tok" {
		t.Errorf("got %q", got)
	}
	for _, c := range b[len(got):] {
		if c != 0 {
			t.Fatalf("bytes after the token not cleared: %q", b)
		}
	}
}
