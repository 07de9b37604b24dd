//go:build !windows

package credstore

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"github.com/bbkey/bbkey/internal/errkind"
)

// checkPrivate refuses a credentials file that others can read or that belongs to someone
// else: its secrets may already have leaked, and bbkey should not keep using it.
func checkPrivate(path string, fi fs.FileInfo) error {
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return errkind.WithHint(
			fmt.Errorf("credentials file %s is readable by other users (mode %04o)", path, perm),
			fmt.Sprintf("treat the tokens in it as leaked: revoke them, then `chmod 600 %s` or delete it and run `bbkey auth login` again", path))
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		return fmt.Errorf("credentials file %s belongs to another user (uid %d)", path, st.Uid)
	}
	return nil
}
