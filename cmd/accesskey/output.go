package accesskey

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/bbkey/bbkey/internal/accesskey"
	"github.com/bbkey/bbkey/internal/apierr"
	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/bulk"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/provision"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/internal/text"
)

// plan is what a run is about to do, printed before it does it.
type plan struct {
	Targets int `json:"targets"`
	// Done are the targets an earlier run recorded: no call is made for them.
	Done    int `json:"already_done"`
	Pending int `json:"pending"`
	// ListCalls were made to list a workspace's repositories.
	ListCalls int `json:"list_calls"`
	// Calls is the estimate for the whole run: the calls made before the plan (the
	// listing; on Data Center the SSH settings too) plus one call per pending target, two
	// on Data Center where the key may already be there (more when Bitbucket fails and
	// calls are retried).
	Calls         int `json:"calls"`
	BudgetPerHour int `json:"budget_per_hour"`
}

// report is everything a run did: the --json document (a stable shape, documented in
// docs/add-access-key.md), which render completes from the fields that are not JSON.
type report struct {
	DryRun       bool                   `json:"dry_run"`
	Bitbucket    jsonBitbucket          `json:"bitbucket"`
	Key          jsonKey                `json:"key"`
	Plan         plan                   `json:"plan"`
	Targets      []jsonTarget           `json:"targets"`
	Summary      map[string]int         `json:"summary"`
	Missing      []jsonTarget           `json:"missing"`
	Stopped      string                 `json:"stopped,omitempty"`
	Calls        int                    `json:"calls"`
	SSH          *sshOutput             `json:"ssh,omitempty"`
	Verify       *provision.ProofResult `json:"verify"`
	ChangedFiles []string               `json:"changed_files"`

	backend backend.Backend
	kp      *keyPlan
	results []accesskey.Result
	stop    error
}

// sshOutput is the ssh config and pins for the key, absent in a dry run.
type sshOutput struct {
	Alias string `json:"alias"`
	// Port is the Data Center SSH port remotes name (omitted on Cloud).
	Port           int    `json:"port,omitempty"`
	Config         string `json:"config"`
	ConfigFile     string `json:"config_file"`
	KnownHosts     string `json:"known_hosts"`
	KnownHostsFile string `json:"known_hosts_file"`
	Written        bool   `json:"written"`
	Remote         string `json:"remote"`
}

type (
	jsonKey struct {
		Name        string `json:"name"`
		Path        string `json:"path"`
		PublicPath  string `json:"public_path"`
		Fingerprint string `json:"fingerprint"`
		Label       string `json:"label"`
		Created     bool   `json:"created"`
		Encrypted   bool   `json:"encrypted"`
		Agent       bool   `json:"agent"`
	}
	// jsonBitbucket says which Bitbucket the run talked to: kind "cloud", or
	// "datacenter" with the server's base URL.
	jsonBitbucket struct {
		Kind   string `json:"kind"`
		Server string `json:"server,omitempty"`
	}
	jsonTarget struct {
		Target   string `json:"target"`
		Kind     string `json:"kind"`
		Status   string `json:"status"`
		KeyID    string `json:"key_id,omitempty"`
		Error    string `json:"error,omitempty"`
		Recorded bool   `json:"recorded,omitempty"`
		// Permission is the Data Center permission asked for (REPO_READ, …).
		Permission string `json:"permission,omitempty"`
	}
)

func (r *report) missing() []accesskey.Result {
	var out []accesskey.Result
	for _, res := range r.results {
		if !res.Status.Done() && res.Status != accesskey.Pending {
			out = append(out, res)
		}
	}
	return out
}

func (r *report) counts() map[string]int {
	c := map[string]int{"total": len(r.results)}
	for _, s := range []provision.Status{provision.Added, provision.Present, provision.Failed, provision.Skipped} {
		c[string(s)] = 0
	}
	if r.DryRun {
		c[string(accesskey.Pending)] = 0
	}
	for _, res := range r.results {
		c[string(res.Status)]++
	}
	return c
}

// remote is the URL a clone on this machine uses for the first repository target:
// git@alias:WS/slug.git on Cloud, ssh://git@alias:port/proj/slug.git on Data Center.
func (r *report) remote() string {
	t := state.Target{Workspace: "WORKSPACE", Slug: "REPO"}
	if r.SSH.Port > 0 {
		t = state.Target{Workspace: "proj", Slug: "repo"}
	}
	for _, res := range r.results {
		if res.Target.Kind == state.TargetRepo {
			t = res.Target
			break
		}
	}
	return provision.Remote(t, r.SSH.Port > 0, r.SSH.Alias, r.SSH.Port)
}

func jsonTargetOf(res accesskey.Result) jsonTarget {
	t := jsonTarget{Target: res.Target.Ref(), Kind: string(res.Target.Kind), Status: string(res.Status), KeyID: res.KeyID, Recorded: res.Recorded,
		Permission: res.Target.Permission}
	if res.Err != nil {
		t.Error = bulk.Describe(res.Err)
	}
	return t
}

func (o *Options) render(r *report) error {
	if o.Globals.JSON {
		return o.renderJSON(r)
	}
	return o.renderText(r)
}

func (o *Options) renderJSON(r *report) error {
	r.Bitbucket = jsonBitbucket{Kind: string(r.backend.Kind()), Server: r.backend.Server()}
	r.Summary, r.Targets, r.Missing = r.counts(), []jsonTarget{}, []jsonTarget{}
	if r.ChangedFiles == nil {
		r.ChangedFiles = []string{}
	}
	k := r.kp
	r.Key.Name, r.Key.Path, r.Key.PublicPath, r.Key.Label = k.name, k.Path, k.Path+".pub", k.label
	if k.Key != nil {
		r.Key.Fingerprint, r.Key.Encrypted = k.Key.Fingerprint, k.Key.Encrypted
		r.Key.PublicPath = k.Key.PublicPath()
	} else if k.New {
		r.Key.Encrypted = !o.NoPassphrase // a dry run: the key the run would make
	}
	for _, res := range r.results {
		r.Targets = append(r.Targets, jsonTargetOf(res))
	}
	for _, res := range r.missing() {
		r.Missing = append(r.Missing, jsonTargetOf(res))
	}
	if r.stop != nil {
		r.Stopped = r.stop.Error()
	}
	if r.SSH != nil {
		r.SSH.Remote = r.remote()
	}
	return iostreams.WriteJSON(o.IOStreams.Out, r)
}

func (o *Options) renderText(r *report) error {
	var b strings.Builder
	k := r.kp
	fmt.Fprintf(&b, "access key %s\n", k.name)
	fmt.Fprintf(&b, "  bitbucket    %s\n", r.backend.Describe())
	fmt.Fprintf(&b, "  private key  %s\n", k.Path)
	if k.Key != nil {
		fmt.Fprintf(&b, "  fingerprint  %s\n", k.Key.Fingerprint)
	} else {
		b.WriteString("  fingerprint  (made when the run starts)\n")
	}
	fmt.Fprintf(&b, "  label        %s\n\n", k.label)
	for _, res := range r.results {
		fmt.Fprintf(&b, "%-8s %s", res.Status, res.Target.Ref())
		if res.Target.Kind == state.TargetProject {
			b.WriteString(" (project)")
		}
		if res.Target.Permission != "" {
			fmt.Fprintf(&b, " %s", res.Target.Permission)
		}
		switch {
		case res.Err != nil:
			fmt.Fprintf(&b, ": %s", bulk.Describe(res.Err))
		case res.KeyID != "":
			fmt.Fprintf(&b, " (key id %s)", res.KeyID)
		}
		b.WriteString("\n")
	}
	if r.DryRun && len(r.ChangedFiles) > 0 {
		b.WriteString("\n")
		for _, f := range r.ChangedFiles {
			fmt.Fprintf(&b, "would change  %s\n", f)
		}
	}
	if r.SSH != nil {
		if r.SSH.Written {
			fmt.Fprintf(&b, "\nssh config for %s written to %s, pinned host keys to %s\n", r.SSH.Alias, r.SSH.ConfigFile, r.SSH.KnownHostsFile)
		} else {
			fmt.Fprintf(&b, "\n# ssh config for this machine (or re-run with --write-ssh-config to install it)\n%s", r.SSH.Config)
			fmt.Fprintf(&b, "\n# pinned host keys: put these lines in %s, the file the block names\n%s", r.SSH.KnownHostsFile, r.SSH.KnownHosts)
		}
		fmt.Fprintf(&b, "\nclone with: git clone %s\n", r.remote())
	}
	_, err := fmt.Fprint(o.IOStreams.Out, b.String())
	return err
}

// newPlan is the plan of a run, its calls counted as plan.Calls says.
func (o *Options) newPlan(b backend.Backend, p *keyPlan, targets, done, pending, listCalls, made int) plan {
	per := 1
	if b.Kind() == backend.DataCenter && !p.New {
		per = 2
	}
	pl := plan{Targets: targets, Done: done, Pending: pending, ListCalls: listCalls, Calls: made + per*pending}
	if b.Kind() == backend.Cloud {
		// Data Center's rate limit is the server's own setting, not a known budget.
		pl.BudgetPerHour = HourlyBudget
	}
	return pl
}

func (o *Options) printPlan(p plan, spec accesskey.Spec) {
	msg := fmt.Sprintf("%d %s (%d already done), about %s",
		p.Targets, text.Plural(p.Targets, "target", "targets"), p.Done, text.Plural(p.Calls, "1 call", fmt.Sprintf("%d calls", p.Calls)))
	if p.ListCalls > 0 {
		what := spec.Workspace
		if spec.DataCenter {
			what = "the repositories you administer"
		}
		msg += fmt.Sprintf(" (%d listing %s)", p.ListCalls, what)
	}
	if p.BudgetPerHour > 0 {
		msg += fmt.Sprintf("; budget %s calls per hour", thousands(p.BudgetPerHour))
	}
	fmt.Fprintln(o.IOStreams.ErrOut, msg)
	if p.BudgetPerHour > 0 && p.Calls > p.BudgetPerHour {
		o.IOStreams.Warnf("that is more than one hour's budget: bbkey waits out the rate limit for up to --max-wait (%s), then stops; run it again to finish",
			o.Globals.MaxWait)
	}
}

func (o *Options) printSummary(r *report) {
	c := r.counts()
	have := c[string(provision.Added)] + c[string(provision.Present)]
	line := fmt.Sprintf("%d of %d %s the key (%d added, %d already present)", have, c["total"], text.Plural(c["total"], "target has", "targets have"),
		c[string(provision.Added)], c[string(provision.Present)])
	if miss := r.missing(); len(miss) > 0 {
		o.IOStreams.Step(iostreams.MarkFail, "%s; %d failed, %d not started", line, c[string(provision.Failed)], c[string(provision.Skipped)])
		return
	}
	o.IOStreams.Step(iostreams.MarkOK, "%s", line)
}

// err is the run's error: a failed proof (exit 5), a refused credential (exit 4), or
// targets without the key (exit 3).
func (r *report) err(verr error) error {
	if verr != nil {
		return verr
	}
	if r.stop != nil && apierr.ExitCode(r.stop) == errkind.ExitAuth {
		return r.stop
	}
	miss := r.missing()
	if len(miss) == 0 {
		if r.stop != nil {
			// Every target has the key, but the record of it could not be written.
			return errkind.WithHint(fmt.Errorf("every target has the key, but %w", r.stop),
				"a re-run finds the unrecorded targets present (one listing each)")
		}
		return nil
	}
	refs := make([]string, 0, len(miss))
	for _, m := range miss {
		refs = append(refs, m.Target.Ref())
	}
	err := fmt.Errorf("%d of %d targets do not have the key: %s", len(miss), len(r.results), text.FirstFew(refs, 10))
	if r.stop != nil {
		err = fmt.Errorf("%w; stopped early: %w", err, r.stop)
	}
	// What the failed targets need first (a permission the token lacks, a name to check),
	// then whether a re-run alone can finish: only if some target failed for a reason that
	// passes (rate limit, --max-wait, network, 5xx, interruption).
	hints := failureHints(miss)
	if r.retryable(miss) {
		hints = append(hints, "run the same command again to finish: targets already done are skipped (--json lists what is missing)")
	} else {
		hints = append(hints, "a re-run alone fails the same way on these targets: fix what each target's error says first, then run the command again (targets already done are skipped; --json lists each error)")
	}
	return errkind.PartialError(err, hints...)
}

// retryable reports whether running the same command again, with nothing else changed,
// may finish some of the missing targets: one failed for a reason that passes, or was not
// started because the run stopped for one.
func (r *report) retryable(miss []accesskey.Result) bool {
	for _, m := range miss {
		if m.Err != nil {
			if bulk.Retryable(m.Err) {
				return true
			}
			continue
		}
		if r.stop == nil || bulk.Retryable(r.stop) {
			return true
		}
	}
	return false
}

// failureHints are the distinct hints of the failed targets' errors, at most a few.
func failureHints(miss []accesskey.Result) []string {
	var out []string
	for _, m := range miss {
		if m.Err == nil {
			continue
		}
		hs := apierr.Hints(m.Err)
		if _, ok := errors.AsType[*provision.PermissionMismatchError](m.Err); ok {
			hs = append(hs, "bbkey never lowers an access key's permission: remove the access key in Bitbucket where it may write, or run with --write")
		}
		for _, h := range hs {
			if !slices.Contains(out, h) {
				out = append(out, h)
			}
		}
		if len(out) >= 3 {
			return out[:3]
		}
	}
	return out
}

// thousands writes n with a comma every three digits, as the budget is quoted.
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
