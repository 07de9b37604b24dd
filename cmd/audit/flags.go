// The flags of audit checked and parsed: the scope, the policy, the output, --revoke-flagged.

package audit

import (
	"errors"
	"fmt"
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
	if server != "" {
		if err := dataCenterFlags(o); err != nil {
			return fl, err
		}
	} else if len(o.Projects) > 0 || o.All {
		return fl, errkind.UsageError(errors.New("--project and --all are for a Data Center server"),
			"add --server URL (or set BITBUCKET_SERVER) to audit a Data Center server; on Cloud, --workspace WS with --query 'project.key = \"OPS\"'")
	} else if o.Workspace == "" {
		return fl, errkind.UsageError(errors.New("--workspace is required"), "name the workspace id from its URL, e.g. bbkey audit --workspace acme")
	}
	if server == "" && strings.ContainsAny(o.Workspace, "/ ") {
		return fl, errkind.UsageError(fmt.Errorf("--workspace %q is not a workspace id", o.Workspace), "give the workspace id alone, e.g. --workspace acme")
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
	if o.Wide < 1 {
		return fl, errkind.UsageError(fmt.Errorf("--wide %d: want a positive number of repositories", o.Wide), "e.g. --wide 20")
	}
	fl.policy.Wide = o.Wide
	switch {
	case o.Format != "table" && o.Format != "csv":
		return fl, errkind.UsageError(fmt.Errorf("--format %q: want table or csv", o.Format), "use --format csv for a spreadsheet, --json for JSON")
	case o.Format == "csv" && o.JSON:
		return fl, errkind.UsageError(errors.New("--format csv and --json both choose the output"), "give one of them")
	case o.Concurrency < 1 || o.Concurrency > maxConcurrency:
		return fl, errkind.UsageError(fmt.Errorf("--concurrency %d is out of range 1-%d", o.Concurrency, maxConcurrency))
	case !o.RevokeFlagged && (o.IncludeForeign || o.Force || o.DryRun):
		return fl, errkind.UsageError(errors.New("--include-foreign, --force and --dry-run go with --revoke-flagged"), "add --revoke-flagged, or leave them out: the audit alone changes nothing")
	case o.RevokeFlagged && !o.DryRun && !o.Yes && o.NoInput():
		return fl, errkind.UsageError(errors.New("--revoke-flagged needs confirmation and there is no terminal to ask: nothing listed, nothing deleted"),
			"re-run with --yes to delete the flagged keys, or with --dry-run to see what would go")
	}
	return fl, nil
}
