package bbapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Timestamp is a time Bitbucket sent, read leniently: RFC 3339 with or without
// fractional seconds, a zone-less date-time (taken as UTC), or a bare date. The zero
// value means absent or null.
type Timestamp struct{ time.Time }

var timestampLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02",
}

// UnmarshalJSON accepts null, "" and the layouts above.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*t = Timestamp{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("timestamp: %w", err)
	}
	if s == "" {
		*t = Timestamp{}
		return nil
	}
	for _, l := range timestampLayouts {
		if v, err := time.Parse(l, s); err == nil {
			t.Time = v
			return nil
		}
	}
	return fmt.Errorf("timestamp: cannot read %q", s)
}

// MarshalJSON writes RFC 3339, or null for the zero value.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(t.Format(time.RFC3339Nano))
}

// ID is a numeric id Bitbucket sends as a number (access keys); read from a string too.
type ID int64

// UnmarshalJSON accepts 123, "123" and null.
func (id *ID) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "null" || s == "" {
		*id = 0
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("id: cannot read %s", b)
	}
	*id = ID(n)
	return nil
}

func (id ID) String() string { return strconv.FormatInt(int64(id), 10) }

// Link is a hyperlink in a Bitbucket object.
type Link struct {
	Href string `json:"href"`
	Name string `json:"name,omitempty"`
}

// SelfLinks holds an object's own URL.
type SelfLinks struct {
	Self Link `json:"self"`
}

// Account is a user or team as Bitbucket embeds it in other objects.
type Account struct {
	Type        string `json:"type,omitempty"`
	UUID        string `json:"uuid,omitempty"`
	AccountID   string `json:"account_id,omitempty"`
	DisplayName string `json:"display_name,omitempty"`
	Nickname    string `json:"nickname,omitempty"`
	// Username is gone from most answers since the 2019 privacy change.
	Username string `json:"username,omitempty"`
}

// User is the authenticated user (GET /user).
type User struct {
	Account
	AccountStatus string    `json:"account_status,omitempty"`
	CreatedOn     Timestamp `json:"created_on"`
	Links         struct {
		Self   Link `json:"self"`
		HTML   Link `json:"html"`
		Avatar Link `json:"avatar"`
	} `json:"links"`
}

// Workspace is a workspace as listed for the user.
type Workspace struct {
	Type  string `json:"type,omitempty"`
	UUID  string `json:"uuid,omitempty"`
	Slug  string `json:"slug"`
	Name  string `json:"name,omitempty"`
	Links struct {
		Self Link `json:"self"`
		HTML Link `json:"html"`
	} `json:"links"`
}

// WorkspaceAccess is one entry of GET /user/workspaces.
type WorkspaceAccess struct {
	Administrator bool       `json:"administrator"`
	Workspace     *Workspace `json:"workspace"`
}

// Project is a Bitbucket project.
type Project struct {
	Type  string `json:"type,omitempty"`
	UUID  string `json:"uuid,omitempty"`
	Key   string `json:"key"`
	Name  string `json:"name,omitempty"`
	Links struct {
		HTML Link `json:"html"`
	} `json:"links"`
}

// Repository is a Bitbucket repository.
type Repository struct {
	Type       string     `json:"type,omitempty"`
	UUID       string     `json:"uuid,omitempty"`
	Slug       string     `json:"slug,omitempty"`
	Name       string     `json:"name,omitempty"`
	FullName   string     `json:"full_name,omitempty"`
	IsPrivate  bool       `json:"is_private"`
	SCM        string     `json:"scm,omitempty"`
	Project    *Project   `json:"project,omitempty"`
	Workspace  *Workspace `json:"workspace,omitempty"`
	MainBranch *struct {
		Name string `json:"name"`
	} `json:"mainbranch,omitempty"`
	UpdatedOn Timestamp `json:"updated_on"`
	Links     struct {
		Self  Link   `json:"self"`
		HTML  Link   `json:"html"`
		Clone []Link `json:"clone"`
	} `json:"links"`
}

// WorkspaceSlug is the workspace part of full_name ("ws/repo"), else the embedded
// workspace's slug.
func (r *Repository) WorkspaceSlug() string {
	if ws, _, ok := strings.Cut(r.FullName, "/"); ok {
		return ws
	}
	if r.Workspace != nil {
		return r.Workspace.Slug
	}
	return ""
}

// RepoSlug is the slug, else the repository part of full_name.
func (r *Repository) RepoSlug() string {
	if r.Slug != "" {
		return r.Slug
	}
	_, slug, _ := strings.Cut(r.FullName, "/")
	return slug
}

// CloneURL returns the clone link with the given name ("ssh", "https"), or "".
func (r *Repository) CloneURL(name string) string {
	for _, l := range r.Links.Clone {
		if strings.EqualFold(l.Name, name) {
			return l.Href
		}
	}
	return ""
}
