package accesskey

import (
	"github.com/bbkey/bbkey/internal/backend"
	"github.com/bbkey/bbkey/internal/provision"
	"github.com/bbkey/bbkey/internal/state"
)

// WithPermission returns the targets with the permission the key is to get on each, on
// Data Center, which the state records with them: a target done read-only is not done
// for --write. On Cloud, whose access keys only read, the targets come back unchanged.
func WithPermission(ts []state.Target, kind backend.Kind, write bool) []state.Target {
	if kind != backend.DataCenter {
		return ts
	}
	out := make([]state.Target, len(ts))
	for i, t := range ts {
		t.Permission = string(provision.Permission(backend.PlaceKind(t.Kind), write))
		out[i] = t
	}
	return out
}
