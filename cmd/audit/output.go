package audit

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/bbapi/dc"
	"github.com/bbkey/bbkey/internal/audit"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/keylabel"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/internal/text"
)

func (r *run) render() error {
	out := r.o.IO.Out
	switch {
	case r.o.JSON:
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(r.document())
	case r.o.Format == "csv":
		return r.csv(out)
	}
	return r.table(out)
}

// maxWhere is how many places the table names before "+N more" (--json and --format csv
// always name them all).
const maxWhere = 8

func (r *run) table(w io.Writer) error {
	now := r.o.Now()
	var b strings.Builder
	for i, k := range r.keys {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s  %s", k.Fingerprint, orDash(k.Label, "(no label)"))
		if len(k.Flags) > 0 {
			fmt.Fprintf(&b, "  [%s]", strings.Join(audit.FlagNames(k.Flags), ", "))
		}
		b.WriteByte('\n')
		row := func(name, format string, args ...any) {
			fmt.Fprintf(&b, "  %-10s %s\n", name, fmt.Sprintf(format, args...))
		}
		row("comment", "%s", orDash(k.Comment, "-"))
		if k.Managed {
			ttl := "no ttl"
			if k.TTL > 0 {
				ttl = "ttl " + keylabel.FormatDuration(k.TTL)
			}
			row("managed", "bbkey (name %s, %s)", k.Name, ttl)
		} else {
			row("managed", "no: foreign")
		}
		row("age", "%s", r.age(k, now))
		row("last used", "%s", when(k.LastUsed, now))
		row("where", "%s", where(k))
		row("reach", "%d %s", k.Reach, text.Plural(k.Reach, "repository", "repositories"))
	}
	if len(r.keys) > 0 {
		b.WriteByte('\n')
	}
	r.summary(&b)
	_, err := io.WriteString(w, b.String())
	return err
}

// age is the key's age against its own ttl and against --older-than.
func (r *run) age(k *audit.Key, now time.Time) string {
	if k.Created.IsZero() {
		return "unknown"
	}
	s := fmt.Sprintf("%s, created %s", days(k.Age(now)), k.Created.UTC().Format(time.DateOnly))
	if k.Managed && k.TTL > 0 {
		s += fmt.Sprintf("; ttl %s %s", keylabel.FormatDuration(k.TTL), judged(k.Has(audit.FlagPastTTL)))
	}
	s += fmt.Sprintf("; --older-than %s %s", keylabel.FormatDuration(r.fl.policy.OlderThan), judged(k.Has(audit.FlagOlderThan)))
	return s
}

func judged(past bool) string {
	if past {
		return "(past)"
	}
	return "(within)"
}

func (r *run) summary(b *strings.Builder) {
	flagged, byFlag := audit.Summarize(r.keys)
	fmt.Fprintf(b, "%d %s on %d %s and %d %s of %s; %d flagged\n", len(r.keys), text.Plural(len(r.keys), "key", "keys"),
		len(r.plan.Repos), text.Plural(len(r.plan.Repos), "repository", "repositories"),
		len(r.plan.Projects), text.Plural(len(r.plan.Projects), "project", "projects"), r.plan.Where(), flagged)
	for _, f := range audit.AllFlags {
		fmt.Fprintf(b, "  %-13s %d\n", f, byFlag[f])
	}
	if n := len(r.coll.Failed) + len(r.coll.Skipped); n > 0 {
		fmt.Fprintf(b, "incomplete: %d of %d repositories and projects not listed (run the same command again to finish)\n", n, len(r.plan.Targets))
	}
	if r.revoking {
		switch {
		case r.revoked != nil:
			fmt.Fprintf(b, "revoked: %d deleted, %d failed, %d not attempted, %d kept\n", len(r.revoked.Deleted), len(r.revoked.Failed), len(r.revoked.Skipped), len(r.kept))
		case r.o.DryRun:
			fmt.Fprintf(b, "revoke (--dry-run): %d would be deleted, %d kept\n", len(r.plannedDel), len(r.kept))
		default:
			fmt.Fprintf(b, "revoked: nothing deleted, %d kept\n", len(r.kept))
		}
	}
}

func where(k *audit.Key) string {
	var parts []string
	names := func(refs []string) string {
		if len(refs) <= maxWhere {
			return strings.Join(refs, ", ")
		}
		return strings.Join(refs[:maxWhere], ", ") + fmt.Sprintf(", +%d more", len(refs)-maxWhere)
	}
	if n := len(k.Repos); n > 0 {
		parts = append(parts, fmt.Sprintf("%d %s: %s", n, text.Plural(n, "repository", "repositories"), names(writable(k, state.TargetRepo, k.Repos))))
	}
	if n := len(k.Projects); n > 0 {
		parts = append(parts, fmt.Sprintf("%d %s: %s", n, text.Plural(n, "project", "projects"), names(writable(k, state.TargetProject, k.Projects))))
	}
	return strings.Join(parts, "; ")
}

// writable marks the refs where the key may push (a Data Center access key with
// REPO_WRITE or PROJECT_WRITE) with " (write)".
func writable(k *audit.Key, kind state.TargetKind, refs []string) []string {
	write := map[string]bool{}
	for _, p := range k.Placements {
		if p.Target.Kind == kind && strings.HasSuffix(p.Permission, "_WRITE") {
			write[p.Target.Ref()] = true
		}
	}
	if len(write) == 0 {
		return refs
	}
	out := make([]string, len(refs))
	for i, ref := range refs {
		out[i] = ref
		if write[ref] {
			out[i] += " (write)"
		}
	}
	return out
}

func when(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return fmt.Sprintf("%s (%s ago)", t.UTC().Format(time.DateOnly), days(now.Sub(t)))
}

func days(d time.Duration) string { return strconv.Itoa(int(max(d, 0)/(24*time.Hour))) + "d" }

func orDash(s, dash string) string {
	if s == "" {
		return dash
	}
	return s
}

// --- CSV: one row per key and place, for a spreadsheet ---

var csvHeader = []string{"fingerprint", "type", "label", "comment", "managed", "ttl_days", "created", "age_days", "last_used", "reach", "flags",
	"kind", "target", "key_id", "added_on", "target_last_used", "permission", "server"}

func (r *run) csv(w io.Writer) error {
	date := func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.Format(time.RFC3339)
	}
	num := func(n *int) string {
		if n == nil {
			return ""
		}
		return strconv.Itoa(*n)
	}
	rows := [][]string{csvHeader}
	for _, k := range r.document().Keys {
		for _, p := range k.Placements {
			rows = append(rows, []string{k.Fingerprint, k.Type, k.Label, k.Comment, strconv.FormatBool(k.Managed), num(k.TTLDays), date(k.Created), num(k.AgeDays), date(k.LastUsed),
				strconv.Itoa(k.Reach), strings.Join(k.Flags, ";"), string(p.Kind), p.Target, strconv.FormatInt(p.ID, 10), date(p.AddedOn), date(p.LastUsed), p.Permission, r.plan.Server})
		}
	}
	return csv.NewWriter(w).WriteAll(rows)
}

// --- exit code ---

// exit picks the run's outcome: partial (3) when something could not be listed or
// deleted, flagged (6) when keys still need attention, else nil (0).
func (r *run) exit() error {
	hintAgain := "run the same command again to finish: what was listed is cached for --max-age, so only the rest is listed"
	if n := len(r.coll.Failed) + len(r.coll.Skipped); n > 0 {
		msg := fmt.Sprintf("audit incomplete: %d of %d repositories and projects not listed", n, len(r.plan.Targets))
		if r.coll.Stop != nil {
			if dc.IsRateLimited(r.coll.Stop) {
				hintAgain = "the server's rate limit stopped the run: run the same command again later (a larger --max-wait waits it out), with a --max-age that covers the wait so what was listed now still counts"
			} else if bbapi.IsRateLimited(r.coll.Stop) {
				hintAgain = "Bitbucket's hourly limit stopped the run: run the same command again once it resets (within the hour), with a --max-age that covers the wait (e.g. --max-age 3h) so what was listed now still counts"
			}
			return errkind.PartialError(fmt.Errorf("%s: %w", msg, r.coll.Stop), hintAgain)
		}
		return errkind.PartialError(errors.New(msg), "the listing of each is in the report (--json: not_listed); check the permission there, then "+hintAgain)
	}
	if r.revoked != nil && len(r.revoked.Failed)+len(r.revoked.Skipped) > 0 {
		err := fmt.Errorf("revoked %d of %d: %d failed, %d not attempted", len(r.revoked.Deleted), len(r.plannedDel), len(r.revoked.Failed), len(r.revoked.Skipped))
		if r.revoked.Stop != nil {
			err = fmt.Errorf("%w: %w", err, r.revoked.Stop)
		}
		return errkind.PartialError(err, "run the same command again to delete the rest")
	}
	remaining := r.remainingFlagged()
	if remaining == 0 {
		return nil
	}
	return errkind.FlaggedError(fmt.Errorf("%d of %d access keys flagged", remaining, len(r.keys)),
		"exit code 6 means the audit ran to the end and found keys to look at; --revoke-flagged deletes the ones bbkey manages")
}

// remainingFlagged counts flagged keys still on Bitbucket after this run: all of them,
// unless --revoke-flagged deleted every placement of some.
func (r *run) remainingFlagged() int {
	deleted := map[string]int{}
	if r.revoked != nil {
		for _, d := range r.revoked.Deleted {
			deleted[d.Key.Fingerprint]++
		}
	}
	n := 0
	for _, k := range r.keys {
		if k.Flagged() && deleted[k.Fingerprint] < len(k.Placements) {
			n++
		}
	}
	return n
}
