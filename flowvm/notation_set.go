package flowvm

import (
	"context"
	"reflect"
	"strings"
)

var setSpec = &spec{
	typ:    "set",
	doc:    "Assigns variables from expressions, in order. A variable not declared elsewhere takes its expression's type.",
	params: []param{{name: "vars", kind: pAssign, required: true, doc: "variable → expression"}},
	exits:  []exitSpec{{name: "next"}},
	build: func(c *compiler, n *nnode) op {
		as := n.vals["vars"].([]assign)
		o := &setOp{as: as, types: make([]reflect.Type, len(as))}
		for i, a := range as {
			o.types[i] = c.varType(a.name)
		}
		return o
	},
}

type setOp struct {
	as    []assign
	types []reflect.Type
}

func (o *setOp) exec(_ context.Context, r *run, _ *instr) (int, error) {
	for i, a := range o.as {
		v, err := r.eval(a.expr)
		if err != nil {
			return 0, err
		}
		if err := r.setVar(a.name, o.types[i], v); err != nil {
			return 0, err
		}
		r.detail(a.name, textOf(v))
	}
	return 0, nil
}

func (o *setOp) args() string {
	s := make([]string, len(o.as))
	for i, a := range o.as {
		s[i] = a.name + "=" + a.expr.src
	}
	return strings.Join(s, "; ")
}
