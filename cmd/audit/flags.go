// The flags of audit checked and parsed: the scope (a Cloud workspace, or a Data Center
// server's projects), the policy, the output, --revoke-flagged.

package audit

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bbkey/bbkey/internal/audit"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/keylabel"
)

// flags are the parsed policy and cache settings.
type flags struct {
	policy audit.Policy
	maxAge time.Duration
}

func parseFlags(o *Options, server string) (flags, error) {
	var fl flags
	if err := scopeFlags(o, server); err != nil {
		return fl, err
	}
	for _, d := range []struct {
		name, val string
		dst       *time.Duration
	}{{"older-than", o.OlderThan, &fl.policy.OlderThan}, {"unused-for", o.UnusedFor, &fl.policy.UnusedFor}, {"max-age", o.MaxAge, &fl.maxAge}} {
		v, err := keylabel.ParseDuration(d.val)
		if err != nil {
			return fl, errkind.UsageError(fmt.Errorf("--%s %q: want a positive duration", d.name, d.val), "use days, weeks or hours, e.g. --"+d.name+" 90d, 12w or 36h")
		}
		*d.dst = v
	}
	fl.policy.Wide = o.Wide
	switch {
	case o.Wide < 1:
		return fl, errkind.UsageError(fmt.Errorf("--wide %d: want a positive number of repositories", o.Wide), "e.g. --wide 20")
	case o.Format != "table" && o.Format != "csv":
		return fl, errkind.UsageError(fmt.Errorf("--format %q: want table or csv", o.Format), "use --format csv for a spreadsheet, --json for JSON")
	case o.Format == "csv" && o.JSON:
		return fl, errkind.UsageError(errors.New("--format csv and --json both choose the output"), "give one of them")
	case o.Concurrency < 1 || o.Concurrency > maxConcurrency:
		return fl, errkind.UsageError(fmt.Errorf("--concurrency %d is out of range 1-%d", o.Concurrency, maxConcurrency), "leave it out for the default, --concurrency 10")
	case !o.RevokeFlagged && (o.IncludeForeign || o.Force || o.DryRun):
		return fl, errkind.UsageError(errors.New("--include-foreign, --force and --dry-run go with --revoke-flagged"), "add --revoke-flagged, or leave them out: the audit alone changes nothing")
	case o.RevokeFlagged && !o.DryRun && !o.Yes && o.NoInput():
		return fl, errkind.UsageError(errors.New("--revoke-flagged needs confirmation and there is no terminal to ask: nothing listed, nothing deleted"),
			"re-run with --yes to delete the flagged keys, or with --dry-run to see what would go")
	}
	return fl, nil
}

// scopeFlags checks what the audit covers: --workspace (and --query) on Cloud; on a Data
// Center server, which has no workspaces, --project PROJ (upper-cased here) or --all.
func scopeFlags(o *Options, server string) error {
	switch {
	case server == "" && (len(o.Projects) > 0 || o.All):
		return errkind.UsageError(errors.New("--project and --all are for a Data Center server"),
			"add --server URL (or set BITBUCKET_SERVER) to audit a Data Center server; on Cloud, --workspace WS with --query 'project.key = \"OPS\"'")
	case server == "" && o.Workspace == "":
		return errkind.UsageError(errors.New("--workspace is required"), "name the workspace id from its URL, e.g. bbkey audit --workspace acme")
	case server == "" && strings.ContainsAny(o.Workspace, "/ "):
		return errkind.UsageError(fmt.Errorf("--workspace %q is not a workspace id", o.Workspace), "give the workspace id alone, e.g. --workspace acme")
	case server == "":
		return nil
	case o.Workspace != "":
		return errkind.UsageError(errors.New("--workspace is for Bitbucket Cloud; a Data Center server has no workspaces"),
			"leave it out to audit every repository and project the credential administers on the server, or name projects with --project PROJ")
	case o.Query != "":
		return errkind.UsageError(errors.New("--query is for Bitbucket Cloud only"),
			"on a Data Center server, limit the audit with --project PROJ (repeatable)")
	case o.All && len(o.Projects) > 0:
		return errkind.UsageError(errors.New("--all and --project both choose what to audit"), "give one of them")
	}
	for i, k := range o.Projects {
		k = strings.TrimSpace(k)
		if k == "" || strings.ContainsAny(k, "/ ") {
			return errkind.UsageError(fmt.Errorf("--project %q is not a project key", o.Projects[i]), "give the project key alone, e.g. --project OPS (a personal project is ~user)")
		}
		if !strings.HasPrefix(k, "~") {
			k = strings.ToUpper(k)
		}
		o.Projects[i] = k
	}
	return nil
}

// dataCenterCacheName names the cache of an audit of server and its --project
// selection: one file per server and scope, apart from every Cloud workspace's.
func dataCenterCacheName(server string, projects []string) string {
	name := "dc-" + server
	if len(projects) > 0 {
		name += "-" + strings.Join(slices.Sorted(slices.Values(projects)), "-")
	}
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.' {
			return r
		}
		return '_'
	}, strings.ToLower(name))
}
