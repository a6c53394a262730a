package flowvm

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/callflow/callflow/adapter"
)

var queueSpec = &spec{
	typ: "queue", io: true, blocks: true,
	doc: "Puts the caller into a queue (holding bridge, music) and runs the in-queue flow on the same call " +
		"and variables while the caller waits. The in-queue flow ends by itself or when an agent answers.",
	params: []param{
		{name: "queue", kind: pString, required: true, doc: "queue name"},
		{name: "in_queue", kind: pFlow, doc: "in-queue flow (default: the queue's configured one)"},
		{name: "priority", kind: pInt, def: 0, min: 0, max: 1000, doc: "higher is served first"},
		{name: "max_wait", kind: pDuration, def: time.Duration(0), doc: "overrides the queue's max wait (0 = the queue's)"},
	},
	exits: []exitSpec{
		{name: "connected", required: true, doc: "an agent talked with the caller, who is still there"},
		{name: "callback", required: true, doc: "a callback was registered and the in-queue flow ended"},
		{name: "timeout", required: true, doc: "max wait passed"},
		{name: "full", doc: "the queue's max_entries was reached"},
		{name: "error", doc: "the queue engine failed"},
	},
	build: func(_ *compiler, n *nnode) op {
		o := &queueOp{queue: n.vals["queue"].(string), priority: n.vals["priority"].(int), maxWait: n.vals["max_wait"].(time.Duration)}
		if ref, ok := n.vals["in_queue"].(flowRef); ok {
			o.inQueue = ref.name
		}
		return o
	},
}

type queueOp struct {
	queue, inQueue string
	priority       int
	maxWait        time.Duration
}

func (o *queueOp) exec(ctx context.Context, r *run, in *instr) (int, error) {
	q, err := r.queues()
	if err != nil {
		return 0, err
	}
	if err := r.move(ctx); err != nil {
		return 0, err
	}
	flow := o.inQueue
	if flow == "" {
		info, ok := q.Info(o.queue)
		if !ok {
			return 0, fmt.Errorf("unknown queue %q", o.queue)
		}
		flow = info.InQueueFlow
	}
	if r.reserved {
		r.fault("queue with a callback reservation open")
		q.Release(ctx, r.call)
		r.reserved = false
	}
	req := EnterRequest{Queue: o.queue, Priority: o.priority, MaxWait: o.maxWait, Resume: r.p.flows[in.flow].name + "/" + in.id}
	if flow != "" {
		fi, ok := r.p.byName[flow]
		if !ok {
			r.fault(fmt.Sprintf("in-queue flow %q is not loaded: music only", flow))
		} else {
			start := r.p.flows[fi].start
			req.InQueue = func(qctx context.Context) error { return r.runInQueue(qctx, start) }
		}
	}
	r.queueName = o.queue
	r.queuem["name"] = o.queue
	var inQueueErr error
	r.inQueueErr = &inQueueErr
	res, err := q.Enter(ctx, r.call, req)
	r.queueName, r.reserved, r.inQueueErr = "", false, nil
	if inQueueErr != nil {
		return 0, inQueueErr
	}
	if err != nil {
		return 0, fmt.Errorf("queue %s: %w", o.queue, err)
	}
	if r.stopped {
		return exitStop, nil
	}
	r.detail("queue", o.queue)
	r.detail("outcome", res.Outcome.String())
	if res.Agent != "" {
		r.detail("agent", res.Agent)
	}
	switch res.Outcome {
	case Connected:
		return 0, nil
	case Callback:
		return 1, nil
	case Timeout:
		return 2, nil
	case Full:
		return 3, nil
	}
	return 0, fmt.Errorf("queue %s: unknown outcome %d", o.queue, res.Outcome)
}

// runInQueue runs an in-queue flow from start on the caller's run. It ends
// at the flow's end, at a hangup, or when qctx is cancelled (an agent
// answered). A run-time fault is kept for the queue notation to report.
func (r *run) runInQueue(qctx context.Context, start int) error {
	base := len(r.frames)
	err := r.loop(qctx, start, base)
	r.frames = r.frames[:base]
	var re *RunError
	switch {
	case err == nil, errors.Is(err, errStop):
		return nil
	case qctx.Err() != nil && errors.Is(context.Cause(qctx), ErrAgentConnected):
		return nil
	case errors.As(err, &re):
		if r.inQueueErr != nil {
			*r.inQueueErr = err
		}
		return err
	case errors.Is(err, adapter.ErrHangup):
		return err
	}
	return err
}

func (o *queueOp) args() string {
	return fmt.Sprintf("queue=%s in_queue=%s priority=%d max_wait=%s", o.queue, o.inQueue, o.priority, o.maxWait)
}
