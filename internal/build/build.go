// Package build reports the version bbkey was built as.
package build

import (
	"runtime/debug"
	"sync"
)

// Version may be set at link time: -ldflags "-X github.com/bbkey/bbkey/internal/build.Version=v1.2.3".
var Version = ""

var once sync.Once

// String returns the version: the link-time value, else the module version from the build
// info (set by `go install …@vX`), else the VCS revision, else "dev".
func String() string {
	once.Do(func() {
		if Version != "" {
			return
		}
		Version = "dev"
		info, ok := debug.ReadBuildInfo()
		if !ok {
			return
		}
		if v := info.Main.Version; v != "" && v != "(devel)" {
			Version = v
			return
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				Version = "dev-" + s.Value[:12]
			}
		}
	})
	return Version
}
