// Where the run's access key is recorded: among Bitbucket Cloud's, or among a Data
// Center server's, whose entry also says where its SSH git is and which host keys are
// pinned for it (what identity derives the server's Host blocks from).

package accesskey

import (
	"maps"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/state"
)

// keysIn returns the access keys of the run's Bitbucket in s, making what is missing,
// and whether the server's recorded SSH side changed.
func (p *keyPlan) keysIn(s *state.State) (map[string]*state.AccessKey, bool) {
	if p.server == "" {
		if s.AccessKeys == nil {
			s.AccessKeys = map[string]*state.AccessKey{}
		}
		return s.AccessKeys, false
	}
	v := s.EnsureServer(p.server)
	changed := recordServerSSH(v, p.ssh)
	if v.AccessKeys == nil {
		v.AccessKeys = map[string]*state.AccessKey{}
	}
	return v.AccessKeys, changed
}

// recordServerSSH writes the server's SSH side into its entry, reporting a change.
func recordServerSSH(v *state.Server, x *backend.SSH) bool {
	if x == nil {
		return false
	}
	keys := hostKeyLines(x.Pins.Keys)
	if v.SSHHost == x.Host && v.SSHPort == x.Port && v.SSHEndpoint == x.Endpoint && slices.Equal(v.HostKeys, keys) && v.HostKeySource == x.Pins.Source {
		return false
	}
	v.SSHHost, v.SSHPort, v.SSHEndpoint = x.Host, x.Port, x.Endpoint
	v.HostKeys, v.HostKeySource = keys, x.Pins.Source
	return true
}

func hostKeyLines(keys []ssh.PublicKey) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
	}
	return out
}

// withKeys returns a copy of st, deep enough to change the run's access keys in: the
// maps of the run's Bitbucket are copied (for --dry-run and for the block shown).
func (p *keyPlan) withKeys(st *state.State) *state.State {
	c := *st
	c.AccessKeys = maps.Clone(st.AccessKeys)
	c.Servers = maps.Clone(st.Servers)
	if p.server != "" {
		if v := st.ServerOf(p.server); v != nil {
			cv := *v
			cv.AccessKeys = maps.Clone(v.AccessKeys)
			c.Servers[p.server] = &cv
		}
	}
	return &c
}
