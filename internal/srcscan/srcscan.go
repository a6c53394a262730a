// Package srcscan parses a package's Go source (not its tests) for tests
// that hold the code against a list kept beside it, such as the event
// types a switch driver subscribes to.
package srcscan

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// Files parses every non-test .go file of dirs; fset gives their
// positions. A folder without Go files or a file that does not parse
// fails the test.
func Files(t testing.TB, dirs ...string) (*token.FileSet, []*ast.File) {
	t.Helper()
	fset := token.NewFileSet()
	var out []*ast.File
	for _, dir := range dirs {
		names, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, name := range names {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, name, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, f)
			n++
		}
		if n == 0 {
			t.Fatalf("srcscan: no Go source in %s", dir)
		}
	}
	return fset, out
}
