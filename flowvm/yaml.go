package flowvm

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"

	"github.com/callflow/callflow/internal/duration"
)

// posOf is the position of a YAML node's first token.
func posOf(file string, n ast.Node) Pos {
	if n == nil {
		return Pos{File: file, Line: 1, Col: 1}
	}
	tk := n.GetToken()
	if tk == nil || tk.Position == nil {
		return Pos{File: file, Line: 1, Col: 1}
	}
	return Pos{File: file, Line: tk.Position.Line, Col: tk.Position.Column}
}

// unwrap strips tags and anchors; aliases are refused by the caller.
func unwrap(n ast.Node) ast.Node {
	for {
		switch v := n.(type) {
		case *ast.TagNode:
			n = v.Value
		case *ast.AnchorNode:
			n = v.Value
		default:
			return n
		}
	}
}

// nodeKind names a node's kind for error messages.
func nodeKind(n ast.Node) string {
	switch unwrap(n).(type) {
	case nil, *ast.NullNode:
		return "null"
	case *ast.MappingNode, *ast.MappingValueNode:
		return "mapping"
	case *ast.SequenceNode:
		return "list"
	case *ast.IntegerNode, *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return "number"
	case *ast.BoolNode:
		return "bool"
	case *ast.AliasNode:
		return "alias"
	default:
		return "string"
	}
}

// scalar is a scalar's text and whether it was written as a string, with
// the column offset of its first character relative to the token (1 for a
// quoted string).
func scalar(n ast.Node) (text string, ok bool, quoteOff int) {
	switch v := unwrap(n).(type) {
	case *ast.StringNode:
		tk := v.GetToken()
		if tk != nil && (strings.HasPrefix(strings.TrimSpace(tk.Origin), "'") || strings.HasPrefix(strings.TrimSpace(tk.Origin), `"`)) {
			quoteOff = 1
		}
		return v.Value, true, quoteOff
	case *ast.LiteralNode:
		return v.Value.Value, true, 0
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode:
		return v.GetToken().Value, true, 0
	}
	return "", false, 0
}

// mapping returns the key/value pairs of a mapping node.
func mapping(n ast.Node) ([]*ast.MappingValueNode, bool) {
	switch v := unwrap(n).(type) {
	case *ast.MappingNode:
		return v.Values, true
	case *ast.MappingValueNode:
		return []*ast.MappingValueNode{v}, true
	}
	return nil, false
}

// keyText is a mapping key's text.
func keyText(kv *ast.MappingValueNode) string {
	if kv.Key == nil {
		return ""
	}
	if s, ok, _ := scalar(kv.Key); ok {
		return s
	}
	return kv.Key.String()
}

// literal converts a scalar node into a Go value (int, float64, bool, string).
func literal(n ast.Node) (any, error) {
	switch v := unwrap(n).(type) {
	case *ast.IntegerNode:
		switch x := v.Value.(type) {
		case int64:
			return int(x), nil
		case uint64:
			if x > 1<<62 {
				return nil, fmt.Errorf("integer %d out of range", x)
			}
			return int(x), nil
		}
		i, err := strconv.Atoi(v.GetToken().Value)
		if err != nil {
			return nil, fmt.Errorf("bad integer %q", v.GetToken().Value)
		}
		return i, nil
	case *ast.FloatNode:
		return v.Value, nil
	case *ast.BoolNode:
		return v.Value, nil
	case *ast.StringNode:
		return v.Value, nil
	case *ast.LiteralNode:
		return v.Value.Value, nil
	}
	return nil, fmt.Errorf("want a literal value, got %s", nodeKind(n))
}

// parseDuration reads a duration in the grammar of internal/duration:
// a number of seconds (30, 1.5) or a Go duration ("5s", "1m30s").
func parseDuration(n ast.Node) (time.Duration, error) {
	return duration.Node(n)
}
