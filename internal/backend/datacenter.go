package backend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/bbapi"
	"github.com/bbkey/bbkey/bbapi/dc"
	"github.com/bbkey/bbkey/internal/errkind"
	"github.com/bbkey/bbkey/internal/hostkeys"
	"github.com/bbkey/bbkey/internal/remote"
	"github.com/bbkey/bbkey/internal/settings"
)

// DataCenterOptions are what a Data Center Backend needs besides its client.
type DataCenterOptions struct {
	// Now is the clock, for expiryDays (nil: time.Now).
	Now func() time.Time
	// SSHEndpoint, when set (--ssh-endpoint), is where ssh connects instead of the host
	// and port the server's SSH settings name; remotes keep the server's.
	SSHEndpoint string
	// SSHHostKeys, when set (--ssh-host-keys), is a file of the host keys to trust
	// instead of the key the server's SSH settings vouch for.
	SSHHostKeys string
	// Trace receives the host-key check's steps (--debug).
	Trace io.Writer
}

// datacenter is one Bitbucket Data Center server over bbapi/dc.
type datacenter struct {
	c    *dc.Client
	opts DataCenterOptions
}

// NewDataCenter is the Data Center server c talks to.
func NewDataCenter(c *dc.Client, opts DataCenterOptions) Backend {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &datacenter{c: c, opts: opts}
}

func (b *datacenter) Kind() Kind         { return DataCenter }
func (b *datacenter) Describe() string   { return "Bitbucket Data Center at " + b.Server() }
func (b *datacenter) Stats() bbapi.Stats { return b.c.Stats() }

func (b *datacenter) Server() string {
	u, err := settings.NormalizeServerURL(b.c.ServerURL())
	if err != nil {
		return b.c.ServerURL()
	}
	return u
}

// Whoami is the user the server names for the credential.
func (b *datacenter) Whoami(ctx context.Context) (*Account, error) {
	u, _, err := b.c.Users.Current(ctx)
	if err != nil {
		return nil, err
	}
	a := &Account{ID: u.Slug, Nickname: u.Name, DisplayName: u.DisplayName, Email: u.EmailAddress, Service: u.Type == "SERVICE"}
	if u.ID != 0 {
		a.AccountID = strconv.Itoa(u.ID)
	}
	return a, nil
}

// The account's keys are the credential's own user's (dc.SSHKeysService.List).

func (b *datacenter) AccountKeys(ctx context.Context, _ *Account) ([]Key, error) {
	return collect(b.c.SSHKeys.List(ctx), dcAccountKey)
}

func (b *datacenter) FindAccountKey(ctx context.Context, _ *Account, fingerprint string) (*Key, error) {
	return found(dcAccountKey)(b.c.SSHKeys.FindByFingerprint(ctx, fingerprint))
}

func (b *datacenter) AddAccountKey(ctx context.Context, _ *Account, nk NewKey) (*Key, error) {
	opts := dc.AddSSHKeyOptions{Text: nk.Text, Label: nk.Label, ExpiryDays: expiryDays(nk.Expires, b.opts.Now()), OrGet: nk.OrGet}
	return added(dcAccountKey)(b.c.SSHKeys.Add(ctx, opts))
}

func (b *datacenter) DeleteAccountKey(ctx context.Context, _ *Account, k Key) error {
	id, err := dcKeyID(k.ID)
	if err != nil {
		return fmt.Errorf("deleting ssh key: %w", err)
	}
	_, err = b.c.SSHKeys.Delete(ctx, id)
	return err
}

// dcKeyID reads a Data Center key id; anything but a positive integer is refused, so a
// missing id never becomes a request on the collection.
func dcKeyID(s string) (int, error) {
	id, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("invalid key id %q: %w", s, dc.ErrNoKeyID)
	}
	return id, nil
}

func dcAccountKey(k *dc.SSHKey) Key {
	out := Key{ID: strconv.Itoa(k.ID), Label: k.Label, Fingerprint: k.SHA256(), Text: k.Text, Created: k.CreatedDate.Time, LastUsed: k.LastAuthenticated.Time}
	out.Expires, _ = k.ExpiresAt()
	return out
}

func dcAccessKey(k *dc.AccessKey) Key {
	out := dcAccountKey(&k.Key)
	out.Permission = string(k.Permission)
	out.Write = k.Permission == dc.RepoWrite || k.Permission == dc.ProjectWrite
	return out
}

// ParsePlace reads PROJ/slug or ~user/slug for a repository, PROJ for a project.
func (b *datacenter) ParsePlace(kind PlaceKind, ref string) (Place, error) {
	ref = strings.TrimSpace(ref)
	switch kind {
	case Repo:
		proj, slug, ok := strings.Cut(ref, "/")
		if !ok || proj == "" || proj == "~" || slug == "" || strings.Contains(slug, "/") {
			return Place{}, errkind.WithHint(fmt.Errorf("repository %q: want PROJECT/slug (or ~user/slug for a personal repository)", ref),
				"give the project key and the repository slug from the repository's URL, e.g. --repo OPS/api (a personal repository: --repo ~user/notes)")
		}
		return Place{Kind: Repo, Owner: proj, Slug: slug}, nil
	case Project:
		if ref == "" || ref == "~" || strings.ContainsAny(ref, "/ ") {
			return Place{}, errkind.WithHint(fmt.Errorf("project %q is not a project key", ref),
				"give the project key (not its name), e.g. --project OPS")
		}
		return Place{Kind: Project, Slug: ref}, nil
	}
	return Place{}, fmt.Errorf("unknown kind of place %q", kind)
}

func (b *datacenter) keys(p Place) (*dc.AccessKeys, error) {
	switch p.Kind {
	case Repo:
		return b.c.RepoKeys(p.Owner, p.Slug), nil
	case Project:
		return b.c.ProjectKeys(p.Slug), nil
	}
	return nil, unknownPlace(p)
}

func (b *datacenter) AccessKeys(ctx context.Context, p Place) ([]Key, error) {
	k, err := b.keys(p)
	if err != nil {
		return nil, err
	}
	return collect(k.List(ctx), dcAccessKey)
}

func (b *datacenter) FindAccessKey(ctx context.Context, p Place, fingerprint string) (*Key, error) {
	k, err := b.keys(p)
	if err != nil {
		return nil, err
	}
	return found(dcAccessKey)(k.FindByFingerprint(ctx, fingerprint))
}

func (b *datacenter) AddAccessKey(ctx context.Context, p Place, nk NewKey) (*Key, error) {
	k, err := b.keys(p)
	if err != nil {
		return nil, err
	}
	opts := dc.AddAccessKeyOptions{Text: nk.Text, Label: nk.Label, ExpiryDays: expiryDays(nk.Expires, b.opts.Now()), Permission: k.Read, OrGet: nk.OrGet}
	if nk.Write {
		opts.Permission = k.Write
	}
	return added(dcAccessKey)(k.Add(ctx, opts))
}

func (b *datacenter) DeleteAccessKey(ctx context.Context, p Place, key Key) error {
	id, err := dcKeyID(key.ID)
	if err != nil {
		return fmt.Errorf("deleting the access key of %s: %w", p, err)
	}
	k, err := b.keys(p)
	if err == nil {
		_, err = k.Delete(ctx, id)
	}
	return err
}

// Repos lists the repositories of q.Project (GET /api/latest/projects/{key}/repos), or
// every repository the credential administers (GET /api/latest/repos?permission=
// REPO_ADMIN); Workspace and Query are Cloud's and refused.
func (b *datacenter) Repos(ctx context.Context, q RepoQuery) iter.Seq2[Place, error] {
	if q.Workspace != "" || q.Query != "" {
		return bbapi.Fail[Place](errors.New("listing repositories: Bitbucket Data Center has no workspaces and no query language"))
	}
	seq := b.c.Repositories.List(ctx, dc.ListRepositoriesOptions{Permission: dc.RepoAdmin})
	if q.Project != nil {
		seq = b.c.Repositories.ListByProject(ctx, q.Project.Slug)
	}
	return places(seq, func(r *dc.Repository) (Place, error) {
		if r.ProjectKey() == "" || r.Slug == "" {
			return Place{}, fmt.Errorf("listing repositories: the server sent a repository without a project key or slug (%q)", r.FullName())
		}
		return Place{Kind: Repo, Owner: r.ProjectKey(), Slug: r.Slug}, nil
	})
}

// SSH asks the server where its SSH git listens and which host key it has, then reads
// the key its SSH server presents and keeps it only if the two agree.
func (b *datacenter) SSH(ctx context.Context) (*SSH, error) {
	st, _, err := b.c.SSH.Settings(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the ssh settings of %s: %w", b.Server(), err)
	}
	if !st.Enabled {
		return nil, errkind.WithHint(fmt.Errorf("%s has git over SSH turned off", b.Server()),
			"ask the server's administrators to enable SSH access (Administration > Server settings > SSH access)")
	}
	host, port, err := st.Endpoint()
	if err != nil {
		return nil, fmt.Errorf("reading the ssh settings of %s: %w", b.Server(), err)
	}
	out := &SSH{Host: strings.ToLower(host), Port: port, Endpoint: net.JoinHostPort(host, strconv.Itoa(port))}
	if b.opts.SSHEndpoint != "" {
		_, p, err := settings.SplitEndpoint(b.opts.SSHEndpoint)
		if err != nil {
			return nil, errkind.UsageError(err, "give the endpoint as HOST:PORT, e.g. --ssh-endpoint "+out.Endpoint)
		}
		// Remotes name the port, and the port of a URL wins over the Host block's: they
		// name the endpoint's, so git goes where the user pointed it.
		out.Endpoint, out.Port = b.opts.SSHEndpoint, p
	}
	if b.opts.SSHHostKeys != "" {
		pins, err := hostkeys.Pinned(settings.Settings{SSHHost: out.Host, SSHHostKeys: b.opts.SSHHostKeys})
		if err != nil {
			return nil, err
		}
		out.Pins = pins
		return out, nil
	}
	key, err := b.vouchedHostKey(ctx, st, out)
	if err != nil {
		return nil, err
	}
	out.Pins = hostkeys.Pins{Alias: out.Host, Keys: []ssh.PublicKey{key}, Source: b.settingsURL()}
	return out, nil
}

func (b *datacenter) settingsURL() string { return b.c.BaseURL() + "/ssh/latest/settings" }

func (b *datacenter) Remotes(s *SSH, name string) remote.Rewriter {
	host := s.Host
	if name != "" {
		host += "-" + name
	}
	return remote.DataCenterTarget{ServerURL: b.c.ServerURL(), SSHHost: host, SSHPort: s.Port}
}

func (b *datacenter) CredentialHosts() remote.ScrubTarget {
	return remote.DataCenterScrub(b.c.ServerURL())
}

// ErrNoFingerprint is a server whose SSH settings vouch for no host key.
var ErrNoFingerprint = errors.New("the server's ssh settings name no host key fingerprint")
