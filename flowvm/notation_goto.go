package flowvm

import "context"

var gotoSpec = &spec{
	typ:    "goto",
	doc:    "Continues at another notation of the same flow.",
	params: []param{{name: "target", kind: pNotation, required: true, doc: "notation id (exit next)"}},
	exits:  []exitSpec{{name: "next", doc: "wired by target"}},
	build:  func(*compiler, *nnode) op { return gotoOp{} },
}

type gotoOp struct{}

func (gotoOp) exec(context.Context, *run, *instr) (int, error) { return 0, nil }
func (gotoOp) args() string                                    { return "" }
