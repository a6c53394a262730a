package flowvm

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/checker"
	ecompiler "github.com/expr-lang/expr/compiler"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/optimizer"
	eparser "github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/types"
	"github.com/expr-lang/expr/vm"
)

// varInfo is a variable of the expression environment.
type varInfo struct {
	name     string
	typ      types.Type
	rt       reflect.Type // nil: any
	pos      Pos
	builtin  bool
	readonly bool
	init     any
}

// envInfo is the typed environment every expression of a Program is
// checked against: built-in call variables plus user variables.
type envInfo struct {
	vars map[string]*varInfo
	tmap types.Map
	conf *conf.Config // built from tmap on first use
}

var (
	tString = types.String
	tInt    = types.Int
)

// builtinVars are the variables every flow can read.
func builtinVars() map[string]*varInfo {
	ro := func(t types.Type) *varInfo { return &varInfo{typ: t, builtin: true, readonly: true} }
	rw := func(t types.Type, init any) *varInfo {
		return &varInfo{typ: t, rt: reflect.TypeOf(init), builtin: true, init: init}
	}
	return map[string]*varInfo{
		"caller":             ro(types.Map{"number": tString, "name": tString}),
		"call":               ro(types.Map{"id": tString}),
		"dnis":               ro(tString),
		"args":               ro(types.TypeOf([]string{})),
		"queue":              ro(types.Map{"name": tString, "position": tInt, "ewt": tInt}),
		"digits":             rw(tString, ""),
		"recording":          rw(tString, ""),
		"recording_duration": rw(tInt, 0),
		"number_type":        rw(tString, ""),
		"number_region":      rw(tString, ""),
		"number_reason":      rw(tString, ""),
		"callback_id":        rw(tString, ""),
	}
}

func (e *envInfo) rebuild() {
	e.conf = nil
	e.tmap = make(types.Map, len(e.vars))
	for name, v := range e.vars {
		e.tmap[name] = v.typ
	}
}

// declareVar records a user variable of type rt (nil = any).
func (l *loader) declareVar(name string, rt reflect.Type, at Pos, init any) {
	if v, ok := l.env.vars[name]; ok {
		switch {
		case v.readonly:
			l.errs.add(at, "%q is a read-only built-in variable", name)
		case v.rt != nil && rt != nil && v.rt != rt:
			l.errs.add(at, "variable %q is %s here but %s at %s", name, rt, v.rt, v.pos)
		}
		return
	}
	var t types.Type = types.Any
	if rt != nil {
		t = types.TypeOf(reflect.Zero(rt).Interface())
		if init == nil {
			init = reflect.Zero(rt).Interface()
		}
	}
	l.env.vars[name] = &varInfo{name: name, typ: t, rt: rt, pos: at, init: init}
}

// declare builds the environment: built-ins, `vars`, variables assigned by
// notations (into) and by set, whose types come from their expressions.
func (l *loader) declare() {
	l.env = &envInfo{vars: builtinVars()}
	for _, f := range l.order {
		for _, d := range f.vars {
			l.declareVar(d.name, reflect.TypeOf(d.val), d.pos, d.val)
		}
	}
	var sets []*assign
	for _, f := range l.order {
		for _, n := range f.nodes {
			if n.spec == nil {
				continue
			}
			for _, p := range n.spec.params {
				if p.kind == pVar {
					if name, ok := n.vals[p.name].(string); ok {
						l.declareVar(name, reflect.TypeOf(""), n.pos, "")
					}
				}
			}
			if as, ok := n.vals["vars"].([]assign); ok && n.spec == setSpec {
				for i := range as {
					sets = append(sets, &as[i])
				}
			}
		}
	}
	// Set targets get the type of their expression. An expression may read
	// another set target, so compile in rounds until nothing changes.
	pending := sets
	for len(pending) > 0 {
		l.env.rebuild()
		var next []*assign
		for _, a := range pending {
			if _, known := l.env.vars[a.name]; known {
				continue // typed already (vars, into, an earlier set): checked in compileExprs
			}
			prog, err := l.exprCompile(a.expr.src)
			if err != nil {
				next = append(next, a)
				continue
			}
			l.declareVar(a.name, exprType(prog.Node()), a.pos, nil)
		}
		if len(next) == len(pending) {
			break // the rest fail for their own reasons: compileExprs reports them
		}
		pending = next
	}
	l.env.rebuild()
}

// exprType is the static result type of an expression (nil = any).
func exprType(n ast.Node) reflect.Type {
	t := n.Type()
	if t == nil || t.Kind() == reflect.Interface {
		return nil
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int64, reflect.Int32:
		if t == reflect.TypeOf(time.Duration(0)) {
			return t
		}
		return reflect.TypeOf(0)
	case reflect.Float32, reflect.Float64:
		return reflect.TypeOf(0.0)
	}
	return t
}

// exprCompile compiles an expression against the environment, the way
// expr.Compile does, but with one configuration per environment instead
// of a new one per expression (building it dominates small compiles).
func (l *loader) exprCompile(src string) (*vm.Program, error) {
	if l.env.conf == nil {
		c := conf.CreateNew()
		for _, op := range []expr.Option{expr.Env(l.env.tmap), expr.DisableBuiltin("now")} {
			op(c)
		}
		for name := range c.Disabled {
			delete(c.Builtins, name)
		}
		c.Check()
		l.env.conf = c
	}
	tree, err := checker.ParseCheck(src, l.env.conf)
	if err != nil {
		return nil, err
	}
	if l.env.conf.Optimize {
		if err := optimizer.Optimize(&tree.Node, l.env.conf); err != nil {
			var fe *file.Error
			if errors.As(err, &fe) {
				return nil, fe.Bind(tree.Source)
			}
			return nil, err
		}
	}
	return ecompiler.Compile(tree, l.env.conf)
}

// cexpr is an expression of a flow, compiled against the environment.
type cexpr struct {
	src  string
	pos  Pos // the value's token (for whole-value expressions)
	want want
	prog *vm.Program
	// fast paths that need no expression VM
	isConst  bool
	constVal any
	varName  string // the expression is a plain variable
}

func (l *loader) newExpr(src string, tok Pos, _ int, w want) *cexpr {
	if l.cur != nil && strings.Contains(src, "queue") {
		l.cur.queueRx = true
	}
	e := &cexpr{src: src, pos: tok, want: w}
	l.exprs = append(l.exprs, e)
	return e
}

// compile compiles one expression, reporting errors at its position.
func (l *loader) compileExpr(e *cexpr) {
	if strings.TrimSpace(e.src) == "" {
		l.errs.add(e.pos, "empty expression")
		return
	}
	prog, err := l.exprCompile(e.src)
	if err != nil {
		msg := err.Error()
		var fe *file.Error
		if errors.As(err, &fe) {
			msg = fe.Message
		}
		kind := "type error"
		if _, perr := eparser.Parse(e.src); perr != nil {
			kind = "syntax error"
		}
		l.errs.add(e.pos, "%s: %s", kind, msg)
		return
	}
	rt := exprType(prog.Node())
	if !wantOK(e.want, rt) {
		l.errs.add(e.pos, "type error: %q is %s, want %s", e.src, rt, wantNames[e.want])
		return
	}
	e.prog = prog
	switch n := prog.Node().(type) {
	case *ast.BoolNode:
		e.isConst, e.constVal = true, n.Value
	case *ast.StringNode:
		e.isConst, e.constVal = true, n.Value
	case *ast.IntegerNode:
		e.isConst, e.constVal = true, n.Value
	case *ast.IdentifierNode:
		if v, ok := l.env.vars[n.Value]; ok && !v.readonly {
			e.varName = n.Value
		}
	}
}

func wantOK(w want, rt reflect.Type) bool {
	if rt == nil {
		return true // any: checked at run time
	}
	k := rt.Kind()
	num := k >= reflect.Int && k <= reflect.Float64
	switch w {
	case wantBool:
		return k == reflect.Bool
	case wantString:
		return k == reflect.String
	case wantNumber:
		return num
	case wantOffset:
		return k == reflect.Int || rt == reflect.TypeOf(time.Duration(0))
	case wantText:
		return k == reflect.String || num
	}
	return true
}

// checkValue checks a run-time value of an expression whose static type
// was any.
func (e *cexpr) checkValue(v any) error {
	if v == nil && e.want != wantAny {
		return fmt.Errorf("expression %q is nil, want %s", e.src, wantNames[e.want])
	}
	if v == nil || wantOK(e.want, reflect.TypeOf(v)) {
		return nil
	}
	return fmt.Errorf("expression %q is %T, want %s", e.src, v, wantNames[e.want])
}

// compileExprs compiles every expression and template and checks set
// assignments against their variables' types.
func (l *loader) compileExprs() {
	for _, e := range l.exprs {
		l.compileExpr(e)
	}
	for _, f := range l.order {
		for _, n := range f.nodes {
			as, ok := n.vals["vars"].([]assign)
			if !ok || n.spec != setSpec {
				continue
			}
			for _, a := range as {
				v := l.env.vars[a.name]
				if v == nil || a.expr.prog == nil {
					continue
				}
				if v.readonly {
					l.errs.add(a.pos, "%q is a read-only built-in variable", a.name)
					continue
				}
				if rt := exprType(a.expr.prog.Node()); v.rt != nil && rt != nil && !assignable(rt, v.rt) {
					l.errs.add(a.expr.pos, "type error: cannot assign %s to %q of type %s", rt, a.name, v.rt)
				}
			}
		}
	}
}

func assignable(from, to reflect.Type) bool {
	return from == to || (to.Kind() == reflect.Float64 && from.Kind() == reflect.Int)
}

// tmpl is a template: literal text with ${expr} parts.
type tmpl struct {
	src   string
	parts []tpart
}

type tpart struct {
	lit string
	e   *cexpr
}

// parseTemplate splits a template into literal and expression parts; "$${"
// is a literal "${".
func (l *loader) parseTemplate(s string, tok Pos, quoteOff int) *tmpl {
	t := &tmpl{src: s}
	var lit strings.Builder
	at := func(off int) Pos {
		p := tok
		p.Col += quoteOff
		if nl := strings.LastIndexByte(s[:off], '\n'); nl >= 0 {
			p.Line += strings.Count(s[:off], "\n")
			p.Col = off - nl
			return p
		}
		p.Col += off
		return p
	}
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "$${"):
			lit.WriteString("${")
			i += 3
		case strings.HasPrefix(s[i:], "${"):
			end := matchBrace(s, i+2)
			if end < 0 {
				l.errs.add(at(i), "template: unterminated ${")
				return t
			}
			if lit.Len() > 0 {
				t.parts = append(t.parts, tpart{lit: lit.String()})
				lit.Reset()
			}
			e := l.newExpr(s[i+2:end], at(i+2), 0, wantText)
			t.parts = append(t.parts, tpart{e: e})
			i = end + 1
		default:
			lit.WriteByte(s[i])
			i++
		}
	}
	if lit.Len() > 0 || len(t.parts) == 0 {
		t.parts = append(t.parts, tpart{lit: lit.String()})
	}
	return t
}

// matchBrace finds the "}" closing an expression that starts at i,
// skipping nested braces and quoted strings; -1 if there is none.
func matchBrace(s string, i int) int {
	depth := 0
	for ; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\'', '`':
			for i++; i < len(s) && s[i] != c; i++ {
				if s[i] == '\\' && c != '`' {
					i++
				}
			}
		case '{':
			depth++
		case '}':
			if depth == 0 {
				return i
			}
			depth--
		}
	}
	return -1
}
