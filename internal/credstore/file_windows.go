//go:build windows

package credstore

import (
	"fmt"
	"io/fs"
	"strings"

	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/fsutil"
)

// checkPrivate refuses a credentials file whose ACL lets anyone but the user, SYSTEM and
// Administrators in: its secrets may already have leaked, and bbkey should not keep using
// it. (Windows has no mode bits; bbkey writes the file with a private ACL.)
func checkPrivate(path string, _ fs.FileInfo) error {
	problem, fix, err := fsutil.ACLProblem(path)
	if err != nil {
		return fmt.Errorf("credentials file: %w", err)
	}
	if problem == "" {
		return nil
	}
	return errkind.WithHint(fmt.Errorf("credentials file %s %s", path, problem),
		"treat the tokens in it as leaked: revoke them, then run `"+strings.Join(fix, "` and `")+"`, or delete it and run `bbkey auth login` again")
}
