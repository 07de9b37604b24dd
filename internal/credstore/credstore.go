// Package credstore keeps bbkey's secrets (Bitbucket credentials, key passphrases) in the
// OS keychain, one JSON item per account under the service "bbkey"; or, only when the user
// opts in with --insecure-storage, in a 0600 JSON file. No error carries a secret value,
// and a Secret prints redacted.
package credstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Service is the keychain service name every bbkey item is stored under.
const Service = "bbkey"

// DefaultAccount is the account key of the Bitbucket credential of `bbkey auth login`.
const DefaultAccount = "default"

// PassphraseAccount is the account key of the passphrase of the local key keyName.
func PassphraseAccount(keyName string) string { return "passphrase:" + keyName }

// Kind says what a stored secret is.
type Kind string

// The kinds of secret bbkey stores.
const (
	KindAPIToken        Kind = "api-token"         // Atlassian API token; Email is its account
	KindAccessToken     Kind = "access-token"      // repository, project or workspace access token
	KindOAuthClient     Kind = "oauth-client"      // OAuth consumer; ClientID is its key
	KindPassphrase      Kind = "passphrase"        // passphrase of a local private key
	KindHTTPAccessToken Kind = "http-access-token" // Data Center; under ServerAccount
)

// Secret is one stored credential: non-secret identifiers beside the secret bytes.
type Secret struct {
	Kind     Kind      `json:"kind"`
	Email    string    `json:"email,omitempty"`     // an API token's Atlassian account
	ClientID string    `json:"client_id,omitempty"` // the OAuth consumer key
	Server   string    `json:"server,omitempty"`    // a Data Center token's base URL
	Secret   []byte    `json:"secret"`              // token, client secret or passphrase
	Created  time.Time `json:"created,omitzero"`
}

// String never shows the secret, so a Secret passed to a logger or %v stays safe.
func (s Secret) String() string {
	id := s.Email
	if id == "" {
		id = s.ClientID
	}
	if id == "" {
		id = s.Server
	}
	if id != "" {
		return fmt.Sprintf("credstore.Secret{%s %s [redacted]}", s.Kind, id)
	}
	return fmt.Sprintf("credstore.Secret{%s [redacted]}", s.Kind)
}

// GoString covers %#v, which would otherwise print the bytes.
func (s Secret) GoString() string { return s.String() }

// Validate checks that a secret can be stored: a known kind, a secret, and the identifier
// each kind needs.
func (s Secret) Validate() error {
	switch {
	case !slices.Contains([]Kind{KindAPIToken, KindAccessToken, KindOAuthClient, KindPassphrase, KindHTTPAccessToken}, s.Kind):
		return fmt.Errorf("unknown credential kind %q", s.Kind)
	case len(s.Secret) == 0:
		return fmt.Errorf("empty %s", s.Kind)
	case s.Kind == KindAPIToken && s.Email == "":
		return errors.New("an api-token needs the email of its Atlassian account")
	case s.Kind == KindOAuthClient && s.ClientID == "":
		return errors.New("an oauth-client needs its client id")
	}
	return nil
}

// Store keeps secrets by account key (DefaultAccount, PassphraseAccount(name)).
type Store interface {
	// Get returns the secret of account, or an error matching ErrNotFound.
	Get(ctx context.Context, account string) (Secret, error)
	// Set stores s under account, replacing what was there.
	Set(ctx context.Context, account string, s Secret) error
	// Delete removes account; deleting what is not there returns ErrNotFound.
	Delete(ctx context.Context, account string) error
	// Kind names the backend for status output: "keychain", "file" or "memory".
	Kind() string
}

// ErrNotFound is returned when a store holds nothing under the account.
var ErrNotFound = errors.New("no stored credential")

// notFound names the account that was missing.
func notFound(account string) error { return fmt.Errorf("%w for %q", ErrNotFound, account) }

// record is the versioned JSON form of a Secret in the keychain and in the file.
type record struct {
	V int `json:"v"`
	Secret
}

const recordVersion = 1

func encode(s Secret) ([]byte, error) {
	return json.Marshal(record{V: recordVersion, Secret: s})
}

// decode parses a stored item. The json error is dropped: its text may quote the secret.
func decode(account string, b []byte) (Secret, error) {
	var r record
	if err := json.Unmarshal(b, &r); err != nil || r.V == 0 {
		return Secret{}, fmt.Errorf("stored credential %q is not in bbkey's format", account)
	}
	return r.check(account)
}

func (r record) check(account string) (Secret, error) {
	if r.V > recordVersion {
		return Secret{}, fmt.Errorf("stored credential %q was written by a newer bbkey (format %d)", account, r.V)
	}
	return r.Secret, nil
}

func checkAccount(account string) error {
	if account == "" {
		return errors.New("empty credential account name")
	}
	return nil
}

// checkSet checks what Set is given.
func checkSet(account string, s Secret) error {
	if err := checkAccount(account); err != nil {
		return err
	}
	return s.Validate()
}
