package flowvm

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// pkind is the type of a notation parameter.
type pkind int

const (
	pInt        pkind = iota // integer literal within [min, max]
	pDuration                // "5s", "1m30s" or seconds
	pBool                    // true / false
	pString                  // literal string
	pEnum                    // one of enum
	pStringList              // list of strings (a single string is a list of one)
	pEnumList                // list of enum values
	pTemplate                // one template: text with ${expr}
	pPrompts                 // list of prompt templates (a single one is a list of one), checked by media.ParsePrompt
	pExpr                    // expression with a result type (want)
	pVar                     // name of a variable the notation assigns
	pFlow                    // name of another flow (file <name>.yaml)
	pNotation                // id of a notation of the same flow (an exit)
	pOptions                 // menu options: digit → notation id (exits option_<digit>)
	pConditions              // branch conditions: list of {when: expr, goto: id} (exits when_<n>)
	pAssign                  // set: variable name → expression
)

var pkindNames = map[pkind]string{
	pInt: "int", pDuration: "duration", pBool: "bool", pString: "string", pEnum: "enum",
	pStringList: "list of strings", pEnumList: "list of enum", pTemplate: "template",
	pPrompts: "list of prompt templates", pExpr: "expression", pVar: "variable name", pFlow: "flow name",
	pNotation: "notation id", pOptions: "map digit → notation id", pConditions: "list of {when, goto}",
	pAssign: "map variable → expression",
}

// want is the result type an expression must have.
type want int

const (
	wantAny    want = iota
	wantBool        // bool
	wantString      // string
	wantNumber      // int or float (templates: string or number)
	wantOffset      // duration or int seconds, counted from now
	wantText        // string or number (template parts)
)

var wantNames = map[want]string{wantAny: "any", wantBool: "bool", wantString: "string", wantNumber: "number", wantOffset: "duration or int seconds", wantText: "string or number"}

// param describes one parameter of a notation.
type param struct {
	name     string
	kind     pkind
	required bool
	def      any // default when optional and absent (nil: no value)
	enum     []string
	want     want // pExpr result type
	min, max int  // pInt bounds; max 0 = unbounded
	doc      string
}

// exitSpec describes one fixed exit of a notation.
type exitSpec struct {
	name     string
	required bool
	doc      string
}

// spec is the declarative description of a notation type: its parameter
// table, its exits and how it compiles to an op.
type spec struct {
	typ string
	doc string
	io  bool // does call or queue I/O
	// blocks: it waits for the caller or for time (plays, collects,
	// records, dials, queues, waits). Only a blocking notation that ended
	// without error resets the step budget; answer, hangup and the
	// callback notations return at once and count as steps.
	blocks bool
	params []param
	exits  []exitSpec
	// dynExits names the per-instance exits (menu options, branch conditions).
	dynExits string
	// check runs extra load-time checks after the parameters are decoded.
	check func(l *loader, n *nnode)
	// build turns the checked notation into its op.
	build func(c *compiler, n *nnode) op
}

// op is a compiled notation: exec runs it and returns the index of the exit
// taken (into instr.exits) or one of the exit* codes.
type op interface {
	exec(ctx context.Context, r *run, in *instr) (int, error)
	// args renders the parameters for Disasm.
	args() string
}

// Special exit codes returned by exec.
const (
	exitReturn = -1 // end of the current flow (return to the caller flow)
	exitStop   = -2 // end of the whole run (hangup)
	exitJump   = -3 // continue at r.jump (call)
)

func (s *spec) exitIndex(name string) int {
	for i, e := range s.exits {
		if e.name == name {
			return i
		}
	}
	return -1
}

func (s *spec) param(name string) *param {
	for i := range s.params {
		if s.params[i].name == name {
			return &s.params[i]
		}
	}
	return nil
}

// specs is every notation type.
var specs = func() map[string]*spec {
	m := map[string]*spec{}
	for _, s := range []*spec{
		answerSpec, hangupSpec, playSpec, gatherSpec, menuSpec, setSpec, branchSpec, gotoSpec,
		callSpec, returnSpec, waitSpec, logSpec, validateNumberSpec, queueSpec,
		announcePositionSpec, announceWaitSpec, recordSpec, dialSpec,
		startCallbackSpec, declineCallbackSpec, registerCallbackSpec,
	} {
		m[s.typ] = s
	}
	return m
}()

func specNames() []string {
	names := make([]string, 0, len(specs))
	for n := range specs {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

var (
	identRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	digitRe = regexp.MustCompile(`^[0-9*#]$`)
)

// flowRef names a flow at a position.
type flowRef struct {
	name string
	pos  Pos
}

// option is one menu option.
type option struct {
	digit, target string
	pos           Pos
}

// cond is one branch condition.
type cond struct {
	when   *cexpr
	target string
	pos    Pos
}

// assign is one variable assignment of set.
type assign struct {
	name string
	pos  Pos
	expr *cexpr
}

// decodeParam checks a parameter value against its table entry and stores
// the decoded value in n.vals. Expressions are parsed later (compileExprs).
func (l *loader) decodeParam(n *nnode, p *param, key, v ast.Node) {
	file := n.flow.file
	at := posOf(file, v)
	if v == nil {
		at = posOf(file, key)
	}
	bad := func(format string, args ...any) {
		l.errs.add(at, "%s: %s", p.name, fmt.Sprintf(format, args...))
	}
	if _, ok := unwrap(v).(*ast.AliasNode); ok {
		bad("YAML aliases are not supported")
		return
	}
	if _, ok := unwrap(v).(*ast.NullNode); ok || v == nil {
		bad("missing value (want %s)", pkindNames[p.kind])
		return
	}
	str := func(node ast.Node) (string, int, bool) {
		s, ok, off := scalar(node)
		if !ok {
			l.errs.add(posOf(file, node), "%s: want a string, got %s", p.name, nodeKind(node))
		}
		return s, off, ok
	}
	list := func() []ast.Node {
		if seq, ok := unwrap(v).(*ast.SequenceNode); ok {
			return seq.Values
		}
		return []ast.Node{v}
	}
	switch p.kind {
	case pInt:
		lit, err := literal(v)
		i, ok := lit.(int)
		if err != nil || !ok {
			bad("want an integer, got %s", nodeKind(v))
			return
		}
		if i < p.min || (p.max > 0 && i > p.max) {
			if p.max > 0 {
				bad("%d out of range %d..%d", i, p.min, p.max)
			} else {
				bad("%d is less than %d", i, p.min)
			}
			return
		}
		n.vals[p.name] = i
	case pDuration:
		d, err := parseDuration(v)
		if err != nil {
			bad("%v", err)
			return
		}
		n.vals[p.name] = d
	case pBool:
		b, ok := unwrap(v).(*ast.BoolNode)
		if !ok {
			bad("want true or false, got %s", nodeKind(v))
			return
		}
		n.vals[p.name] = b.Value
	case pString, pEnum, pVar, pFlow, pNotation:
		s, _, ok := str(v)
		if !ok {
			return
		}
		switch p.kind {
		case pEnum:
			if !slices.Contains(p.enum, s) {
				bad("%q is not one of %s", s, quoteList(p.enum))
				return
			}
		case pVar:
			if !identRe.MatchString(s) {
				bad("%q is not a variable name", s)
				return
			}
		case pFlow, pNotation:
			if strings.TrimSpace(s) == "" {
				bad("empty name")
				return
			}
		}
		switch p.kind {
		case pFlow:
			n.vals[p.name] = flowRef{name: strings.TrimSuffix(s, ".yaml"), pos: at}
		case pNotation:
			n.edges = append(n.edges, edge{exit: "next", target: s, pos: at})
		default:
			n.vals[p.name] = s
		}
	case pStringList, pEnumList:
		var out []string
		for _, e := range list() {
			s, _, ok := str(e)
			if !ok {
				continue
			}
			if p.kind == pEnumList && !slices.Contains(p.enum, s) {
				l.errs.add(posOf(file, e), "%s: %q is not one of %s", p.name, s, quoteList(p.enum))
				continue
			}
			out = append(out, s)
		}
		n.vals[p.name] = out
	case pTemplate:
		s, off, ok := str(v)
		if ok {
			n.vals[p.name] = l.parseTemplate(s, posOf(file, v), off)
		}
	case pPrompts:
		var out []*tmpl
		for _, e := range list() {
			if s, off, ok := str(e); ok {
				t := l.parseTemplate(s, posOf(file, e), off)
				l.checkPrompt(p.name, t, posOf(file, e))
				out = append(out, t)
			}
		}
		if len(out) == 0 && p.required {
			bad("empty list")
		}
		n.vals[p.name] = out
	case pExpr:
		s, off, ok := str(v)
		if ok {
			n.vals[p.name] = l.newExpr(s, posOf(file, v), off, p.want)
		}
	case pOptions:
		kvs, ok := mapping(v)
		if !ok {
			bad("want a mapping of digit → notation id, got %s", nodeKind(v))
			return
		}
		var out []option
		for _, kv := range kvs {
			d := keyText(kv)
			kp := posOf(file, kv.Key)
			if !digitRe.MatchString(d) {
				l.errs.add(kp, "%s: option %q is not a single digit, * or #", p.name, d)
				continue
			}
			t, _, ok := str(kv.Value)
			if !ok {
				continue
			}
			out = append(out, option{digit: d, target: t, pos: posOf(file, kv.Value)})
			n.edges = append(n.edges, edge{exit: "option_" + d, target: t, pos: posOf(file, kv.Value), dyn: true})
		}
		n.vals[p.name] = out
	case pConditions:
		seq, ok := unwrap(v).(*ast.SequenceNode)
		if !ok {
			bad("want a list of {when, goto}, got %s", nodeKind(v))
			return
		}
		var out []cond
		for i, e := range seq.Values {
			kvs, ok := mapping(e)
			if !ok {
				l.errs.add(posOf(file, e), "%s: want {when, goto}, got %s", p.name, nodeKind(e))
				continue
			}
			c := cond{pos: posOf(file, e)}
			for _, kv := range kvs {
				switch keyText(kv) {
				case "when":
					if s, off, ok := str(kv.Value); ok {
						c.when = l.newExpr(s, posOf(file, kv.Value), off, wantBool)
					}
				case "goto":
					if s, _, ok := str(kv.Value); ok {
						c.target = s
						c.pos = posOf(file, kv.Value)
					}
				default:
					l.errs.add(posOf(file, kv.Key), "%s: unknown key %q (want when, goto)", p.name, keyText(kv))
				}
			}
			if c.when == nil || c.target == "" {
				l.errs.add(posOf(file, e), "%s: condition needs both when and goto", p.name)
				continue
			}
			out = append(out, c)
			n.edges = append(n.edges, edge{exit: fmt.Sprintf("when_%d", i+1), target: c.target, pos: c.pos, dyn: true})
		}
		n.vals[p.name] = out
	case pAssign:
		kvs, ok := mapping(v)
		if !ok {
			bad("want a mapping of variable → expression, got %s", nodeKind(v))
			return
		}
		var out []assign
		for _, kv := range kvs {
			name := keyText(kv)
			kp := posOf(file, kv.Key)
			if !identRe.MatchString(name) {
				l.errs.add(kp, "%s: %q is not a variable name", p.name, name)
				continue
			}
			s, off, ok := str(kv.Value)
			if !ok {
				continue
			}
			out = append(out, assign{name: name, pos: kp, expr: l.newExpr(s, posOf(file, kv.Value), off, wantAny)})
		}
		if len(out) == 0 {
			bad("no variables")
		}
		n.vals[p.name] = out
	}
}

func quoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}
