package accesskey

import (
	"time"

	"github.com/bbkey/bbkey/internal/provision"
	"github.com/bbkey/bbkey/internal/state"
)

// Status is how a target ended (provision.Status: the pipeline's upload names them).
type Status string

// Statuses of a target.
const (
	// StatusAdded: the key was added by this run.
	StatusAdded = Status(provision.Added)
	// StatusPresent: the key was already there (Bitbucket said so, or an earlier run
	// recorded it; Recorded tells which).
	StatusPresent = Status(provision.Present)
	// StatusFailed: Bitbucket refused or the call gave up; Err says why.
	StatusFailed = Status(provision.Failed)
	// StatusSkipped: not attempted, because the run stopped first (wait budget spent,
	// credential refused, interrupted).
	StatusSkipped = Status(provision.Skipped)
)

// Done reports whether the key is on the target.
func (s Status) Done() bool { return s == StatusAdded || s == StatusPresent }

// Result is the outcome for one target.
type Result struct {
	Target state.Target
	Status Status
	// KeyID is the id Bitbucket gave the key on the target.
	KeyID string
	// Err is why the target failed.
	Err error
	// Recorded is set when an earlier run recorded the target as done: no call was made.
	Recorded bool
	// Added is when the target was done.
	Added time.Time
}
