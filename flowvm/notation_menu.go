package flowvm

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/callflow/callflow/adapter"
)

var menuSpec = &spec{
	typ: "menu", io: true, blocks: true,
	doc: "Plays a prompt and reads one digit; each option digit is an exit option_<digit>. " +
		"A wrong digit plays invalid_prompt and asks again, as does silence, up to retries more times.",
	params: []param{
		{name: "prompt", kind: pPrompts, required: true, doc: "prompts of the menu"},
		{name: "options", kind: pOptions, required: true, doc: "digit → notation id"},
		{name: "timeout", kind: pDuration, def: 5 * time.Second, doc: "wait for the digit after the prompt"},
		{name: "retries", kind: pInt, def: 2, min: 0, max: 10, doc: "repeats after a wrong digit or silence"},
		{name: "invalid_prompt", kind: pPrompts, doc: "played after a wrong digit"},
	},
	exits: []exitSpec{
		{name: "invalid", doc: "the last try got a digit that is no option"},
		{name: "timeout", doc: "the last try got no digit"},
	},
	dynExits: "option_<digit>: that digit was pressed",
	build: func(_ *compiler, n *nnode) op {
		o := &menuOp{prompt: n.vals["prompt"].([]*tmpl), timeout: n.vals["timeout"].(time.Duration), retries: n.vals["retries"].(int)}
		o.invalid, _ = n.vals["invalid_prompt"].([]*tmpl)
		for _, opt := range n.vals["options"].([]option) {
			o.digits = append(o.digits, opt.digit)
		}
		return o
	},
}

type menuOp struct {
	prompt, invalid []*tmpl
	digits          []string // option i is exit 2+i
	timeout         time.Duration
	retries         int
}

func (o *menuOp) exec(ctx context.Context, r *run, _ *instr) (int, error) {
	ps, err := r.prompts(o.prompt)
	if err != nil {
		return 0, err
	}
	exit := 1
	for try := 0; try <= o.retries; try++ {
		d, err := r.call.Gather(ctx, adapter.GatherOptions{Prompts: ps, MinDigits: 1, MaxDigits: 1, FirstTimeout: o.timeout})
		if err != nil {
			return 0, err
		}
		r.env["digits"] = d
		if d == "" {
			exit = 1
			continue
		}
		r.detail("digits", d)
		for i, opt := range o.digits {
			if opt == d {
				return 2 + i, nil
			}
		}
		exit = 0
		if try < o.retries && len(o.invalid) > 0 {
			ips, err := r.prompts(o.invalid)
			if err != nil {
				return 0, err
			}
			if _, err := r.call.Play(ctx, ips, adapter.PlayOptions{}); err != nil {
				return 0, err
			}
		}
	}
	return exit, nil
}

func (o *menuOp) args() string {
	return fmt.Sprintf("prompt=%s options=%s timeout=%s retries=%d invalid_prompt=%s",
		tmplArgs(o.prompt), strings.Join(o.digits, ","), o.timeout, o.retries, tmplArgs(o.invalid))
}
