package flowvm

import (
	"context"
	"fmt"
)

var declineCallbackSpec = &spec{
	typ: "decline_callback", io: true,
	doc:   "Makes the reserved entry live again at the same place (back to music inside a queue; not when next is a hangup, which follows at once).",
	exits: []exitSpec{{name: "next"}, {name: "error"}},
	build: func(*compiler, *nnode) op { return declineCallbackOp{} },
}

type declineCallbackOp struct{}

func (declineCallbackOp) exec(ctx context.Context, r *run, in *instr) (int, error) {
	q, err := r.queues()
	if err != nil {
		return 0, err
	}
	next := in.exits[0].target // "next"
	opt := DeclineOptions{HangupNext: next >= 0 && r.p.code[next].typ == hangupSpec.typ}
	if err := q.DeclineCallback(ctx, r.call, opt); err != nil {
		return 0, fmt.Errorf("decline callback: %w", err)
	}
	r.reserved = false
	return 0, nil
}

func (declineCallbackOp) args() string { return "" }
