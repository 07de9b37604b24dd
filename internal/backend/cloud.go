package backend

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"time"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/hostkeys"
	"github.com/bbkey/bbkey/internal/remote"
	"github.com/bbkey/bbkey/internal/settings"
	"github.com/bbkey/bbkey/internal/state"
)

// ErrWriteUnsupported is an access key with write permission asked of Bitbucket Cloud,
// whose access keys are always read-only.
var ErrWriteUnsupported = errors.New("access keys on Bitbucket Cloud are always read-only")

// cloud is Bitbucket Cloud over bbapi.
type cloud struct {
	c *bbapi.Client
	s settings.Settings
}

// NewCloud is Bitbucket Cloud reached with c, with the SSH side of s (--ssh-host,
// --ssh-endpoint, --ssh-host-keys).
func NewCloud(c *bbapi.Client, s settings.Settings) Backend { return &cloud{c: c, s: s} }

// CloudClient is the *bbapi.Client under a Cloud Backend, for what only Cloud has
// (workspaces, --query); nil for any other Backend.
func CloudClient(b Backend) *bbapi.Client {
	if c, ok := b.(*cloud); ok {
		return c.c
	}
	return nil
}

func (b *cloud) Kind() Kind       { return Cloud }
func (b *cloud) Server() string   { return "" }
func (b *cloud) Describe() string { return "Bitbucket Cloud" }

// Whoami asks GET /user.
func (b *cloud) Whoami(ctx context.Context) (*Account, error) {
	u, resp, err := b.c.Users.Current(ctx)
	if err != nil {
		return nil, err
	}
	a := &Account{
		ID: u.UUID, AccountID: u.AccountID, Nickname: u.Nickname,
		DisplayName: u.DisplayName, Username: u.Username,
	}
	if resp != nil {
		a.Scopes = resp.Scopes()
	}
	return a, nil
}

// selectedUser names the account in /users/{selected_user}: the account id, else the uuid.
func selectedUser(a *Account) (string, error) {
	switch {
	case a == nil:
		return "", errors.New("no account given")
	case a.AccountID != "":
		return a.AccountID, nil
	case a.ID != "":
		return a.ID, nil
	}
	return "", errors.New("the account has neither an account id nor a uuid")
}

func (b *cloud) AccountKeys(ctx context.Context, a *Account) ([]Key, error) {
	user, err := selectedUser(a)
	if err != nil {
		return nil, err
	}
	return collect(b.c.SSHKeys.List(ctx, user), cloudAccountKey)
}

func (b *cloud) FindAccountKey(ctx context.Context, a *Account, fingerprint string) (*Key, error) {
	user, err := selectedUser(a)
	if err != nil {
		return nil, err
	}
	k, err := b.c.SSHKeys.FindByFingerprint(ctx, user, fingerprint)
	if err != nil || k == nil {
		return nil, err
	}
	out := cloudAccountKey(k)
	return &out, nil
}

func (b *cloud) AddAccountKey(ctx context.Context, a *Account, nk NewKey) (*Key, error) {
	user, err := selectedUser(a)
	if err != nil {
		return nil, err
	}
	opts := bbapi.AddSSHKeyOptions{Key: nk.Text, Label: nk.Label}
	if !nk.Expires.IsZero() {
		t := nk.Expires.UTC()
		opts.ExpiresOn = &t
	}
	add := b.c.SSHKeys.Add
	if nk.OrGet {
		add = b.c.SSHKeys.AddOrGet
	}
	k, _, err := add(ctx, user, opts)
	if err != nil {
		return nil, err
	}
	out := cloudAccountKey(k)
	return &out, nil
}

func (b *cloud) DeleteAccountKey(ctx context.Context, a *Account, k Key) error {
	if k.self != "" {
		_, err := b.c.SSHKeys.DeleteKey(ctx, &bbapi.SSHKey{UUID: k.ID, Links: bbapi.SelfLinks{Self: bbapi.Link{Href: k.self}}})
		return err
	}
	if k.ID == "" {
		return errors.New("deleting ssh key: no key id")
	}
	user, err := selectedUser(a)
	if err != nil {
		return err
	}
	_, err = b.c.SSHKeys.Delete(ctx, user, k.ID)
	return err
}

func cloudAccountKey(k *bbapi.SSHKey) Key {
	return Key{
		ID: k.UUID, Label: k.Label, Fingerprint: k.SHA256(), Text: k.Key,
		Created: k.CreatedOn.Time, LastUsed: k.LastUsed.Time, Expires: k.ExpiresOn.Time,
		self: k.Links.Self.Href,
	}
}

// ParsePlace reads WORKSPACE/SLUG or WORKSPACE/PROJECT_KEY.
func (b *cloud) ParsePlace(kind PlaceKind, ref string) (Place, error) {
	t, err := state.ParseTarget(state.TargetKind(kind), ref)
	if err != nil {
		return Place{}, err
	}
	return Place{Kind: kind, Owner: t.Workspace, Slug: t.Slug}, nil
}

func (b *cloud) AccessKeys(ctx context.Context, p Place) ([]Key, error) {
	switch p.Kind {
	case Repo:
		return collect(b.c.DeployKeys.List(ctx, p.Owner, p.Slug), cloudRepoKey)
	case Project:
		return collect(b.c.ProjectDeployKeys.List(ctx, p.Owner, p.Slug), cloudProjectKey)
	}
	return nil, unknownPlace(p)
}

func (b *cloud) FindAccessKey(ctx context.Context, p Place, fingerprint string) (*Key, error) {
	switch p.Kind {
	case Repo:
		k, err := b.c.DeployKeys.FindByFingerprint(ctx, p.Owner, p.Slug, fingerprint)
		if err != nil || k == nil {
			return nil, err
		}
		out := cloudRepoKey(k)
		return &out, nil
	case Project:
		k, err := b.c.ProjectDeployKeys.FindByFingerprint(ctx, p.Owner, p.Slug, fingerprint)
		if err != nil || k == nil {
			return nil, err
		}
		out := cloudProjectKey(k)
		return &out, nil
	}
	return nil, unknownPlace(p)
}

func (b *cloud) AddAccessKey(ctx context.Context, p Place, nk NewKey) (*Key, error) {
	if nk.Write {
		return nil, errkind.UsageError(fmt.Errorf("adding a write access key to %s: %w", p, ErrWriteUnsupported),
			"drop --write: on Bitbucket Cloud an access key can clone and fetch, never push")
	}
	opts := bbapi.AddDeployKeyOptions{Key: nk.Text, Label: nk.Label}
	switch p.Kind {
	case Repo:
		add := b.c.DeployKeys.Add
		if nk.OrGet {
			add = b.c.DeployKeys.AddOrGet
		}
		k, resp, err := add(ctx, p.Owner, p.Slug, opts)
		if err != nil {
			return nil, err
		}
		out := cloudRepoKey(k)
		out.Existed = resp != nil && resp.Reconciled
		return &out, nil
	case Project:
		add := b.c.ProjectDeployKeys.Add
		if nk.OrGet {
			add = b.c.ProjectDeployKeys.AddOrGet
		}
		k, resp, err := add(ctx, p.Owner, p.Slug, opts)
		if err != nil {
			return nil, err
		}
		out := cloudProjectKey(k)
		out.Existed = resp != nil && resp.Reconciled
		return &out, nil
	}
	return nil, unknownPlace(p)
}

func (b *cloud) DeleteAccessKey(ctx context.Context, p Place, k Key) error {
	id, err := strconv.ParseInt(k.ID, 10, 64)
	if err != nil || id <= 0 {
		return fmt.Errorf("deleting the access key of %s: invalid key id %q", p, k.ID)
	}
	switch p.Kind {
	case Repo:
		_, err = b.c.DeployKeys.Delete(ctx, p.Owner, p.Slug, bbapi.ID(id))
	case Project:
		_, err = b.c.ProjectDeployKeys.Delete(ctx, p.Owner, p.Slug, bbapi.ID(id))
	default:
		err = unknownPlace(p)
	}
	return err
}

func cloudRepoKey(k *bbapi.DeployKey) Key {
	return Key{ID: k.ID.String(), Label: k.Label, Comment: k.Comment, Fingerprint: k.SHA256(), Text: k.Key, Created: k.AddedOn.Time, LastUsed: k.LastUsed.Time}
}

func cloudProjectKey(k *bbapi.ProjectDeployKey) Key {
	return Key{ID: k.ID.String(), Label: k.Label, Comment: k.Comment, Fingerprint: k.SHA256(), Text: k.Key, Created: k.AddedOn.Time, LastUsed: k.LastUsed.Time}
}

func unknownPlace(p Place) error { return fmt.Errorf("unknown kind of place %q", p.Kind) }

// SSH is the settings' SSH side: no network.
func (b *cloud) SSH(context.Context) (*SSH, error) { return CloudSSH(b.s) }

// CloudSSH is Bitbucket Cloud's SSH side from the settings: --ssh-host, --ssh-endpoint
// and the pins (the built-in keys, or --ssh-host-keys).
func CloudSSH(s settings.Settings) (*SSH, error) {
	pins, err := hostkeys.Pinned(s)
	if err != nil {
		return nil, err
	}
	if _, _, err := settings.SplitEndpoint(s.SSHEndpoint); err != nil {
		return nil, errkind.UsageError(err, "give the endpoint as HOST:PORT, e.g. --ssh-endpoint "+settings.AltSSHEndpoint)
	}
	return &SSH{Host: pins.Alias, Endpoint: s.SSHEndpoint, Pins: pins}, nil
}

func (b *cloud) Remotes(ssh *SSH, name string) remote.Rewriter {
	return remote.Target{SSHHost: ssh.Host, Name: name}
}

func (b *cloud) CredentialHosts() remote.ScrubTarget { return remote.CloudScrub }

// collect drains a bbapi or dc iterator into Keys, stopping at the first error.
func collect[T any](seq iter.Seq2[T, error], conv func(T) Key) ([]Key, error) {
	var out []Key
	for v, err := range seq {
		if err != nil {
			return nil, err
		}
		out = append(out, conv(v))
	}
	return out, nil
}

// expiryDays is a lifetime ending at t, in whole days from now rounded up (Data Center's
// expiryDays); 0 for no expiry.
func expiryDays(t, now time.Time) int {
	if t.IsZero() {
		return 0
	}
	d := t.Sub(now)
	if d <= 0 {
		return 1
	}
	return int((d + 24*time.Hour - 1) / (24 * time.Hour))
}
