package asterisk

import (
	"go/ast"
	"slices"
	"testing"

	"github.com/callflow/callflow/ari"
	"github.com/callflow/callflow/internal/srcscan"
)

// TestEventFilterCoversDriver reads the non-test source of this package and of
// the ari package and collects every ARI event type the code waits for — a
// case of a type switch or a type assertion naming an event type. Each must
// be allowed by the event filter, or the driver would wait for an event that
// Asterisk no longer sends.
func TestEventFilterCoversDriver(t *testing.T) {
	known := ari.KnownEventTypes()
	used := map[string]string{} // type → where
	fset, files := srcscan.Files(t, ".", "../../ari")
	note := func(e ast.Expr) {
		if st, ok := e.(*ast.StarExpr); ok {
			e = st.X
		}
		var name string
		switch x := e.(type) {
		case *ast.Ident:
			name = x.Name
		case *ast.SelectorExpr:
			name = x.Sel.Name
		}
		if slices.Contains(known, name) {
			if _, seen := used[name]; !seen {
				used[name] = fset.Position(e.Pos()).String()
			}
		}
	}
	for _, file := range files {
		ast.Inspect(file, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.TypeSwitchStmt:
				for _, c := range x.Body.List {
					for _, e := range c.(*ast.CaseClause).List {
						note(e)
					}
				}
			case *ast.TypeAssertExpr:
				if x.Type != nil {
					note(x.Type)
				}
			}
			return true
		})
	}
	if len(used) < 5 {
		t.Fatalf("found only %d event types in the source (%v): the scan is broken", len(used), used)
	}
	for typ, where := range used {
		if !slices.Contains(eventTypes, typ) {
			t.Errorf("%s: the driver waits for %s, which the event filter drops", where, typ)
		}
	}
	for _, typ := range eventTypes {
		if _, ok := used[typ]; !ok {
			t.Errorf("the event filter allows %s, which no code waits for", typ)
		}
	}
}
