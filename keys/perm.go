package keys

import (
	"errors"
	"fmt"
	"os"
)

// PermissionError is a key, passphrase file or ssh directory that is too open or owned by
// someone else, as OpenSSH would refuse it; Hints give the fix.
type PermissionError struct {
	Path    string
	Problem string // e.g. "is writable by group or others (mode 0775)"
	Fix     string // e.g. "chmod 700 /home/ann/.ssh"; on Windows the icacls lines joined by " && "
	// FixLines are the commands of Fix one by one (Windows: icacls lines); nil for one chmod.
	FixLines []string
	class    permClass
	holds    string // a secret file's secret ("passphrase", "token"), for the hint's reason
}

func (e *PermissionError) Error() string {
	return fmt.Sprintf("unsafe permissions: %s %s", e.Path, e.Problem)
}

func (e *PermissionError) Hints() []string {
	why := "ssh refuses it as it is"
	switch {
	case e.class == classSecret && e.holds == "passphrase":
		why = "a passphrase others can read protects nothing"
	case e.class == classSecret:
		why = "a " + e.holds + " others can read is theirs to use"
	}
	if len(e.FixLines) > 1 {
		return append([]string{"fix it with these commands (" + why + "):"}, e.FixLines...)
	}
	return []string{"fix it with: " + e.Fix + " (" + why + ")"}
}

// permClass is what a checked path is, which decides the bits it must not have.
type permClass int

const (
	classDir     permClass = iota // ~/.ssh: not group/world-writable
	classPrivate                  // private key: nothing for group or others
	classPublic                   // .pub: not group/world-writable (else it can be swapped before upload)
	classSecret                   // passphrase file: nothing for group or others
)

// CheckDir refuses an ssh directory others can write or that another user owns.
func CheckDir(dir string) error { return checkPath(dir, classDir) }

// CheckPrivateFile refuses a private key others can access or another user owns, as ssh does.
func CheckPrivateFile(path string) error { return checkPath(path, classPrivate) }

// CheckSecretFile refuses a regular file holding a secret (holds: "passphrase", "token")
// that others can read; pipes are not judged.
func CheckSecretFile(path, holds string) error {
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return err
	}
	err = checkMode(path, fi, classSecret)
	var pe *PermissionError
	if errors.As(err, &pe) {
		pe.holds = holds
	}
	return err
}

// CheckPublicFile refuses a .pub file that group or others can write.
func CheckPublicFile(path string) error { return checkPath(path, classPublic) }

func checkPath(path string, c permClass) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if c == classDir && !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", path)
	}
	if c != classDir && fi.IsDir() {
		return fmt.Errorf("%s is a directory, not a file", path)
	}
	return checkMode(path, fi, c)
}
