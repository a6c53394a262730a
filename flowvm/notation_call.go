package flowvm

import "context"

var callSpec = &spec{
	typ:    "call",
	doc:    "Runs another flow (file <flow>.yaml) as a sub-flow with the same variables; its end or return continues at next.",
	params: []param{{name: "flow", kind: pFlow, required: true, doc: "sub-flow name"}},
	exits:  []exitSpec{{name: "next", doc: "the sub-flow returned"}},
	build: func(_ *compiler, n *nnode) op {
		return &callOp{flow: n.vals["flow"].(flowRef).name}
	},
}

type callOp struct {
	flow  string
	start int
}

func (o *callOp) link(p *Program) {
	o.start = p.flows[p.byName[o.flow]].start
}

func (o *callOp) exec(_ context.Context, r *run, in *instr) (int, error) {
	r.frames = append(r.frames, in.pc)
	r.jump = o.start
	return exitJump, nil
}

func (o *callOp) args() string { return "flow=" + o.flow }
