// What is a Data Center server's in audit: its flags (no workspace, --project or --all)
// and its cache's name.

package audit

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/bbkey/bbkey/internal/errkind"
)

// dataCenterFlags checks the flags of an audit of a Data Center server: no workspace and
// no query there (Cloud's), --project or --all for the scope.
func dataCenterFlags(o *Options) error {
	switch {
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

// dataCenterCacheName names the cache of an audit of server (and of its --project
// selection): one file per server and scope, apart from every Cloud workspace's.
func dataCenterCacheName(server string, projects []string) string {
	name := "dc-" + server
	if len(projects) > 0 {
		name += "-" + strings.Join(slices.Sorted(slices.Values(projects)), "-")
	}
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}
