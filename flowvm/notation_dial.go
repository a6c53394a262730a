package flowvm

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/callflow/callflow/adapter"
)

var dialSpec = &spec{
	typ: "dial", io: true, blocks: true,
	doc: "Calls an endpoint and connects the caller to it in a mixing bridge until one side hangs up. " +
		"After the far end hangs up the flow continues at answered.",
	params: []param{
		{name: "endpoint", kind: pTemplate, required: true, doc: "switch endpoint, e.g. PJSIP/agent1 or PJSIP/${number}@trunk"},
		{name: "caller_id", kind: pTemplate, doc: "caller ID presented (default: the caller's number)"},
		{name: "timeout", kind: pDuration, def: 30 * time.Second, doc: "how long it may ring"},
	},
	exits: []exitSpec{
		{name: "answered", required: true, doc: "the far end answered, talked and hung up"},
		{name: "busy"}, {name: "no_answer"}, {name: "failed"},
	},
	build: func(_ *compiler, n *nnode) op {
		o := &dialOp{endpoint: n.vals["endpoint"].(*tmpl), timeout: n.vals["timeout"].(time.Duration)}
		o.callerID, _ = n.vals["caller_id"].(*tmpl)
		return o
	},
}

type dialOp struct {
	endpoint, callerID *tmpl
	timeout            time.Duration
}

func (o *dialOp) exec(ctx context.Context, r *run, _ *instr) (int, error) {
	if r.rt.Switch == nil {
		return 0, errors.New("dial: no switch configured")
	}
	if r.reserved {
		r.fault("dial with a callback reservation open")
		if r.rt.Queues != nil {
			r.rt.Queues.Release(ctx, r.call)
		}
		r.reserved = false
	}
	if err := r.move(ctx); err != nil {
		return 0, err
	}
	ep, err := r.render(o.endpoint)
	if err != nil {
		return 0, err
	}
	cid := r.call.Info().CallerNumber
	if o.callerID != nil {
		if cid, err = r.render(o.callerID); err != nil {
			return 0, err
		}
	}
	r.detail("endpoint", ep)
	far, err := r.rt.Switch.Originate(ctx, adapter.OriginateRequest{Endpoint: ep, CallerID: cid, Timeout: o.timeout, Tag: "dial"})
	switch {
	case errors.Is(err, adapter.ErrBusy):
		return 1, nil
	case errors.Is(err, adapter.ErrNoAnswer):
		return 2, nil
	case err != nil && ctx.Err() != nil:
		return 0, err
	case err != nil:
		r.detail("reason", err.Error())
		return 3, nil
	}
	clean := context.WithoutCancel(ctx)
	br, err := r.rt.Switch.NewBridge(ctx, adapter.BridgeOptions{Kind: adapter.Mixing, Name: "dial-" + r.callID})
	if err != nil {
		_ = far.Hangup(clean, adapter.CauseNormal)
		return 0, fmt.Errorf("dial %s: bridge: %w", ep, err)
	}
	defer func() { _ = br.Destroy(clean) }()
	for _, c := range []adapter.Call{r.call, far} {
		if err := br.Add(ctx, c); err != nil {
			_ = far.Hangup(clean, adapter.CauseNormal)
			return 0, fmt.Errorf("dial %s: bridge: %w", ep, err)
		}
	}
	// Wait until one side hangs up: the far end is watched by an activity
	// that ends when it hangs up or when wctx is cancelled (caller gone or
	// this notation done); the caller is watched here.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := r.rt.Clock.Now()
	r.rt.Clock.Go(func() {
		_ = far.Wait(wctx, 0)
		cancel()
	})
	werr := r.call.Wait(wctx, 0)
	r.detail("talk", strconv.Itoa(int(r.rt.Clock.Now().Sub(start).Seconds()))+"s")
	if errors.Is(werr, adapter.ErrHangup) {
		_ = far.Hangup(clean, adapter.CauseNormal)
		return 0, werr
	}
	if ctx.Err() != nil {
		_ = far.Hangup(clean, adapter.CauseNormal)
		return 0, ctx.Err()
	}
	_ = br.Remove(clean, r.call)
	return 0, nil
}

func (o *dialOp) args() string {
	cid := ""
	if o.callerID != nil {
		cid = o.callerID.src
	}
	return fmt.Sprintf("endpoint=%q caller_id=%q timeout=%s", o.endpoint.src, cid, o.timeout)
}
