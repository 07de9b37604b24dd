//go:build !windows

package cmdutil

import (
	"fmt"
	"os"
)

// checkSecretFile refuses a secret file group or others can read.
func checkSecretFile(path string) error {
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return WithHint(fmt.Errorf("%s is readable by other users (mode %04o)", path, fi.Mode().Perm()),
			fmt.Sprintf("run: chmod 600 %s", path))
	}
	return nil
}
