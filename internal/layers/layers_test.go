// Package layers checks the layering of bbkey's packages: the command layer (cmd/... and
// internal/cmdutil, the Factory) sits on top; nothing below it (keys, agent, bbapi and
// every other package under internal/) may import it, directly or through another package,
// on any OS bbkey builds for.
package layers

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/bbkey/bbkey/internal/testutil"
)

const module = "github.com/bbkey/bbkey"

// commandLayer reports whether the package is part of the command layer.
func commandLayer(pkg string) bool {
	rel, ok := strings.CutPrefix(pkg, module+"/")
	if !ok {
		return pkg == module // main
	}
	return rel == "cmd" || strings.HasPrefix(rel, "cmd/") || rel == "internal/cmdutil"
}

// exempt are packages that are neither layer: the end-to-end tests and the benchmarks
// drive the whole program.
func exempt(pkg string) bool {
	rel := strings.TrimPrefix(pkg, module+"/")
	return rel == "internal/e2e" || rel == "bench" || strings.HasPrefix(rel, "bench/")
}

func TestDomainDoesNotImportCommandLayer(t *testing.T) {
	testutil.RequireBinary(t, "go")
	for _, goos := range []string{"linux", "darwin", "windows"} {
		cmd := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Deps " "}}`, module+"/...")
		cmd.Env = append(cmd.Environ(), "GOOS="+goos)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list (GOOS=%s): %v", goos, err)
		}
		checked := 0
		for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
			f := strings.Fields(line)
			if len(f) == 0 || commandLayer(f[0]) || exempt(f[0]) {
				continue
			}
			checked++
			for _, dep := range f[1:] {
				if commandLayer(dep) {
					t.Errorf("GOOS=%s: %s imports the command layer (%s); move what it needs into a leaf package (errkind, settings, apierr…)", goos, f[0], dep)
				}
			}
		}
		if checked < 20 {
			t.Fatalf("GOOS=%s: only %d domain packages listed; the check would prove nothing", goos, checked)
		}
	}
}

// TestCommandLayerRule checks the rule's own classification, so a rename cannot make the
// check above pass vacuously.
func TestCommandLayerRule(t *testing.T) {
	for pkg, want := range map[string]bool{
		module:                       true,
		module + "/cmd":              true,
		module + "/cmd/setup":        true,
		module + "/internal/cmdutil": true,
		module + "/internal/rotate":  false,
		module + "/keys":             false,
		module + "/bbapi":            false,
		module + "/cmdline":          false,
	} {
		if got := commandLayer(pkg); got != want {
			t.Errorf("commandLayer(%s) = %v, want %v", pkg, got, want)
		}
	}
}
