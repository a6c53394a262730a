package flowvm

import (
	"context"
	"fmt"
	"reflect"
	"time"
)

var registerCallbackSpec = &spec{
	typ: "register_callback", io: true,
	doc: "Turns the reservation into a durable callback keeping its place; committed before registered is taken. " +
		"Sets callback_id. duplicate, invalid and error leave the reservation open.",
	params: []param{
		{name: "number", kind: pExpr, want: wantString, doc: "number to call back (default caller.number)"},
		{name: "queue", kind: pString, doc: "queue (default: the reservation's)"},
		{name: "ani", kind: pTemplate, doc: "caller ID shown to the customer (default: the queue's)"},
		{name: "media", kind: pPrompts, doc: "prompts played to the agent first, e.g. [sound:callback-whisper, ${recording}]"},
		{name: "not_before", kind: pExpr, want: wantOffset, doc: "earliest dial time as an offset from now (duration or seconds)"},
		{name: "not_after", kind: pExpr, want: wantOffset, doc: "latest dial time as an offset from now (duration or seconds)"},
		{name: "priority", kind: pInt, min: 0, max: 1000, doc: "overrides the entry's priority"},
	},
	exits: []exitSpec{
		{name: "registered", required: true, doc: "committed; the reservation is closed"},
		{name: "duplicate", required: true, doc: "an open callback for this number and queue exists"},
		{name: "invalid", required: true, doc: "the number fails the queue's number policy"},
		{name: "error", doc: "storage or engine failure"},
	},
	build: func(_ *compiler, n *nnode) op {
		o := &registerCallbackOp{}
		o.number, _ = n.vals["number"].(*cexpr)
		o.queue, _ = n.vals["queue"].(string)
		o.ani, _ = n.vals["ani"].(*tmpl)
		o.media, _ = n.vals["media"].([]*tmpl)
		o.notBefore, _ = n.vals["not_before"].(*cexpr)
		o.notAfter, _ = n.vals["not_after"].(*cexpr)
		if p, ok := n.vals["priority"].(int); ok {
			o.priority = &p
		}
		return o
	},
}

type registerCallbackOp struct {
	number              *cexpr
	queue               string
	ani                 *tmpl
	media               []*tmpl
	notBefore, notAfter *cexpr
	priority            *int
}

func (o *registerCallbackOp) exec(ctx context.Context, r *run, _ *instr) (int, error) {
	q, err := r.queues()
	if err != nil {
		return 0, err
	}
	req := CallbackRequest{Queue: o.queue, Priority: o.priority, Number: r.call.Info().CallerNumber}
	if o.number != nil {
		if req.Number, err = r.evalString(o.number); err != nil {
			return 0, err
		}
	}
	if o.ani != nil {
		if req.ANI, err = r.render(o.ani); err != nil {
			return 0, err
		}
	}
	if req.Media, err = r.prompts(o.media); err != nil {
		return 0, err
	}
	if req.NotBefore, err = r.offset(o.notBefore); err != nil {
		return 0, err
	}
	if req.NotAfter, err = r.offset(o.notAfter); err != nil {
		return 0, err
	}
	res, err := q.RegisterCallback(ctx, r.call, req)
	if err != nil {
		return 0, fmt.Errorf("register callback: %w", err)
	}
	r.detail("outcome", res.Outcome.String())
	if res.ID != "" {
		r.env["callback_id"] = res.ID
		r.detail("callback", res.ID)
	}
	switch res.Outcome {
	case Registered:
		r.reserved = false
		return 0, nil
	case Duplicate:
		return 1, nil
	case Invalid:
		if res.Reason != "" {
			r.detail("reason", res.Reason)
		}
		return 2, nil
	}
	return 0, fmt.Errorf("register callback: unknown outcome %d", res.Outcome)
}

// offset evaluates a time offset expression (duration or int seconds) to
// the clock's now plus the offset; zero time for a nil expression.
func (r *run) offset(e *cexpr) (time.Time, error) {
	if e == nil {
		return time.Time{}, nil
	}
	v, err := r.eval(e)
	if err != nil {
		return time.Time{}, err
	}
	switch d := v.(type) {
	case time.Duration:
		return r.rt.Clock.Now().Add(d), nil
	case int:
		return r.rt.Clock.Now().Add(time.Duration(d) * time.Second), nil
	}
	return time.Time{}, fmt.Errorf("expression %q is %s, want a duration or int seconds", e.src, reflect.TypeOf(v))
}

func (o *registerCallbackOp) args() string {
	num := "caller.number"
	if o.number != nil {
		num = o.number.src
	}
	s := fmt.Sprintf("number=%q queue=%s media=%s", num, o.queue, tmplArgs(o.media))
	if o.ani != nil {
		s += fmt.Sprintf(" ani=%q", o.ani.src)
	}
	if o.notBefore != nil {
		s += fmt.Sprintf(" not_before=%q", o.notBefore.src)
	}
	if o.notAfter != nil {
		s += fmt.Sprintf(" not_after=%q", o.notAfter.src)
	}
	if o.priority != nil {
		s += fmt.Sprintf(" priority=%d", *o.priority)
	}
	return s
}
