package flowvm

import "context"

var returnSpec = &spec{
	typ:   "return",
	doc:   "Ends the current flow: a sub-flow returns to its caller's next; the entry flow ends the run; an in-queue flow leaves the caller on music.",
	build: func(*compiler, *nnode) op { return returnOp{} },
}

type returnOp struct{}

func (returnOp) exec(context.Context, *run, *instr) (int, error) { return exitReturn, nil }
func (returnOp) args() string                                    { return "" }
