package bbapi

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// areaPackages are the packages whose functions must all serve the binary: a function
// only tests call belongs in a _test.go file or in bbapitest, not in what bbkey links.
var areaPackages = []string{"bbapi", "bbapi/dc", "internal/backend", "internal/apierr", "internal/errkind", "internal/redact", "internal/settings", "cmd/auth"}

// TestNoTestOnlyFunctions finds the package-level functions of areaPackages that no
// non-test file of the module uses: by name, so a function that shares a used name
// passes (the check misses some, never blames a used one).
func TestNoTestOnlyFunctions(t *testing.T) {
	root := ".."
	fset := token.NewFileSet()
	uses := map[string]int{}
	type decl struct{ pkg, name string }
	var decls []decl
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (strings.HasPrefix(n, ".") || n == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		own := map[*ast.Ident]bool{}
		for _, n := range f.Decls {
			if fd, ok := n.(*ast.FuncDecl); ok && fd.Recv == nil {
				own[fd.Name] = true
				for _, p := range areaPackages {
					if filepath.ToSlash(rel) == p && fd.Name.Name != "init" && fd.Name.Name != "main" {
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
		return nil
	})
	if err != nil {
		t.Fatal(err)
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
