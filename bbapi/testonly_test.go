package bbapi

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"strings"
	"testing"

	"github.com/bbkey/bbkey/internal/testutil"
)

// areaPackages are the packages whose functions must all serve the binary: a function
// only tests call belongs in a _test.go file or in bbapitest, not in what bbkey links.
var areaPackages = []string{"bbapi", "bbapi/dc", "internal/backend", "internal/apierr", "internal/errkind", "internal/redact", "internal/settings", "cmd/auth"}

// TestNoTestOnlyFunctions finds the package-level functions of areaPackages that no file
// the release binary links (on linux, darwin or windows) uses. Uses are matched by name,
// so a function sharing a used name passes: the check misses some, never blames a used one.
func TestNoTestOnlyFunctions(t *testing.T) {
	testutil.RequireBinary(t, "go")
	const module = "github.com/bbkey/bbkey"
	files := map[string]string{} // path: package, relative to the module
	for _, goos := range []string{"linux", "darwin", "windows"} {
		cmd := exec.Command("go", "list", "-deps", "-f", `{{if .Module}}{{if eq .Module.Path "`+module+`"}}{{.ImportPath}}{{range .GoFiles}} {{$.Dir}}/{{.}}{{end}}{{end}}{{end}}`, module)
		cmd.Env = append(cmd.Environ(), "GOOS="+goos)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list (GOOS=%s): %v", goos, err)
		}
		for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
			f := strings.Fields(line)
			for _, path := range f[1:] {
				files[path] = strings.TrimPrefix(strings.TrimPrefix(f[0], module), "/")
			}
		}
	}
	fset := token.NewFileSet()
	uses := map[string]int{}
	type decl struct{ pkg, name string }
	var decls []decl
	for path, pkg := range files {
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		own := map[*ast.Ident]bool{}
		for _, n := range f.Decls {
			if fd, ok := n.(*ast.FuncDecl); ok && fd.Recv == nil {
				own[fd.Name] = true
				for _, p := range areaPackages {
					if pkg == p && fd.Name.Name != "init" {
						decls = append(decls, decl{p, fd.Name.Name})
					}
				}
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if id, ok := n.(*ast.Ident); ok && !own[id] {
				uses[id.Name]++
			}
			return true
		})
	}
	if len(decls) < 50 {
		t.Fatalf("only %d functions found in %v: the check would prove nothing", len(decls), areaPackages)
	}
	for _, d := range decls {
		if uses[d.name] == 0 {
			t.Errorf("%s.%s is used by tests alone: move it to a _test.go file (export_test.go) or to bbapitest", d.pkg, d.name)
		}
	}
}
