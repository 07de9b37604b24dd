// The --json document of list (its shape is in docs/list.md).

package list

import (
	"cmp"
	"io"
	"strconv"
	"time"

	"github.com/bbkey/bbkey/internal/inventory"
	"github.com/bbkey/bbkey/internal/iostreams"
)

// jsonServer is a server for --json: "cloud", or the Data Center base URL.
func jsonServer(server string) string { return cmp.Or(server, "cloud") }

type jsonAccount struct {
	// Server is "cloud" or the Data Center server's base URL.
	Server string `json:"server"`
	// UUID is a Cloud key's uuid ("" on Data Center).
	UUID string `json:"uuid"`
	// ID is a Data Center key's id (absent on Cloud).
	ID        int64      `json:"id,omitempty"`
	Label     string     `json:"label"`
	CreatedOn *time.Time `json:"created_on"`
	LastUsed  *time.Time `json:"last_used"`
	ExpiresOn *time.Time `json:"expires_on"`
}

type jsonAccess struct {
	Server string `json:"server"`
	Kind   string `json:"kind"`
	Target string `json:"target"`
	ID     int64  `json:"id"`
	Label  string `json:"label"`
	// Permission is a Data Center access key's (REPO_READ, REPO_WRITE, PROJECT_READ,
	// PROJECT_WRITE); "" on Cloud, whose access keys are read-only.
	Permission string     `json:"permission,omitempty"`
	AddedOn    *time.Time `json:"added_on"`
	LastUsed   *time.Time `json:"last_used"`
	ExpiresOn  *time.Time `json:"expires_on,omitempty"`
}

type jsonKey struct {
	Fingerprint string   `json:"fingerprint"`
	Type        string   `json:"type"`
	Files       []string `json:"files"`
	Agent       bool     `json:"agent"`
	// Servers are where the key is on Bitbucket: "cloud" and Data Center base URLs.
	Servers     []string      `json:"servers"`
	AccountKey  *jsonAccount  `json:"account_key"`
	AccountKeys []jsonAccount `json:"account_keys"`
	AccessKeys  []jsonAccess  `json:"access_keys"`
	Label       string        `json:"label"`
	Created     *time.Time    `json:"created"`
	AgeDays     *int          `json:"age_days"`
	LastUsed    *time.Time    `json:"last_used"`
	PolicyDays  *int          `json:"policy_days"`
	Status      []string      `json:"status"`
}

type jsonListed struct {
	Server  string `json:"server"`
	Account string `json:"account"`
	Checked bool   `json:"account_checked"`
}

type jsonDoc struct {
	// Account and AccountChecked are Bitbucket Cloud's (or, when Cloud was not asked, the
	// first server's); Accounts has every Bitbucket asked.
	Account        string       `json:"account"`
	AccountChecked bool         `json:"account_checked"`
	Accounts       []jsonListed `json:"accounts"`
	Keys           []jsonKey    `json:"keys"`
	Warnings       []string     `json:"warnings"`
}

// tp is a time for JSON: RFC 3339 in UTC to the second, or null.
func tp(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC().Truncate(time.Second)
	return &u
}

func printJSON(w io.Writer, asked []jsonListed, list []*inventory.Key, warnings []string, now time.Time) {
	doc := jsonDoc{Keys: []jsonKey{}, Accounts: append([]jsonListed{}, asked...), Warnings: append([]string{}, warnings...)}
	if len(asked) > 0 {
		doc.Account, doc.AccountChecked = asked[0].Account, asked[0].Checked
	}
	for _, k := range list {
		jk := jsonKey{Fingerprint: k.Fingerprint, Type: k.Type, Files: []string{}, Agent: k.Agent, Servers: []string{}, AccountKeys: []jsonAccount{}, AccessKeys: []jsonAccess{},
			Label: k.Label, Created: tp(k.Created), LastUsed: tp(k.LastUsed), Status: k.Statuses}
		for _, f := range k.Files {
			jk.Files = append(jk.Files, f.Path)
		}
		for _, s := range keyServers(k) {
			jk.Servers = append(jk.Servers, jsonServer(s))
		}
		for _, a := range k.Accounts {
			ja := jsonAccount{Server: jsonServer(a.Server), Label: a.Key.Label, CreatedOn: tp(a.Key.Created), LastUsed: tp(a.Key.LastUsed), ExpiresOn: tp(a.Key.Expires)}
			if a.Server == "" {
				ja.UUID = a.Key.ID
			} else {
				ja.ID, _ = strconv.ParseInt(a.Key.ID, 10, 64)
			}
			jk.AccountKeys = append(jk.AccountKeys, ja)
		}
		if len(jk.AccountKeys) > 0 {
			jk.AccountKey = &jk.AccountKeys[0]
		}
		for _, a := range k.Access {
			id, _ := strconv.ParseInt(a.Key.ID, 10, 64)
			jk.AccessKeys = append(jk.AccessKeys, jsonAccess{Server: jsonServer(a.Server), Kind: string(a.Place.Kind), Target: a.Place.String(), ID: id, Label: a.Key.Label,
				Permission: a.Key.Permission, AddedOn: tp(a.Key.Created), LastUsed: tp(a.Key.LastUsed), ExpiresOn: tp(a.Key.Expires)})
		}
		if d, ok := ageDays(k, now); ok {
			jk.AgeDays = &d
		}
		if k.Policy > 0 {
			d := int(k.Policy / (24 * time.Hour))
			jk.PolicyDays = &d
		}
		doc.Keys = append(doc.Keys, jk)
	}
	_ = iostreams.WriteJSON(w, doc)
}
