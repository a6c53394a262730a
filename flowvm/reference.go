package flowvm

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Reference writes the reference of every notation — parameters with
// their types and defaults, and exits — generated from the parameter
// tables (doc.go carries the same text; a test keeps them equal).
func Reference(w io.Writer) error {
	var b strings.Builder
	for _, name := range specNames() {
		s := specs[name]
		fmt.Fprintf(&b, "%s\n\n%s\n\n", s.typ, s.doc)
		if len(s.params) > 0 {
			b.WriteString("Parameters:\n\n")
			for _, p := range s.params {
				kind := pkindNames[p.kind]
				if p.kind == pExpr {
					kind = "expression of " + wantNames[p.want]
				}
				if len(p.enum) > 0 {
					kind = "one of " + quoteList(p.enum)
				}
				req := ""
				switch {
				case p.required:
					req = ", required"
				case p.def != nil:
					req = ", default " + defText(p.def)
				}
				fmt.Fprintf(&b, "  - %s (%s%s): %s\n", p.name, kind, req, p.doc)
			}
			b.WriteString("\n")
		}
		if len(s.exits) == 0 && s.dynExits == "" {
			b.WriteString("Exits: none.\n\n")
			continue
		}
		b.WriteString("Exits:\n\n")
		if s.dynExits != "" {
			fmt.Fprintf(&b, "  - %s\n", s.dynExits)
		}
		for _, e := range s.exits {
			req := ""
			if e.required {
				req = " (required)"
			}
			fmt.Fprintf(&b, "  - %s%s", e.name, req)
			if e.doc != "" {
				fmt.Fprintf(&b, ": %s", e.doc)
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func defText(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("%q", x)
	case time.Duration:
		return x.String()
	}
	return fmt.Sprint(v)
}
