package state

import (
	"errors"
	"fmt"

	"github.com/bbkey/bbkey/internal/fsutil"
)

// ErrRotationRunning is returned by LockRotation when another process holds the run lock.
var ErrRotationRunning = errors.New("another bbkey rotate is running")

// LockRotation takes the run lock (rotate.lock) for the whole of a rotation, or fails at
// once with ErrRotationRunning. The operating system drops the lock when its holder dies,
// so a killed run never blocks the next one, which then finds the journal and resumes.
func (d Dir) LockRotation() (*fsutil.Lock, error) {
	if err := fsutil.MkdirPrivate(d.Path); err != nil {
		return nil, fmt.Errorf("creating config directory: %w", err)
	}
	path := d.file(RotateLockFile)
	l, err := fsutil.TryLock(path)
	if errors.Is(err, fsutil.ErrLocked) {
		return nil, withHint(fmt.Errorf("%w (it holds %s)", ErrRotationRunning, path),
			"wait for it to finish (a scheduled run logs to rotate.log in the same directory), then try again")
	}
	if err != nil {
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return l, nil
}
