// Where the run's access key is recorded: among Bitbucket Cloud's, or among a Data
// Center server's, whose entry also says where its SSH git is and which host keys are
// pinned for it (what identity derives the server's Host blocks from).

package accesskey

import (
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
	v, changed := s.EnsureServer(p.server), false
	if p.ssh != nil && !p.ssh.Recorded(v) {
		v, changed = p.ssh.Record(s, p.server), true
	}
	if v.AccessKeys == nil {
		v.AccessKeys = map[string]*state.AccessKey{}
	}
	return v.AccessKeys, changed
}
