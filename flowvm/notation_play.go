package flowvm

import (
	"context"
	"fmt"

	"github.com/callflow/callflow/adapter"
)

var playSpec = &spec{
	typ: "play", io: true, blocks: true,
	doc: "Plays prompts. With barge_in a digit pressed during them stops the playback and is stored in `digits`.",
	params: []param{
		{name: "prompts", kind: pPrompts, required: true, doc: "prompt URIs (sound:, number:, digits:, recording:, silence:, tone:) as templates"},
		{name: "barge_in", kind: pBool, def: false, doc: "stop at the first digit and store it in digits"},
	},
	exits: []exitSpec{{name: "next", doc: "the prompts ended (or a digit stopped them)"}},
	build: func(_ *compiler, n *nnode) op {
		return &playOp{prompts: n.vals["prompts"].([]*tmpl), bargeIn: n.vals["barge_in"].(bool)}
	},
}

type playOp struct {
	prompts []*tmpl
	bargeIn bool
}

func (o *playOp) exec(ctx context.Context, r *run, _ *instr) (int, error) {
	ps, err := r.prompts(o.prompts)
	if err != nil {
		return 0, err
	}
	d, err := r.call.Play(ctx, ps, adapter.PlayOptions{BargeIn: o.bargeIn})
	if err != nil {
		return 0, err
	}
	if o.bargeIn {
		r.env["digits"] = d
		if d != "" {
			r.detail("digits", d)
		}
	}
	return 0, nil
}

func (o *playOp) args() string {
	return fmt.Sprintf("prompts=%s barge_in=%t", tmplArgs(o.prompts), o.bargeIn)
}
