//go:build windows

package cmdutil

import (
	"fmt"
	"os"

	"github.com/bbkey/bbkey/internal/fsutil"
)

// checkSecretFile refuses a regular secret file whose ACL lets anyone but the user,
// SYSTEM and Administrators in, with the icacls lines that fix it.
func checkSecretFile(path string) error {
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return nil // the read that follows reports a missing file; pipes have no ACL to judge
	}
	problem, fix, err := fsutil.ACLProblem(path)
	if err != nil {
		return err
	}
	if problem == "" {
		return nil
	}
	return WithHint(fmt.Errorf("%s %s", path, problem), append([]string{"fix it with these commands:"}, fix...)...)
}
