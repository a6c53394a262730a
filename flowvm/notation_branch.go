package flowvm

import (
	"context"
	"strconv"
	"strings"
)

var branchSpec = &spec{
	typ: "branch",
	doc: "Takes the exit of the first condition that holds (when_1, when_2, …), else default.",
	params: []param{{name: "conditions", kind: pConditions, required: true,
		doc: "list of {when: bool expression, goto: notation id}"}},
	exits:    []exitSpec{{name: "default", required: true, doc: "no condition holds"}},
	dynExits: "when_<n>: condition n holds",
	build: func(_ *compiler, n *nnode) op {
		return &branchOp{conds: n.vals["conditions"].([]cond)}
	},
}

type branchOp struct{ conds []cond }

func (o *branchOp) exec(_ context.Context, r *run, _ *instr) (int, error) {
	for i := range o.conds {
		ok, err := r.evalBool(o.conds[i].when)
		if err != nil {
			return 0, err
		}
		if ok {
			return 1 + i, nil
		}
	}
	return 0, nil
}

func (o *branchOp) args() string {
	s := make([]string, len(o.conds))
	for i, c := range o.conds {
		s[i] = strconv.Quote(c.when.src)
	}
	return "when=[" + strings.Join(s, " ") + "]"
}
