package flowvm

import (
	"context"
	"fmt"
)

var declineCallbackSpec = &spec{
	typ: "decline_callback", io: true,
	doc:   "Makes the reserved entry live again at the same place (back to music inside a queue).",
	exits: []exitSpec{{name: "next"}, {name: "error"}},
	build: func(*compiler, *nnode) op { return declineCallbackOp{} },
}

type declineCallbackOp struct{}

func (declineCallbackOp) exec(ctx context.Context, r *run, _ *instr) (int, error) {
	q, err := r.queues()
	if err != nil {
		return 0, err
	}
	if err := q.DeclineCallback(ctx, r.call); err != nil {
		return 0, fmt.Errorf("decline callback: %w", err)
	}
	r.reserved = false
	return 0, nil
}

func (declineCallbackOp) args() string { return "" }
