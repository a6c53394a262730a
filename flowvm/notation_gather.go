package flowvm

import (
	"context"
	"fmt"
	"time"

	"github.com/callflow/callflow/adapter"
)

var terminators = []string{"#", "*", ""}

var gatherSpec = &spec{
	typ: "gather", io: true, blocks: true,
	doc: "Plays prompts (with barge-in) and collects DTMF digits into `digits` (and `into`). " +
		"An attempt that collects fewer than min_digits is repeated, up to attempts in all.",
	params: []param{
		{name: "prompts", kind: pPrompts, doc: "prompts played before each attempt"},
		{name: "min_digits", kind: pInt, def: 1, min: 1, max: 64, doc: "fewest digits accepted"},
		{name: "max_digits", kind: pInt, def: 20, min: 1, max: 64, doc: "collection stops at this many digits"},
		{name: "terminator", kind: pEnum, def: "#", enum: terminators, doc: `digit that ends collection early ("" = none)`},
		{name: "first_timeout", kind: pDuration, def: 5 * time.Second, doc: "wait for the first digit"},
		{name: "inter_digit_timeout", kind: pDuration, def: 3 * time.Second, doc: "wait between digits"},
		{name: "attempts", kind: pInt, def: 1, min: 1, max: 10, doc: "tries in all"},
		{name: "into", kind: pVar, doc: "string variable that also receives the digits"},
	},
	exits: []exitSpec{
		{name: "next", doc: "at least min_digits collected"},
		{name: "timeout", doc: "nothing pressed in the last attempt"},
		{name: "invalid", doc: "fewer than min_digits in the last attempt"},
	},
	check: func(l *loader, n *nnode) {
		mn, ok1 := n.vals["min_digits"].(int)
		mx, ok2 := n.vals["max_digits"].(int)
		if ok1 && ok2 && mn > mx {
			l.errs.add(n.pos, "gather %q: min_digits %d > max_digits %d", n.id, mn, mx)
		}
	},
	build: func(_ *compiler, n *nnode) op {
		o := &gatherOp{attempts: n.vals["attempts"].(int)}
		o.opt = adapter.GatherOptions{
			MinDigits: n.vals["min_digits"].(int), MaxDigits: n.vals["max_digits"].(int),
			Terminator: n.vals["terminator"].(string), FirstTimeout: n.vals["first_timeout"].(time.Duration),
			InterDigitTimeout: n.vals["inter_digit_timeout"].(time.Duration),
		}
		o.prompts, _ = n.vals["prompts"].([]*tmpl)
		o.into, _ = n.vals["into"].(string)
		return o
	},
}

type gatherOp struct {
	prompts  []*tmpl
	opt      adapter.GatherOptions
	attempts int
	into     string
}

func (o *gatherOp) exec(ctx context.Context, r *run, _ *instr) (int, error) {
	ps, err := r.prompts(o.prompts)
	if err != nil {
		return 0, err
	}
	opt := o.opt
	opt.Prompts = ps
	exit := 1
	var d string
	for a := 1; a <= o.attempts; a++ {
		d, err = r.call.Gather(ctx, opt)
		if err != nil {
			return 0, err
		}
		if len(d) >= o.opt.MinDigits {
			exit = 0
			break
		}
		if d == "" {
			exit = 1
		} else {
			exit = 2
		}
	}
	r.env["digits"] = d
	if o.into != "" {
		r.env[o.into] = d
	}
	if d != "" {
		r.detail("digits", d)
	}
	return exit, nil
}

func (o *gatherOp) args() string {
	return fmt.Sprintf("prompts=%s digits=%d..%d terminator=%q first=%s inter=%s attempts=%d into=%s",
		tmplArgs(o.prompts), o.opt.MinDigits, o.opt.MaxDigits, o.opt.Terminator, o.opt.FirstTimeout,
		o.opt.InterDigitTimeout, o.attempts, o.into)
}
