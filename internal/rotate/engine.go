package rotate

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/bbkey/bbkey/agent"
	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/gitrun"
	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/keylabel"
	"github.com/bbkey/bbkey/internal/settings"
	"github.com/bbkey/bbkey/internal/sshconfig"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/internal/testhook"
)

// The steps of a rotation, in order (docs/rotate.md), each journalled when done.
const (
	StepBegin       = "begin"
	StepGenerate    = "generate"
	StepUpload      = "upload"
	StepProve       = "prove"
	StepAgentAdd    = "agent-add"
	StepConfigNext  = "config-next"
	StepMoveOld     = "move-old"
	StepLinkNew     = "link-new"
	StepConfigFinal = "config-final"
	StepAgentRemove = "agent-remove"
	StepRevoke      = "revoke"
	StepRetire      = "retire"
)

const (
	// CrashEnv and PanicEnv name the test hooks (doc.go): exit with CrashExitCode, or
	// panic as a bug would, after the step they name.
	CrashEnv      = "BBKEY_TEST_CRASH_AFTER"
	PanicEnv      = "BBKEY_TEST_PANIC_AFTER"
	CrashExitCode = 99
	// RetiredDir, inside ~/.ssh/bbkey, keeps rotated-out key pairs, stamped with the
	// rotation's start (RetiredTimeLayout, UTC) and a digest of the old fingerprint.
	RetiredDir         = "retired"
	RetiredTimeLayout  = "20060102T150405Z"
	DefaultKeepRetired = 30 * 24 * time.Hour
	// concurrency bounds parallel calls for the places of an access key.
	concurrency = 4
)

// Results of a dry run's Outcome, beyond state.Result's.
const (
	ResultWouldRotate   = "would-rotate"
	ResultWouldResume   = "would-resume"
	ResultWouldRollBack = "would-roll-back"
)

// Engine rotates keys. Every side effect comes in through its fields.
type Engine struct {
	// Backend reaches a server's Bitbucket ("" for Cloud); called once per server.
	Backend func(ctx context.Context, server string) (backend.Backend, error)
	// Agent connects to the user's ssh-agent; an error skips the agent steps with a warning.
	Agent    func() (agent.Agent, error)
	State    state.Dir
	SSHDir   string
	Settings settings.Settings
	// Hostname goes into new keys' comments.
	Hostname string
	Now      func() time.Time
	IO       *iostreams.IOStreams
	// Passphrase gives a new key's passphrase (nil: none); the engine clears it.
	Passphrase func(ctx context.Context, name string) ([]byte, error)
	// CheckPassphrase, for a dry run with a key to rotate, refuses what Passphrase would
	// refuse, without asking (nil: no check).
	CheckPassphrase func() error
	// LookupEnv and Exit serve the test hooks (Exit nil: os.Exit).
	LookupEnv func(string) (string, bool)
	Exit      func(code int)
	// Git runs git for the ls-remote proof (nil: the git on PATH).
	Git func(env []string) gitrun.Runner
	// Scheduled marks runs started by the timer, in the journal and the history.
	Scheduled   bool
	KeepRetired time.Duration
	// Trace receives the SSH proof's trace (--debug); nil for none.
	Trace io.Writer

	backends map[string]backend.Backend

	agentOnce sync.Once
	agent     agent.Agent
	agentErr  error
}

// Request says what to rotate.
type Request struct {
	Kind state.RotationKind
	// Name limits the run to one account or access key; "" takes all of Kind.
	Name string
	// IfOlderThan skips keys younger than this; 0 rotates whatever the age.
	IfOlderThan time.Duration
	// DryRun decides and reports, and changes nothing.
	DryRun bool
}

// Outcome is what happened to one key.
type Outcome struct {
	Kind state.RotationKind `json:"kind"`
	Name string             `json:"name"`
	// Server is the Data Center server the key is on; absent for Bitbucket Cloud.
	Server string `json:"server,omitempty"`
	// Result is a state.Result, or for a dry run would-rotate, would-resume or
	// would-roll-back.
	Result string `json:"result"`
	// Resumed is set when the rotation was left unfinished by an earlier run.
	Resumed bool   `json:"resumed"`
	Reason  string `json:"reason,omitempty"`
	// Created is when the old key was made, as far as Bitbucket, its label or the state tell.
	Created        time.Time         `json:"created,omitzero"`
	AgeDays        int               `json:"age_days"`
	OldFingerprint string            `json:"old_fingerprint,omitempty"`
	NewFingerprint string            `json:"new_fingerprint,omitempty"`
	OldKeyIDs      map[string]string `json:"old_key_ids,omitempty"`
	NewKeyIDs      map[string]string `json:"new_key_ids,omitempty"`
	Label          string            `json:"label,omitempty"`
	KeyPath        string            `json:"key_path,omitempty"`
	RetiredPath    string            `json:"retired_path,omitempty"`
	// Steps are the steps done by this run, in order.
	Steps        []string `json:"steps"`
	ChangedFiles []string `json:"changed_files"`
	Error        string   `json:"error,omitempty"`
}

func (o *Outcome) step(name string)        { o.Steps = append(o.Steps, name) }
func (o *Outcome) changed(paths ...string) { o.ChangedFiles = appendUnique(o.ChangedFiles, paths...) }

func newOutcome(kind state.RotationKind, name, server, oldFP string) *Outcome {
	return &Outcome{Kind: kind, Name: name, Server: server, OldFingerprint: oldFP, Steps: []string{}, ChangedFiles: []string{}}
}

// Report is what a run did.
type Report struct {
	DryRun    bool               `json:"dry_run"`
	Kind      state.RotationKind `json:"kind"`
	Scheduled bool               `json:"scheduled"`
	// Result is the overall state.Result: failed when any key failed, partial when an
	// old key is left to revoke, else ok.
	Result       string     `json:"result"`
	Rotations    []*Outcome `json:"rotations"`
	ChangedFiles []string   `json:"changed_files"`
}

func (r *Report) add(o *Outcome) *Outcome {
	r.Rotations = append(r.Rotations, o)
	return o
}

func (r *Report) finish(err error) {
	for _, o := range r.Rotations {
		r.ChangedFiles = appendUnique(r.ChangedFiles, o.ChangedFiles...)
	}
	switch {
	case err == nil:
		r.Result = string(state.ResultOK)
		for _, o := range r.Rotations {
			switch state.Result(o.Result) {
			case state.ResultOK, state.ResultSkipped, state.ResultRolledBack:
			default:
				if !r.DryRun {
					r.Result = o.Result
				}
			}
		}
	case apierr.ExitCode(err) == errkind.ExitPartial:
		r.Result = string(state.ResultPartial)
	default:
		r.Result = string(state.ResultFailed)
	}
}

// Run carries out req under the run lock: an unfinished rotation first, then each key
// that is due. The report lists what was done, also with an error.
func (e *Engine) Run(ctx context.Context, req Request) (*Report, error) {
	rep := &Report{DryRun: req.DryRun, Kind: req.Kind, Scheduled: e.Scheduled, Rotations: []*Outcome{}, ChangedFiles: []string{}}
	err := e.run(ctx, req, rep)
	rep.finish(err)
	return rep, err
}

func (e *Engine) run(ctx context.Context, req Request, rep *Report) error {
	if !req.DryRun {
		// The writers' lock, taken before the journal and the state are read.
		command := "rotate"
		if req.Kind == state.RotateAccessKeys {
			command = "rotate --access-keys"
		}
		lock, err := e.State.LockCommand(ctx, command, e.LookupEnv, e.IO.ErrOut)
		if err != nil {
			return err
		}
		defer lock.Unlock()
	}

	j, err := e.State.LoadJournal()
	if errors.Is(err, state.ErrNoJournal) {
		j, err = nil, nil
	}
	if err != nil {
		return err
	}
	st, err := e.State.Load()
	if err != nil {
		return err
	}

	// With an unfinished rotation, a request naming nothing rotatable still resolves it
	// first and reports the request's error after.
	subjects, subjErr := e.subjects(st, req)
	if subjErr != nil && j == nil {
		return subjErr
	}
	// A journal names the key it was rotating; that rotation is finished first, and a key
	// it carried forward is not rotated a second time in the same run.
	var forward bool
	if j != nil {
		forward = j.Did(StepProve)
		if forward {
			subjects = slices.DeleteFunc(subjects, func(s *subject) bool { return s.kind == j.Kind && s.name == j.Name })
		}
	}

	// Decide before anything is written, and gather every passphrase the run needs, so a
	// missing answer fails before any change.
	var plan []*subject
	for _, s := range subjects {
		s.out = newOutcome(s.kind, s.name, s.server, s.fingerprint)
		s.out.KeyPath = s.path
		rotate, err := e.decide(ctx, s, req)
		switch {
		case err != nil:
			rep.add(s.out)
			s.out.Result, s.out.Error = string(state.ResultFailed), err.Error()
			return err
		case !rotate:
			rep.add(s.out).Result = string(state.ResultSkipped)
			continue
		case req.DryRun:
			s.out.Result = ResultWouldRotate
		}
		plan = append(plan, s)
	}

	if req.DryRun {
		// The run gathers the passphrases before it changes anything; its dry run refuses what
		// it would refuse there.
		if len(plan) > 0 && e.CheckPassphrase != nil {
			if err := e.CheckPassphrase(); err != nil {
				return err
			}
		}
		if j != nil {
			rep.Rotations = append([]*Outcome{e.describeJournal(st, j, forward)}, rep.Rotations...)
		}
		for _, s := range plan {
			rep.add(s.out)
		}
		return nil
	}

	// A hand edit of bbkey's ssh config would stop the run after the upload, with two
	// keys on the account: it is checked before the first write.
	if len(plan) > 0 || j != nil {
		if err := sshconfig.Check(e.SSHDir); err != nil {
			return err
		}
	}
	defer func() {
		for _, s := range plan {
			clear(s.pass)
		}
	}()
	for _, s := range plan {
		if err := s.checkFinal(); err != nil {
			return err
		}
		if s.pass, err = e.Passphrase(ctx, s.name); err != nil {
			return err
		}
	}

	if j != nil {
		if err := e.resume(ctx, st, j, rep.add(journalOutcome(st, j))); err != nil {
			return err
		}
	}
	if subjErr != nil {
		return subjErr
	}

	for _, s := range plan {
		if err := e.rotate(ctx, s, rep.add(s.out)); err != nil {
			return err
		}
	}
	return nil
}

// journalOutcome is the outcome of the rotation an earlier run left in the journal; it
// names the key's server before resume can fail.
func journalOutcome(st *state.State, j *state.Journal) *Outcome {
	server, _ := entry(st, j.Kind, j.Name)
	o := newOutcome(j.Kind, j.Name, server, j.OldFingerprint)
	o.Resumed, o.NewFingerprint = true, j.NewFingerprint
	o.OldKeyIDs, o.NewKeyIDs = maps.Clone(j.OldKeyIDs), maps.Clone(j.NewKeyIDs)
	return o
}

// describeJournal reports what a run would do with an unfinished rotation.
func (e *Engine) describeJournal(st *state.State, j *state.Journal, forward bool) *Outcome {
	o := journalOutcome(st, j)
	step := JournalStep(j)
	if forward {
		o.Result = ResultWouldResume
		o.Reason = fmt.Sprintf("an earlier rotation stopped after %q; the new key is proven, so it would be finished", step)
	} else {
		o.Result = ResultWouldRollBack
		o.Reason = fmt.Sprintf("an earlier rotation stopped after %q, before the new key was proven; it would be rolled back", step)
	}
	e.IO.Step(iostreams.MarkWarn, "%s: %s", j.Name, o.Reason)
	return o
}

// JournalStep is the last step an unfinished rotation recorded.
func JournalStep(j *state.Journal) string { return cmp.Or(j.Step, StepBegin) }

// Limit is the age at which a key is due: ifOlderThan (0: always), or its label's ttl
// where that is the stricter policy.
func Limit(ifOlderThan time.Duration, l keylabel.Label) time.Duration {
	if ifOlderThan > 0 && l.TTL > 0 && l.TTL < ifOlderThan {
		return l.TTL
	}
	return ifOlderThan
}

// AgeDays is how many whole days old a key made at created is at now.
func AgeDays(created, now time.Time) int { return int(max(now.Sub(created), 0) / (24 * time.Hour)) }

// crashPoint is the test hooks' exit or panic right after step's journal write.
func (e *Engine) crashPoint(step string) {
	testhook.Pause(context.Background(), e.LookupEnv, "rotate:"+step)
	if v, ok := testhook.Lookup(e.LookupEnv, PanicEnv); ok && v == step {
		panic(fmt.Sprintf("test hook %s=%s", PanicEnv, step))
	}
	if v, ok := testhook.Lookup(e.LookupEnv, CrashEnv); ok && v == step {
		exit := e.Exit
		if exit == nil {
			exit = os.Exit
		}
		exit(CrashExitCode)
	}
}

// advance records step in the journal and fires the crash hook.
func (e *Engine) advance(j *state.Journal, out *Outcome, step string) error {
	if err := j.Advance(step); err != nil {
		return err
	}
	out.step(step)
	e.crashPoint(step)
	return nil
}

// userAgent returns the agent, connecting once; nil when there is none (agentErr says why).
func (e *Engine) userAgent() agent.Agent {
	e.agentOnce.Do(func() {
		e.agent, e.agentErr = e.Agent()
		if e.agentErr != nil {
			// Whatever came back with the error is not an agent to use (it may be a
			// typed nil inside the interface).
			e.agent = nil
		}
	})
	return e.agent
}

func appendUnique(list []string, items ...string) []string {
	for _, it := range items {
		if it != "" && !slices.Contains(list, it) {
			list = append(list, it)
		}
	}
	return list
}

// bind gives the subject the backend of its server, made once per server and run.
func (e *Engine) bind(ctx context.Context, s *subject) error {
	if b, ok := e.backends[s.server]; ok {
		s.b = b
		return nil
	}
	b, err := e.Backend(ctx, s.server)
	if err != nil {
		return err
	}
	if e.backends == nil {
		e.backends = map[string]backend.Backend{}
	}
	e.backends[s.server], s.b = b, b
	return nil
}
