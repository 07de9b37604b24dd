package backend

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"strconv"

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

func (b *cloud) Kind() Kind         { return Cloud }
func (b *cloud) Server() string     { return "" }
func (b *cloud) Describe() string   { return "Bitbucket Cloud" }
func (b *cloud) Stats() bbapi.Stats { return b.c.Stats() }

// Whoami asks GET /user.
func (b *cloud) Whoami(ctx context.Context) (*Account, error) {
	u, resp, err := b.c.Users.Current(ctx)
	if err != nil {
		return nil, err
	}
	return &Account{ID: u.UUID, AccountID: u.AccountID, Nickname: u.Nickname, DisplayName: u.DisplayName, Username: u.Username, Scopes: resp.Scopes()}, nil
}

// selectedUser names the account in /users/{selected_user}: the account id, else the uuid.
func selectedUser(a *Account) (string, error) {
	if a == nil || a.AccountID == "" && a.ID == "" {
		return "", errors.New("the account has neither an account id nor a uuid")
	}
	return cmp.Or(a.AccountID, a.ID), nil
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
	return found(cloudAccountKey)(b.c.SSHKeys.FindByFingerprint(ctx, user, fingerprint))
}

func (b *cloud) AddAccountKey(ctx context.Context, a *Account, nk NewKey) (*Key, error) {
	user, err := selectedUser(a)
	if err != nil {
		return nil, err
	}
	opts := bbapi.AddSSHKeyOptions{Key: nk.Text, Label: nk.Label, OrGet: nk.OrGet}
	if !nk.Expires.IsZero() {
		t := nk.Expires.UTC()
		opts.ExpiresOn = &t
	}
	return added(cloudAccountKey)(b.c.SSHKeys.Add(ctx, user, opts))
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

func cloudAccessKey(k *bbapi.DeployKey) Key {
	return Key{ID: k.ID.String(), Label: k.Label, Comment: k.Comment, Fingerprint: k.SHA256(), Text: k.Key, Created: k.AddedOn.Time, LastUsed: k.LastUsed.Time}
}

// PlaceParser reads repositories and projects as the Bitbucket at server ("" for Cloud)
// names them, as its Backend's ParsePlace does, with no credential: a malformed --repo
// is a usage error whether or not one is there.
func PlaceParser(server string) interface {
	ParsePlace(kind PlaceKind, ref string) (Place, error)
} {
	if server != "" {
		return &datacenter{}
	}
	return &cloud{}
}

// ParsePlace reads WORKSPACE/SLUG or WORKSPACE/PROJECT_KEY.
func (b *cloud) ParsePlace(kind PlaceKind, ref string) (Place, error) {
	t, err := state.ParseTarget(state.TargetKind(kind), ref)
	if err != nil {
		return Place{}, err
	}
	return Place{Kind: kind, Owner: t.Workspace, Slug: t.Slug}, nil
}

func (b *cloud) keys(p Place) (*bbapi.AccessKeys, error) {
	switch p.Kind {
	case Repo:
		return b.c.RepoKeys(p.Owner, p.Slug), nil
	case Project:
		return b.c.ProjectKeys(p.Owner, p.Slug), nil
	}
	return nil, unknownPlace(p)
}

func (b *cloud) AccessKeys(ctx context.Context, p Place) ([]Key, error) {
	k, err := b.keys(p)
	if err != nil {
		return nil, err
	}
	return collect(k.List(ctx), cloudAccessKey)
}

func (b *cloud) FindAccessKey(ctx context.Context, p Place, fingerprint string) (*Key, error) {
	k, err := b.keys(p)
	if err != nil {
		return nil, err
	}
	return found(cloudAccessKey)(k.FindByFingerprint(ctx, fingerprint))
}

func (b *cloud) AddAccessKey(ctx context.Context, p Place, nk NewKey) (*Key, error) {
	if nk.Write {
		return nil, errkind.UsageError(fmt.Errorf("adding a write access key to %s: %w", p, ErrWriteUnsupported),
			"drop --write: on Bitbucket Cloud an access key can clone and fetch, never push")
	}
	k, err := b.keys(p)
	if err != nil {
		return nil, err
	}
	dk, resp, err := k.Add(ctx, bbapi.AddDeployKeyOptions{Key: nk.Text, Label: nk.Label, OrGet: nk.OrGet})
	out, err := found(cloudAccessKey)(dk, err)
	if out != nil {
		out.Existed = resp.Reconciled
	}
	return out, err
}

func (b *cloud) DeleteAccessKey(ctx context.Context, p Place, key Key) error {
	id, err := strconv.ParseInt(key.ID, 10, 64)
	if err != nil || id <= 0 {
		return fmt.Errorf("deleting the access key of %s: invalid key id %q", p, key.ID)
	}
	k, err := b.keys(p)
	if err == nil {
		_, err = k.Delete(ctx, bbapi.ID(id))
	}
	return err
}

// Repos lists the repositories of q.Project, or those the credential administers in
// q.Workspace matching q.Query (role=admin).
func (b *cloud) Repos(ctx context.Context, q RepoQuery) iter.Seq2[Place, error] {
	ws, opts := q.Workspace, &bbapi.ListRepositoriesOptions{Role: "admin", Query: q.Query}
	if q.Project != nil {
		ws, opts = q.Project.Owner, &bbapi.ListRepositoriesOptions{Query: fmt.Sprintf("project.key = %q", q.Project.Slug)}
	}
	if ws == "" {
		return bbapi.Fail[Place](errors.New("listing repositories: no workspace"))
	}
	return places(b.c.Repositories.ListWorkspace(ctx, ws, opts), func(r *bbapi.Repository) (Place, error) {
		return Place{Kind: Repo, Owner: cmp.Or(r.WorkspaceSlug(), ws), Slug: r.RepoSlug()}, nil
	})
}

// SSH is the settings' SSH side, no network: --ssh-host, --ssh-endpoint and the pins
// (the built-in keys, or --ssh-host-keys).
func (b *cloud) SSH(context.Context) (*SSH, error) {
	pins, err := hostkeys.Pinned(b.s)
	if err != nil {
		return nil, err
	}
	if _, _, err := settings.SplitEndpoint(b.s.SSHEndpoint); err != nil {
		return nil, errkind.UsageError(err, "give the endpoint as HOST:PORT, e.g. --ssh-endpoint "+settings.AltSSHEndpoint)
	}
	return &SSH{Host: pins.Alias, Endpoint: b.s.SSHEndpoint, Pins: pins}, nil
}

func (b *cloud) Remotes(ssh *SSH, name string) remote.Rewriter {
	return remote.Target{SSHHost: ssh.Host, Name: name}
}

func (b *cloud) CredentialHosts() remote.ScrubTarget { return remote.CloudScrub }
