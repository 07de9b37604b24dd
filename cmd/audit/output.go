package audit

import (
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/bbapi/dc"
	"github.com/bbkey/bbkey/internal/audit"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/iostreams"
	"github.com/bbkey/bbkey/internal/keylabel"
	"github.com/bbkey/bbkey/internal/state"
	"github.com/bbkey/bbkey/internal/text"
)

func (r *run) render() error {
	out := r.o.IO.Out
	switch {
	case r.o.JSON:
		return iostreams.WriteJSON(out, r.document())
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
		fmt.Fprintf(&b, "%s  %s", k.Fingerprint, cmp.Or(k.Label, "(no label)"))
		if len(k.Flags) > 0 {
			fmt.Fprintf(&b, "  [%s]", strings.Join(k.Flags, ", "))
		}
		b.WriteByte('\n')
		row := func(name, format string, args ...any) {
			fmt.Fprintf(&b, "  %-10s %s\n", name, fmt.Sprintf(format, args...))
		}
		row("comment", "%s", cmp.Or(k.Comment, "-"))
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
		s += fmt.Sprintf("; ttl %s %s", keylabel.FormatDuration(k.TTL), judged[k.Has(audit.FlagPastTTL)])
	}
	s += fmt.Sprintf("; --older-than %s %s", keylabel.FormatDuration(r.fl.policy.OlderThan), judged[k.Has(audit.FlagOlderThan)])
	return s
}

var judged = map[bool]string{true: "(past)", false: "(within)"}

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

// where names the key's repositories and projects, up to maxWhere of each, marking those
// where it may push (a Data Center access key with REPO_WRITE or PROJECT_WRITE).
func where(k *audit.Key) string {
	var parts []string
	for _, g := range []struct {
		kind      state.TargetKind
		refs      []string
		one, many string
	}{{state.TargetRepo, k.Repos, "repository", "repositories"}, {state.TargetProject, k.Projects, "project", "projects"}} {
		if len(g.refs) == 0 {
			continue
		}
		var names []string
		for _, ref := range g.refs[:min(len(g.refs), maxWhere)] {
			if slices.ContainsFunc(k.Placements, func(p audit.Placement) bool {
				return p.Target.Kind == g.kind && p.Target.Ref() == ref && strings.HasSuffix(p.Permission, "_WRITE")
			}) {
				ref += " (write)"
			}
			names = append(names, ref)
		}
		s := fmt.Sprintf("%d %s: %s", len(g.refs), text.Plural(len(g.refs), g.one, g.many), strings.Join(names, ", "))
		if n := len(g.refs) - maxWhere; n > 0 {
			s += fmt.Sprintf(", +%d more", n)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

func when(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return fmt.Sprintf("%s (%s ago)", t.UTC().Format(time.DateOnly), days(now.Sub(t)))
}

func days(d time.Duration) string { return strconv.Itoa(int(max(d, 0)/(24*time.Hour))) + "d" }

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
	// Flagged keys still on Bitbucket: all of them, unless --revoke-flagged deleted every
	// placement of some.
	deleted := map[string]int{}
	if r.revoked != nil {
		for _, d := range r.revoked.Deleted {
			deleted[d.Key.Fingerprint]++
		}
	}
	remaining := 0
	for _, k := range r.keys {
		if k.Flagged() && deleted[k.Fingerprint] < len(k.Placements) {
			remaining++
		}
	}
	if remaining == 0 {
		return nil
	}
	return errkind.FlaggedError(fmt.Errorf("%d of %d access keys flagged", remaining, len(r.keys)),
		"exit code 6 means the audit ran to the end and found keys to look at; --revoke-flagged deletes the ones bbkey manages")
}
