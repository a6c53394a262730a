package config

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"

	"github.com/callflow/callflow/internal/duration"
)

// decoder walks a YAML AST into typed values, collecting every error with
// its position instead of stopping at the first.
type decoder struct {
	file    string
	errs    ErrorList
	anchors map[string]ast.Node
	later   []func() // checks that need the whole file (references)
	// agentEPs is the agents section: name → endpoint, "" for a name whose
	// entry is reported (queues naming it are not reported again).
	agentEPs map[string]string

	mergeDepth  int  // nesting of "<<" merges being expanded
	merges      int  // merges expanded so far
	mergeFailed bool // the merge limit has been reported
}

// maxMerges bounds merge expansions, so a file of merges that multiply
// ("billion laughs") cannot make Parse run for ever.
const maxMerges = 10000

func (d *decoder) errorf(n ast.Node, format string, args ...any) {
	line, col := 0, 0
	if m, ok := n.(*ast.MappingNode); ok && len(m.Values) > 0 && m.Values[0].Key != nil {
		n = m.Values[0].Key // a mapping's position is its first key's
	}
	if n != nil {
		if tk := n.GetToken(); tk != nil && tk.Position != nil {
			line, col = tk.Position.Line, tk.Position.Column
		}
	}
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Col: col, Msg: fmt.Sprintf(format, args...)})
}

// syntaxError turns a parser error into a positioned Error.
func (d *decoder) syntaxError(err error) {
	var ye yaml.Error
	if errors.As(err, &ye) {
		line, col := 0, 0
		if tk := ye.GetToken(); tk != nil && tk.Position != nil {
			line, col = tk.Position.Line, tk.Position.Column
		}
		d.errs = append(d.errs, &Error{File: d.file, Line: line, Col: col, Msg: ye.GetMessage()})
		return
	}
	d.errs = append(d.errs, &Error{File: d.file, Line: 1, Col: 1, Msg: err.Error()})
}

// collectAnchors records every anchor of the file so aliases resolve.
func (d *decoder) collectAnchors(f *ast.File) {
	d.anchors = map[string]ast.Node{}
	for _, doc := range f.Docs {
		d.walkAnchors(doc, 0)
	}
}

func (d *decoder) walkAnchors(n ast.Node, depth int) {
	if depth > maxDepth {
		return
	}
	switch v := n.(type) {
	case *ast.DocumentNode:
		d.walkAnchors(v.Body, depth+1)
	case *ast.AnchorNode:
		if v.Name != nil {
			d.anchors[v.Name.GetToken().Value] = v.Value
		}
		d.walkAnchors(v.Value, depth+1)
	case *ast.TagNode:
		d.walkAnchors(v.Value, depth+1)
	case *ast.MappingNode:
		for _, mv := range v.Values {
			d.walkAnchors(mv, depth+1)
		}
	case *ast.MappingValueNode:
		d.walkAnchors(v.Value, depth+1)
	case *ast.SequenceNode:
		for _, it := range v.Values {
			d.walkAnchors(it, depth+1)
		}
	}
}

// maxDepth bounds nesting (a config is shallow; this stops hostile input).
const maxDepth = 64

// resolve strips anchors, tags and document wrappers, follows aliases and
// returns nil for null (an absent value).
func (d *decoder) resolve(n ast.Node) ast.Node {
	for depth := 0; depth < 32; depth++ {
		switch v := n.(type) {
		case nil:
			return nil
		case *ast.NullNode:
			return nil
		case *ast.AnchorNode:
			n = v.Value
		case *ast.TagNode:
			n = v.Value
		case *ast.DocumentNode:
			n = v.Body
		case *ast.AliasNode:
			name := ""
			if v.Value != nil {
				name = v.Value.GetToken().Value
			}
			target, ok := d.anchors[name]
			if !ok {
				d.errorf(v, "alias *%s names no anchor", name)
				return nil
			}
			n = target
		default:
			return n
		}
	}
	d.errorf(n, "aliases nested too deeply")
	return nil
}

// entry is one key: value pair of a mapping.
type entry struct {
	key   string
	keyN  ast.Node
	value ast.Node // resolved; nil for null
}

// entries lists a mapping's pairs in file order, merge keys ("<<: *base")
// expanded with explicit keys winning. It reports a non-mapping value.
func (d *decoder) entries(n ast.Node, what string) ([]entry, bool) {
	n = d.resolve(n)
	if n == nil {
		return nil, true
	}
	m, ok := n.(*ast.MappingNode)
	if !ok {
		d.errorf(n, "%s: want a mapping of keys, not %s", what, kindOf(n))
		return nil, false
	}
	var explicit, merged []entry
	for _, mv := range m.Values {
		if mv.Key != nil && mv.Key.IsMergeKey() {
			merged = append(merged, d.merge(mv.Value, what)...)
			continue
		}
		explicit = append(explicit, entry{key: keyText(mv.Key), keyN: mv.Key, value: d.resolve(mv.Value)})
	}
	out := explicit
	for _, e := range merged {
		if !slices.ContainsFunc(out, func(x entry) bool { return x.key == e.key }) {
			out = append(out, e)
		}
	}
	return out, true
}

func (d *decoder) merge(n ast.Node, what string) []entry {
	if d.mergeDepth >= maxDepth || d.merges >= maxMerges {
		if !d.mergeFailed {
			d.errorf(n, "%s: merge keys nest too deeply or expand too often (a merge that includes itself?)", what)
		}
		d.mergeFailed = true
		return nil
	}
	d.mergeDepth++
	d.merges++
	defer func() { d.mergeDepth-- }()
	n = d.resolve(n)
	if seq, ok := n.(*ast.SequenceNode); ok {
		var out []entry
		for _, item := range seq.Values {
			out = append(out, d.merge(item, what)...)
		}
		return out
	}
	es, _ := d.entries(n, what)
	return es
}

func keyText(k ast.MapKeyNode) string {
	if k == nil {
		return ""
	}
	switch v := ast.Node(k).(type) {
	case *ast.StringNode:
		return v.Value
	case *ast.MappingKeyNode:
		if v.Value != nil {
			return v.Value.GetToken().Value
		}
	}
	if tk := k.GetToken(); tk != nil {
		return tk.Value
	}
	return ""
}

// fields decodes a mapping with the fixed set of keys of its key table
// entry k: each present key's (resolved) value goes to its function;
// unknown keys are errors. fs must handle exactly k's keys.
func (d *decoder) fields(n ast.Node, k *key, what string, fs map[string]func(ast.Node)) {
	d.checkHandlers(k, fs)
	es, _ := d.entries(n, what)
	for _, e := range es {
		f, ok := fs[e.key]
		if !ok {
			d.errorf(e.keyN, "unknown key %q in %s (want one of %s)", e.key, what, strings.Join(k.fieldNames(), ", "))
			continue
		}
		if e.value != nil {
			f(e.value)
		}
	}
}

func kindOf(n ast.Node) string {
	switch n.(type) {
	case *ast.MappingNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case nil:
		return "nothing"
	default:
		return "a scalar"
	}
}

// scalar is a scalar's text as written (so +420… or 0800 stay strings).
func (d *decoder) scalar(n ast.Node, what string) (string, bool) {
	switch v := n.(type) {
	case *ast.StringNode:
		return v.Value, true
	case *ast.LiteralNode:
		if v.Value != nil {
			return v.Value.Value, true
		}
		return "", true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		return n.GetToken().Value, true
	}
	d.errorf(n, "%s: want a single value, not %s", what, kindOf(n))
	return "", false
}

func (d *decoder) str(dst *string, what string) func(ast.Node) {
	return func(n ast.Node) {
		if s, ok := d.scalar(n, what); ok {
			*dst = s
		}
	}
}

func (d *decoder) boolean(dst *bool, what string) func(ast.Node) {
	return func(n ast.Node) {
		if b, ok := n.(*ast.BoolNode); ok {
			*dst = b.Value
			return
		}
		d.errorf(n, "%s: want true or false", what)
	}
}

// count decodes a non-negative integer.
func (d *decoder) count(dst *int, what string) func(ast.Node) {
	return func(n ast.Node) {
		s, ok := d.scalar(n, what)
		if !ok {
			return
		}
		v, err := strconv.Atoi(s)
		if _, isInt := n.(*ast.IntegerNode); err != nil || !isInt || v < 0 {
			d.errorf(n, "%s: want a whole number of 0 or more, not %q", what, s)
			return
		}
		*dst = v
	}
}

// duration decodes a duration in the grammar of internal/duration: a
// number of seconds (30, 1.5) or a Go duration (90s, 5m, 1h30m).
func (d *decoder) duration(dst *time.Duration, what string) func(ast.Node) {
	return func(n ast.Node) {
		v, err := duration.Node(n)
		if err != nil {
			d.errorf(n, "%s: %v", what, err)
			return
		}
		*dst = v
	}
}

// list decodes a sequence (a single scalar counts as a one-item list) and
// calls item for each resolved element. It returns false for a value that
// is not a list; an explicit empty list gives zero items and true.
func (d *decoder) list(n ast.Node, what string, item func(ast.Node)) bool {
	switch v := n.(type) {
	case *ast.SequenceNode:
		for _, it := range v.Values {
			if r := d.resolve(it); r != nil {
				item(r)
			} else {
				d.errorf(it, "%s: empty list item", what)
			}
		}
		return true
	case *ast.MappingNode:
		d.errorf(n, "%s: want a list, not a mapping", what)
		return false
	default:
		item(n)
		return true
	}
}

// strings decodes a list of scalars, each checked by check (nil = any);
// items that fail are reported and left out. An explicit empty list gives
// an empty, non-nil slice.
func (d *decoder) strs(dst *[]string, what string, check func(string) error) func(ast.Node) {
	return func(n ast.Node) {
		out := []string{}
		d.list(n, what, func(it ast.Node) {
			s, ok := d.scalar(it, what)
			if !ok {
				return
			}
			if check != nil {
				if err := check(s); err != nil {
					d.errorf(it, "%s: %v", what, err)
					return
				}
			}
			out = append(out, s)
		})
		*dst = out
	}
}
