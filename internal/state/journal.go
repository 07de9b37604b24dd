package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/fsutil"
)

// AccountTarget keys the account key in OldKeyIDs and NewKeyIDs; targets use Target.Key().
const AccountTarget = "account"

// Journal records a rotation in progress, rewritten after every step, so after a crash it
// says how far the rotation got: what to prove or delete (NewKeyIDs), what to revoke or
// keep (OldKeyIDs).
type Journal struct {
	Version   int          `json:"version"`
	Kind      RotationKind `json:"kind"`
	Name      string       `json:"name"` // the account or access-key name
	Started   time.Time    `json:"started"`
	Updated   time.Time    `json:"updated"`
	Scheduled bool         `json:"scheduled,omitempty"`

	OldFingerprint string `json:"old_fingerprint"`
	NewFingerprint string `json:"new_fingerprint,omitempty"`
	// OldPath is the key being replaced; RetiredPath is where it was moved aside.
	OldPath     string `json:"old_path"`
	NewPath     string `json:"new_path,omitempty"`
	RetiredPath string `json:"retired_path,omitempty"`
	// OldKeyIDs and NewKeyIDs map AccountTarget or a Target.Key() to the key's id there.
	OldKeyIDs map[string]string `json:"old_key_ids,omitempty"`
	NewKeyIDs map[string]string `json:"new_key_ids,omitempty"`

	// Step is the last completed step; Done lists them all in order.
	Step string       `json:"step,omitempty"`
	Done []StepRecord `json:"done,omitempty"`

	dir Dir
}

// StepRecord is a completed step.
type StepRecord struct {
	Name string    `json:"name"`
	Time time.Time `json:"time"`
}

// ErrNoJournal is returned by LoadJournal when no rotation is in progress.
var ErrNoJournal = errors.New("no rotation in progress")

// ErrInProgress is returned by Begin when an earlier rotation did not finish.
var ErrInProgress = errors.New("an earlier rotation did not finish")

// Begin starts the journal of a new rotation from j; it fails with ErrInProgress while an
// earlier one exists.
func (d Dir) Begin(j Journal) (*Journal, error) {
	if j.Kind == "" || j.Name == "" {
		return nil, errors.New("rotation journal needs a kind and a name")
	}
	now := d.now()
	j.Version = Version
	j.Started, j.Updated = now, now
	j.Step, j.Done = "", nil
	j.dir = d
	b, err := j.encode()
	if err != nil {
		return nil, err
	}
	if err := fsutil.MkdirPrivate(d.Path); err != nil {
		return nil, fmt.Errorf("creating config directory: %w", err)
	}
	path := d.file(JournalFile)
	if err := fsutil.CreateExclusive(path, b, 0o600); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, errkind.WithHint(fmt.Errorf("%w (%s)", ErrInProgress, path),
				"run `bbkey rotate` again: it resumes or rolls back the unfinished rotation first")
		}
		return nil, fmt.Errorf("starting rotation journal: %w", err)
	}
	return &j, nil
}

// LoadJournal reads the journal of the rotation in progress, or returns ErrNoJournal.
func (d Dir) LoadJournal() (*Journal, error) {
	path := d.file(JournalFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoJournal
	}
	if err != nil {
		return nil, fmt.Errorf("reading rotation journal: %w", err)
	}
	var j Journal
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, errkind.WithHint(fmt.Errorf("reading %s: %w", path, err),
			"check the keys with `bbkey list`, then move the file aside to start a new rotation")
	}
	if err := checkVersion(path, j.Version); err != nil {
		return nil, err
	}
	j.dir = d
	return &j, nil
}

// Did reports whether step was completed.
func (j *Journal) Did(step string) bool {
	return slices.ContainsFunc(j.Done, func(s StepRecord) bool { return s.Name == step })
}

// Advance records step as completed, with every field changed since, and writes the
// journal. A resumed run may record a step twice.
func (j *Journal) Advance(step string) error {
	now := j.dir.now()
	j.Step, j.Updated = step, now
	j.Done = append(j.Done, StepRecord{Name: step, Time: now})
	return j.save()
}

// SetNewKeyID records the id of the new key on target (AccountTarget or a Target.Key()).
func (j *Journal) SetNewKeyID(target, id string) {
	if j.NewKeyIDs == nil {
		j.NewKeyIDs = map[string]string{}
	}
	j.NewKeyIDs[target] = id
}

// Targets lists the targets the journal knows ids for, sorted.
func (j *Journal) Targets() []string {
	all := slices.AppendSeq(slices.Collect(maps.Keys(j.OldKeyIDs)), maps.Keys(j.NewKeyIDs))
	slices.Sort(all)
	return slices.Compact(all)
}

// Finish removes the journal of a complete or rolled-back rotation.
func (j *Journal) Finish() error {
	if err := os.Remove(j.dir.file(JournalFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing rotation journal: %w", err)
	}
	return nil
}

func (j *Journal) encode() ([]byte, error) {
	b, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding rotation journal: %w", err)
	}
	return append(b, '\n'), nil
}

func (j *Journal) save() error {
	b, err := j.encode()
	if err != nil {
		return err
	}
	if err := fsutil.WriteFileAtomic(j.dir.file(JournalFile), b, 0o600); err != nil {
		return fmt.Errorf("writing rotation journal: %w", err)
	}
	return nil
}
