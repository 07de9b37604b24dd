package accesskey

import (
	"time"

	"github.com/bbkey/bbkey/internal/provision"
	"github.com/bbkey/bbkey/internal/state"
)

// Result is the outcome for one target.
type Result struct {
	Target state.Target
	// Status is the pipeline's; Present also for a target an earlier run recorded.
	Status provision.Status
	// KeyID is the id Bitbucket gave the key on the target.
	KeyID string
	// Err is why the target failed.
	Err error
	// Recorded is set when an earlier run recorded the target as done: no call was made.
	Recorded bool
	// Added is when the target was done.
	Added time.Time
}
