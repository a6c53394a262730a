package flowvm

import (
	"context"
	"time"
)

var waitSpec = &spec{
	typ: "wait", io: true, blocks: true,
	doc:    "Waits (the caller hears silence, or music when in a queue's holding bridge).",
	params: []param{{name: "duration", kind: pDuration, required: true, doc: "how long to wait"}},
	exits:  []exitSpec{{name: "next", doc: "the time passed"}},
	// A wait that does not block would loop without ever yielding.
	check: func(l *loader, n *nnode) {
		if d, ok := n.vals["duration"].(time.Duration); ok && d <= 0 {
			l.errs.add(n.pos, "wait %q: duration must be greater than 0, got %s", n.id, d)
		}
	},
	build: func(_ *compiler, n *nnode) op {
		return &waitOp{d: n.vals["duration"].(time.Duration)}
	},
}

type waitOp struct{ d time.Duration }

func (o *waitOp) exec(ctx context.Context, r *run, _ *instr) (int, error) {
	if o.d <= 0 {
		return 0, nil
	}
	return 0, r.call.Wait(ctx, o.d)
}

func (o *waitOp) args() string { return "duration=" + o.d.String() }
