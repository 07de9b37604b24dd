// Package build reports the version bbkey was built as.
package build

import (
	"runtime/debug"
	"sync"
)

// Version may be set at link time: -ldflags "-X github.com/bbkey/bbkey/internal/build.Version=v1.2.3".
var Version = ""

// String returns the version: the link-time value, else the module version from the build
// info (set by `go install …@vX`), else the VCS revision, else "dev".
var String = sync.OnceValue(func() string {
	info, ok := debug.ReadBuildInfo()
	switch {
	case Version != "":
		return Version
	case !ok:
		return "dev"
	case info.Main.Version != "" && info.Main.Version != "(devel)":
		return info.Main.Version
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return "dev-" + s.Value[:12]
		}
	}
	return "dev"
})
