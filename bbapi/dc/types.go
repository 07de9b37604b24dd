package dc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/bbkey/bbkey/bbapi"
)

// Permission is a Bitbucket Data Center permission name.
type Permission string

// The permissions bbkey deals in.
const (
	// RepoRead and RepoWrite are what a repository access key grants; RepoAdmin is what
	// managing a repository's access keys needs.
	RepoRead  Permission = "REPO_READ"
	RepoWrite Permission = "REPO_WRITE"
	RepoAdmin Permission = "REPO_ADMIN"
	// ProjectRead and ProjectWrite are what a project access key grants (on every
	// repository of the project); ProjectAdmin is what managing them needs.
	ProjectRead  Permission = "PROJECT_READ"
	ProjectWrite Permission = "PROJECT_WRITE"
	ProjectAdmin Permission = "PROJECT_ADMIN"
	// LicensedUser is being a user who may log in: what managing one's own SSH keys
	// needs (a project or repository HTTP access token acts as no such user).
	LicensedUser Permission = "LICENSED_USER"
)

// Time is a Data Center timestamp. The server writes dates as epoch milliseconds (a
// number, or a string of digits as the spec shows lastAuthenticated); the spec also
// declares some as date-time strings. All three are read; null and "" are the zero Time.
type Time struct{ time.Time }

// UnmarshalJSON reads epoch milliseconds (number or string) or RFC 3339.
func (t *Time) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		t.Time = time.Time{}
		return nil
	}
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	}
	s = strings.TrimSpace(s)
	if s == "" {
		t.Time = time.Time{}
		return nil
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		t.Time = time.UnixMilli(ms).UTC()
		return nil
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("timestamp %q: neither epoch milliseconds nor RFC 3339", s)
	}
	t.Time = v.UTC()
	return nil
}

// MarshalJSON writes RFC 3339, or null for the zero Time.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(t.UTC().Format(time.RFC3339Nano))
}

// SSHKey is a public key as Data Center holds it, a user's own key or the key of an
// access key (RestSshKey).
type SSHKey struct {
	ID    int    `json:"id"`
	Text  string `json:"text"`
	Label string `json:"label"`
	// Fingerprint is the SHA-256 fingerprint as the server writes it (unpadded base64).
	Fingerprint string `json:"fingerprint,omitempty"`
	CreatedDate Time   `json:"createdDate"`
	// ExpiryDays is the key's lifetime counted from CreatedDate; 0 for none.
	ExpiryDays        int  `json:"expiryDays,omitempty"`
	LastAuthenticated Time `json:"lastAuthenticated"`
}

// SHA256 is the key's fingerprint as "SHA256:…": the server's, else computed from Text.
func (k *SSHKey) SHA256() string { return bbapi.KeyFingerprint(k.Fingerprint, k.Text) }

// ExpiresAt is when the key stops working (CreatedDate + ExpiryDays), and whether it
// expires at all.
func (k *SSHKey) ExpiresAt() (time.Time, bool) {
	if k.ExpiryDays <= 0 || k.CreatedDate.IsZero() {
		return time.Time{}, false
	}
	return k.CreatedDate.AddDate(0, 0, k.ExpiryDays), true
}

// AccessKey is an SSH key granted to a repository or a project (RestSshAccessKey).
// Unlike Cloud's, it may write.
type AccessKey struct {
	Key        SSHKey     `json:"key"`
	Permission Permission `json:"permission"`
	// Repository or Project is what the key is granted on.
	Repository *Repository `json:"repository,omitempty"`
	Project    *Project    `json:"project,omitempty"`
}

// Project is a Data Center project (RestProject). A personal project has the key "~"
// followed by the user's slug, and Type PERSONAL.
type Project struct {
	Key  string `json:"key"`
	Name string `json:"name,omitempty"`
	Type string `json:"type,omitempty"` // NORMAL or PERSONAL
}

// Personal reports a user's personal project ("~slug").
func (p *Project) Personal() bool { return p.Type == "PERSONAL" || strings.HasPrefix(p.Key, "~") }

// Repository is a Data Center repository (RestRepository).
type Repository struct {
	Slug    string   `json:"slug"`
	Name    string   `json:"name,omitempty"`
	Project *Project `json:"project,omitempty"`
}

// ProjectKey is the key of the repository's project ("" when the server sent none).
func (r *Repository) ProjectKey() string {
	if r.Project == nil {
		return ""
	}
	return r.Project.Key
}

// FullName is "PROJ/slug", the name bbkey's --repo takes.
func (r *Repository) FullName() string { return r.ProjectKey() + "/" + r.Slug }

// User is a Data Center user (RestApplicationUser). A project or repository HTTP access
// token acts as a user of Type SERVICE.
type User struct {
	ID           int    `json:"id,omitempty"`
	Name         string `json:"name"`
	Slug         string `json:"slug"`
	DisplayName  string `json:"displayName,omitempty"`
	EmailAddress string `json:"emailAddress,omitempty"`
	Type         string `json:"type,omitempty"` // NORMAL or SERVICE
}

// ApplicationProperties is what the server says about itself.
type ApplicationProperties struct {
	Version string `json:"version"`
}
