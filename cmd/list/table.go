// The table list prints: where a key is, its age, its servers.

package list

import (
	"cmp"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/inventory"
)

// tilde shows a path under home as ~/….
func tilde(home, p string) string {
	if home != "" {
		if rel, err := filepath.Rel(home, p); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return "~/" + filepath.ToSlash(rel)
		}
	}
	return p
}

func where(home string, k *inventory.Key) []string {
	var w []string
	for _, f := range k.Files {
		w = append(w, tilde(home, f.Path))
	}
	if k.Agent {
		w = append(w, "agent")
	}
	for _, a := range k.Accounts {
		w = append(w, "account"+on(a.Server))
	}
	for _, a := range k.Access {
		if a.Place.Kind == backend.Project {
			w = append(w, "access project "+a.Place.String()+on(a.Server))
		} else {
			w = append(w, "access "+a.Place.String()+on(a.Server))
		}
	}
	return w
}

// on names a Data Center server after a sighting; Cloud's go unnamed.
func on(server string) string {
	if server == "" {
		return ""
	}
	return " on " + serverName(server)
}

// serverName is a server for the table: "cloud", or the Data Center URL without its
// scheme.
func serverName(server string) string {
	if server == "" {
		return "cloud"
	}
	if _, rest, ok := strings.Cut(server, "://"); ok {
		return rest
	}
	return server
}

// keyServers are the Bitbucket servers a key is on (the table's SERVER, --json's
// servers), Cloud first, each once.
func keyServers(k *inventory.Key) []string {
	var all, out []string
	for _, a := range k.Accounts {
		all = append(all, a.Server)
	}
	for _, a := range k.Access {
		all = append(all, a.Server)
	}
	if slices.Contains(all, "") {
		out = append(out, "")
	}
	for _, s := range all {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// ageDays is a key's age in whole days; false when its creation is unknown.
func ageDays(k *inventory.Key, now time.Time) (int, bool) {
	if k.Created.IsZero() {
		return 0, false
	}
	return int(now.Sub(k.Created) / (24 * time.Hour)), true
}

func printTable(w io.Writer, tty bool, home string, list []*inventory.Key, now time.Time) {
	var tw *tabwriter.Writer
	if tty {
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		w = tw
		fmt.Fprintln(w, "FINGERPRINT\tWHERE\tLABEL\tAGE\tLAST USED\tSTATUS\tSERVER")
	}
	for _, k := range list {
		age := "-"
		if d, ok := ageDays(k, now); ok {
			age = fmt.Sprintf("%dd", d)
		}
		used := "-"
		if !k.LastUsed.IsZero() {
			used = k.LastUsed.UTC().Format(time.DateOnly)
		}
		var servers []string
		for _, s := range keyServers(k) {
			servers = append(servers, serverName(s))
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.Fingerprint, strings.Join(where(home, k), ", "), cmp.Or(k.Label, "-"), age, used,
			strings.Join(k.Statuses, ", "), cmp.Or(strings.Join(servers, ", "), "-"))
	}
	if tw != nil {
		tw.Flush()
	}
}
