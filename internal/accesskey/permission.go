// Data Center's access-key permissions: read unless --write, recorded with each target.

package accesskey

import (
	"fmt"

	"github.com/bbkey/bbkey/bbapi/dc"
	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/state"
)

// Permission is the Data Center permission the key gets on t: read unless write.
func Permission(t state.Target, write bool) dc.Permission {
	switch {
	case t.Kind == state.TargetProject && write:
		return dc.ProjectWrite
	case t.Kind == state.TargetProject:
		return dc.ProjectRead
	case write:
		return dc.RepoWrite
	}
	return dc.RepoRead
}

// WithPermission returns the targets with the permission the key is to get on each, on
// Data Center, which the state records with them: a target done read-only is not done
// for --write. On Cloud, whose access keys only read, the targets come back unchanged.
func WithPermission(ts []state.Target, kind backend.Kind, write bool) []state.Target {
	if kind != backend.DataCenter {
		return ts
	}
	out := make([]state.Target, len(ts))
	for i, t := range ts {
		t.Permission = string(Permission(t, write))
		out[i] = t
	}
	return out
}

// PermissionMismatchError is a target that already has the key with write permission
// where a read-only run asked for read: bbkey never lowers a permission (a build that
// pushes would break), nor reports a key that may write as read-only.
type PermissionMismatchError struct {
	Target    state.Target
	Has, Want string
}

func (e *PermissionMismatchError) Error() string {
	return fmt.Sprintf("%s already has the key with %s, not %s as asked: bbkey does not lower a key's permission; remove the access key there first, or add --write", e.Target.Ref(), e.Has, e.Want)
}
