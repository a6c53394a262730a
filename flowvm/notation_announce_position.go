package flowvm

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/callflow/callflow/adapter"
)

var announcePositionSpec = &spec{
	typ: "announce_position", io: true, blocks: true,
	doc: "Speaks the caller's position in the queue line: sound:queue-youarenext when first, else " +
		"sound:queue-thereare, number:N, sound:queue-callswaiting. Says nothing without a queue entry.",
	params: []param{{name: "prompts", kind: pPrompts, doc: "prompts instead of the default (may use ${queue.position})"}},
	exits:  []exitSpec{{name: "next"}},
	build: func(_ *compiler, n *nnode) op {
		o := &announceOp{wait: false}
		o.prompts, _ = n.vals["prompts"].([]*tmpl)
		return o
	},
}

type announceOp struct {
	wait    bool // announce_wait, else announce_position
	prompts []*tmpl
}

func (o *announceOp) exec(ctx context.Context, r *run, _ *instr) (int, error) {
	q, err := r.queues()
	if err != nil {
		return 0, err
	}
	st, ok := q.Status(r.call)
	if !ok || (o.wait && st.EWT <= 0) {
		r.detail("skipped", "no estimate")
		return 0, nil
	}
	var ps []adapter.Prompt
	switch {
	case len(o.prompts) > 0:
		r.queuem["name"], r.queuem["position"], r.queuem["ewt"] = st.Queue, st.Position, int(st.EWT.Seconds())
		if ps, err = r.prompts(o.prompts); err != nil {
			return 0, err
		}
	case o.wait:
		min := int((st.EWT + time.Minute - 1) / time.Minute)
		ps = []adapter.Prompt{"sound:queue-holdtime", adapter.Prompt("number:" + strconv.Itoa(min)), "sound:queue-minutes"}
		r.detail("minutes", strconv.Itoa(min))
	case st.Position <= 1:
		ps = []adapter.Prompt{"sound:queue-youarenext"}
		r.detail("position", "1")
	default:
		ps = []adapter.Prompt{"sound:queue-thereare", adapter.Prompt("number:" + strconv.Itoa(st.Position)), "sound:queue-callswaiting"}
		r.detail("position", strconv.Itoa(st.Position))
	}
	_, err = r.call.Play(ctx, ps, adapter.PlayOptions{})
	return 0, err
}

func (o *announceOp) args() string {
	if len(o.prompts) == 0 {
		return ""
	}
	return fmt.Sprintf("prompts=%s", tmplArgs(o.prompts))
}
