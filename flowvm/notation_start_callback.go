package flowvm

import (
	"context"
	"fmt"
)

var startCallbackSpec = &spec{
	typ: "start_callback", io: true,
	doc: "Turns the caller's queue entry into a reserved entry that keeps its place (music stops). " +
		"Outside a queue it takes a new reserved place in the named queue.",
	params: []param{{name: "queue", kind: pString, doc: "queue (required outside a queue)"}},
	exits:  []exitSpec{{name: "next", doc: "the reservation is open"}, {name: "error", doc: "no reservation"}},
	build: func(_ *compiler, n *nnode) op {
		q, _ := n.vals["queue"].(string)
		return &startCallbackOp{queue: q}
	},
}

type startCallbackOp struct{ queue string }

func (o *startCallbackOp) exec(ctx context.Context, r *run, _ *instr) (int, error) {
	q, err := r.queues()
	if err != nil {
		return 0, err
	}
	if err := q.StartCallback(ctx, r.call, o.queue); err != nil {
		return 0, fmt.Errorf("start callback: %w", err)
	}
	r.reserved = true
	if o.queue != "" {
		r.detail("queue", o.queue)
	}
	return 0, nil
}

func (o *startCallbackOp) args() string { return "queue=" + o.queue }
