package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/fsutil"
	"github.com/bbkey/bbkey/internal/testhook"
)

// ErrBusy is returned by LockWriters when another bbkey command holds the writers' lock
// for longer than the caller waits.
var ErrBusy = errors.New("another bbkey command is changing keys")

// DefaultLockWait is how long a command waits for another bbkey command to finish.
const DefaultLockWait = 10 * time.Second

// LockWaitEnv sets how long a command waits for another bbkey command that is changing
// keys (a Go duration such as 30s; 0 stops at once).
const LockWaitEnv = "BBKEY_LOCK_WAIT"

// LockCommand takes the writers' lock for command ("setup", "doctor --fix", …) as
// LockWriters does, waiting up to BBKEY_LOCK_WAIT and saying on errOut whom it waits for.
// The test hook can pause it at "NAME:locked", NAME the command's first word.
func (d Dir) LockCommand(ctx context.Context, command string, lookupEnv func(string) (string, bool), errOut io.Writer) (*WriterLock, error) {
	wait := time.Duration(0)
	if lookupEnv != nil {
		if v, ok := lookupEnv(LockWaitEnv); ok && strings.TrimSpace(v) != "" {
			w, err := time.ParseDuration(strings.TrimSpace(v))
			if err != nil || w < 0 {
				return nil, errkind.WithHint(fmt.Errorf("%s=%q is not a duration", LockWaitEnv, v),
					"give a duration such as 30s, or 0 to stop at once when another bbkey command is running")
			}
			wait = w
			if w == 0 {
				wait = -1
			}
		}
	}
	l, err := d.LockWriters(ctx, command, wait, func(h Holder) {
		if errOut != nil {
			fmt.Fprintf(errOut, "! Waiting for %s to finish (it holds bbkey's lock)\n", h)
		}
	})
	if err != nil {
		return nil, err
	}
	name, _, _ := strings.Cut(command, " ")
	testhook.Pause(ctx, lookupEnv, name+":locked")
	return l, nil
}

// Holder is the command that holds the writers' lock, as it noted in the lock file.
type Holder struct {
	Command string    `json:"command"`
	PID     int       `json:"pid"`
	Since   time.Time `json:"since"`
}

// String names the holder for messages: "bbkey setup (pid 4242, since 12:00:01 UTC)".
func (h Holder) String() string {
	if h.Command == "" {
		return "another bbkey command"
	}
	s := "bbkey " + h.Command
	if h.PID > 0 {
		s += fmt.Sprintf(" (pid %d", h.PID)
		if !h.Since.IsZero() {
			s += ", since " + h.Since.UTC().Format("2006-01-02 15:04:05 UTC")
		}
		s += ")"
	}
	return s
}

// WriterLock is the writers' lock, held from before a command reads the state until after
// its last write.
type WriterLock struct {
	l   *fsutil.Lock
	dir string // the config directory, when this lock created it
}

// Unlock removes the lock file (and the config directory it created, when empty), so a
// command that changed nothing leaves nothing behind.
func (w *WriterLock) Unlock() error {
	if w == nil || w.l == nil {
		return nil
	}
	err := w.l.UnlockRemove()
	w.l = nil
	if w.dir != "" {
		_ = os.Remove(w.dir) // only when empty
	}
	return err
}

// LockWriters takes the writers' lock (rotate.lock) for command: every command that
// changes keys takes it, so none acts on a state another is changing. When another holds
// it, waiting is called with the holder, and LockWriters waits up to wait (0:
// DefaultLockWait; negative: not at all) or until ctx ends, then fails with ErrBusy. The
// OS drops the lock when its holder dies.
func (d Dir) LockWriters(ctx context.Context, command string, wait time.Duration, waiting func(Holder)) (*WriterLock, error) {
	_, statErr := os.Stat(d.Path)
	created := ""
	if errors.Is(statErr, fs.ErrNotExist) {
		created = d.Path
	}
	if err := fsutil.MkdirPrivate(d.Path); err != nil {
		return nil, fmt.Errorf("creating config directory: %w", err)
	}
	path := d.file(RotateLockFile)
	if wait == 0 {
		wait = DefaultLockWait
	}
	l, err := fsutil.TryLock(path)
	if errors.Is(err, fsutil.ErrLocked) {
		h := readHolder(path)
		if wait > 0 {
			if waiting != nil {
				waiting(h)
			}
			wctx, cancel := context.WithTimeout(ctx, wait)
			l, err = fsutil.LockContext(wctx, path)
			cancel()
			if err != nil && ctx.Err() == nil {
				err = fsutil.ErrLocked
				if h2 := readHolder(path); h2.Command != "" {
					h = h2
				}
			}
		}
		if errors.Is(err, fsutil.ErrLocked) {
			msg := fmt.Errorf("%w: %s holds %s", ErrBusy, h, path)
			if wait > 0 {
				msg = fmt.Errorf("%w: %s holds %s (waited %s)", ErrBusy, h, path, wait)
			}
			return nil, errkind.WithHint(msg,
				"let it finish, then run this command again (a scheduled run logs to rotate.log in the same directory)")
		}
	}
	if err != nil {
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	note, _ := json.Marshal(Holder{Command: command, PID: os.Getpid(), Since: d.now().UTC().Truncate(time.Second)})
	_ = l.SetNote(note)
	// The config directory is bbkey's own: leftovers of killed runs go now.
	fsutil.RemoveStaleTemps(d.Path, func(string) bool { return true })
	return &WriterLock{l: l, dir: created}, nil
}

func readHolder(path string) Holder {
	var h Holder
	_ = json.Unmarshal(fsutil.ReadNote(path), &h)
	return h
}
