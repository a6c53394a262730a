package flowvm

import "context"

var answerSpec = &spec{
	typ: "answer", io: true,
	doc:   "Answers the call (a no-op when it is answered already).",
	exits: []exitSpec{{name: "next", doc: "the call is answered"}},
	build: func(*compiler, *nnode) op { return answerOp{} },
}

type answerOp struct{}

func (answerOp) exec(ctx context.Context, r *run, _ *instr) (int, error) {
	return 0, r.call.Answer(ctx)
}

func (answerOp) args() string { return "" }
