// Package duration is callflow's one grammar for durations written in YAML:
// flows (flowvm), the service configuration (config) and simulator
// scenarios (adapter/sim) all read durations through it, so `30`, `30s`
// and `0.5m` mean the same thing in every file.
//
// The grammar:
//
//   - a plain number is seconds: 30, 1.5, 0, 2e3 (written bare or quoted);
//   - otherwise a Go duration: 500ms, 30s, 1m30s, 2h, 720h
//     (units ns, us, µs, ms, s, m, h; no days);
//   - negative values are refused, and so is anything longer than
//     1,000,000,000 seconds (about 31 years).
//
// Zero is a valid duration here; a caller that needs a positive one (a
// flow's wait, a scenario's prompt_duration) checks that itself.
package duration

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
)

// Max is the longest duration the grammar accepts.
const Max = 1_000_000_000 * time.Second

// Grammar describes the accepted forms; error messages end with it.
const Grammar = "seconds such as 30 or 1.5, or a Go duration such as 500ms, 30s, 1m30s"

// number is an unsigned decimal number of seconds, as YAML writes integers
// and floats (no hex, octal, .inf or .nan).
var number = regexp.MustCompile(`^[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?$|^\.[0-9]+([eE][+-]?[0-9]+)?$`)

// Parse reads a duration written as text (see the package comment).
func Parse(text string) (time.Duration, error) {
	s := strings.TrimSpace(text)
	body := strings.TrimPrefix(s, "+")
	if strings.HasPrefix(s, "-") {
		return 0, fmt.Errorf("negative duration %q", text)
	}
	var d time.Duration
	if number.MatchString(body) {
		f, err := strconv.ParseFloat(body, 64) // fails only on overflow: body matched number
		if err != nil || f > Max.Seconds() {
			return 0, fmt.Errorf("duration %q is longer than %d s", text, int64(Max.Seconds()))
		}
		d = time.Duration(math.Round(f * float64(time.Second)))
	} else {
		var err error
		d, err = time.ParseDuration(body)
		if err != nil {
			return 0, fmt.Errorf("bad duration %q: want %s", text, Grammar)
		}
	}
	if d > Max {
		return 0, fmt.Errorf("duration %q is longer than %d s", text, int64(Max.Seconds()))
	}
	return d, nil
}

// Node reads a duration from a YAML scalar node, bare or quoted. Tags and
// anchors are looked through; aliases must be resolved by the caller.
func Node(n ast.Node) (time.Duration, error) {
	for {
		switch v := n.(type) {
		case *ast.TagNode:
			n = v.Value
			continue
		case *ast.AnchorNode:
			n = v.Value
			continue
		}
		break
	}
	switch v := n.(type) {
	case *ast.StringNode:
		return Parse(v.Value)
	case *ast.LiteralNode:
		if v.Value == nil {
			return Parse("")
		}
		return Parse(v.Value.Value)
	case *ast.IntegerNode, *ast.FloatNode, *ast.InfinityNode, *ast.NanNode, *ast.BoolNode:
		return Parse(v.GetToken().Value)
	}
	return 0, fmt.Errorf("want a duration (%s), got %s", Grammar, kind(n))
}

func kind(n ast.Node) string {
	switch n.(type) {
	case nil, *ast.NullNode:
		return "nothing"
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case *ast.AliasNode:
		return "an alias"
	}
	return "a " + n.Type().String()
}
