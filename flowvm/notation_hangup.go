package flowvm

import (
	"context"

	"github.com/callflow/callflow/adapter"
)

var hangupSpec = &spec{
	typ: "hangup", io: true,
	doc: "Hangs the call up with a cause and ends the run. It has no exits.",
	params: []param{{name: "cause", kind: pEnum, def: "normal",
		enum: []string{"normal", "busy", "no_answer", "rejected", "unallocated", "congestion", "failure"},
		doc:  "hang-up cause (Q.850 name)"}},
	build: func(_ *compiler, n *nnode) op {
		c, err := adapter.ParseCause(n.vals["cause"].(string))
		if err != nil {
			c = adapter.CauseNormal // unreachable: the enum is checked at load
		}
		return &hangupOp{cause: c}
	},
}

type hangupOp struct{ cause adapter.Cause }

func (o *hangupOp) exec(ctx context.Context, r *run, _ *instr) (int, error) {
	if r.reserved {
		r.fault("hangup with a callback reservation open")
	}
	r.detail("cause", o.cause.String())
	if err := r.call.Hangup(ctx, o.cause); err != nil {
		return 0, err
	}
	r.stopped = true
	return exitStop, nil
}

func (o *hangupOp) args() string { return "cause=" + o.cause.String() }
