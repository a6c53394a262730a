package queue

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"go.uber.org/zap"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/flowvm"
	"github.com/callflow/callflow/store"
)

// holdingBridge returns the queue's holding bridge, creating it on first
// use. Two callers racing to create it each create one; the loser destroys
// its own, so nobody waits while holding the lock.
func (e *Engine) holdingBridge(ctx context.Context, q *queueState) (adapter.Bridge, error) {
	e.mu.Lock()
	br := q.holding
	e.mu.Unlock()
	if br != nil {
		return br, nil
	}
	nb, err := e.sw.NewBridge(ctx, adapter.BridgeOptions{Kind: adapter.Holding, Name: q.cfg.Name, MusicClass: q.cfg.MusicClass})
	if err != nil {
		return nil, fmt.Errorf("queue %s: holding bridge: %w", q.cfg.Name, err)
	}
	e.mu.Lock()
	if q.holding == nil {
		q.holding = nb
		e.mu.Unlock()
		return nb, nil
	}
	br = q.holding
	e.mu.Unlock()
	if err := nb.Destroy(ctx); err != nil {
		e.log.Warn("destroy spare holding bridge", zap.String("queue", q.cfg.Name), zap.Error(err))
	}
	return br, nil
}

// Enter implements flowvm.Queues.
func (e *Engine) Enter(ctx context.Context, call adapter.Call, req flowvm.EnterRequest) (flowvm.EnterResult, error) {
	q, ok := e.queues[req.Queue]
	if !ok {
		return flowvm.EnterResult{}, fmt.Errorf("queue %q: %w", req.Queue, ErrUnknownQueue)
	}
	if _, ok := e.running(); !ok {
		return flowvm.EnterResult{}, fmt.Errorf("queue %s: %w", q.cfg.Name, ErrNotStarted)
	}
	callID := call.ID()
	number := call.Info().CallerNumber
	e.mu.Lock()
	_, kept := e.byCall[callID]
	e.mu.Unlock()
	var merged *store.Callback
	if !kept {
		// A new entry: apply the queue's policy for an open callback of
		// the same number.
		merged = e.onCallIn(ctx, q, number)
	}

	e.mu.Lock()
	now := e.clk.Now()
	en := e.byCall[callID]
	if en != nil && en.w != nil {
		e.mu.Unlock()
		return flowvm.EnterResult{}, fmt.Errorf("queue %s: call %s: %w", q.cfg.Name, callID, ErrAlreadyWaiting)
	}
	if en != nil && en.q != q {
		// A place kept in another queue is given up.
		en.q.remove(en)
		delete(e.byCall, callID)
		e.mu.Unlock()
		e.emitQ(callID, "left", "entered another queue", map[string]string{"queue": en.q.cfg.Name})
		e.mu.Lock()
		en = nil
	}
	revived := en != nil
	if en == nil {
		if q.cfg.MaxEntries > 0 && q.line.Len() >= q.cfg.MaxEntries {
			e.mu.Unlock()
			e.emitQ(callID, "full", "", map[string]string{"queue": q.cfg.Name})
			return flowvm.EnterResult{Outcome: flowvm.Full}, nil
		}
		en = &entry{q: q, priority: req.Priority, joined: now, seq: e.nextSeq(), call: call, number: number}
		if merged != nil {
			en.priority, en.joined, en.seq = merged.Priority, merged.JoinedAt, merged.Seq
		}
		q.insert(en)
		e.byCall[callID] = en
	} else if en.kind == kindReserved {
		e.log.Warn("entered a queue with a callback reservation open; the place is reused",
			zap.String("queue", q.cfg.Name), zap.String("call_id", callID))
	}
	en.kind = kindLive
	en.touch()
	waitCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	w := &waiter{cancel: cancel}
	en.w = w
	en.resume, en.adopting = req.Resume, false
	en.touch()
	e.saveLocked(en)
	pos := q.index(en) + 1
	e.mu.Unlock()
	text := "joined"
	if revived {
		text = "returned to its place"
	}
	e.emitQ(callID, "joined", text, map[string]string{"queue": q.cfg.Name, "position": strconv.Itoa(pos)})

	if err := e.enterBridge(ctx, q, en, w); err != nil {
		return e.finish(ctx, en, w, err)
	}
	maxWait := q.cfg.MaxWait
	if req.MaxWait > 0 {
		maxWait = req.MaxWait
	}
	if maxWait > 0 {
		stop := e.clk.AfterFunc(maxWait, func() { e.timeout(en, w) })
		defer stop()
	}
	e.kick()

	inQueue := req.InQueue
	for {
		var err error
		if inQueue != nil {
			err = inQueue(waitCtx)
			inQueue = nil
		} else {
			err = call.Wait(waitCtx, 0)
		}
		e.mu.Lock()
		registered, released, kind := w.registered, w.released, en.kind
		e.mu.Unlock()
		cause := context.Cause(waitCtx)
		switch {
		case registered:
			e.leave(ctx, en, w)
			if errors.Is(err, adapter.ErrHangup) || call.Cause() != adapter.CauseUnknown {
				return e.result(en, flowvm.Callback, ""), fmt.Errorf("queue %s: caller left after registering a callback: %w", q.cfg.Name, adapter.ErrHangup)
			}
			return e.result(en, flowvm.Callback, ""), nil
		case released:
			e.leave(ctx, en, w)
			return flowvm.EnterResult{}, fmt.Errorf("queue %s: %w", q.cfg.Name, ErrReleased)
		case errors.Is(cause, flowvm.ErrAgentConnected):
			return e.converse(ctx, en, w)
		case errors.Is(cause, errTimeout):
			e.leave(ctx, en, w)
			e.emitQ(callID, "timeout", "", map[string]string{"queue": q.cfg.Name})
			return e.result(en, flowvm.Timeout, ""), nil
		case err != nil || ctx.Err() != nil:
			if err == nil {
				err = ctx.Err()
			}
			return e.finish(ctx, en, w, err)
		case kind == kindReserved:
			// The in-queue flow ended with the reservation open: a fault.
			return e.finish(ctx, en, w, errors.New("in-queue flow ended with a callback reservation open"))
		}
		// The in-queue flow ended: music until an agent or the timeout.
	}
}

// enterBridge puts the caller on music in the queue's holding bridge.
func (e *Engine) enterBridge(ctx context.Context, q *queueState, en *entry, w *waiter) error {
	br, err := e.holdingBridge(ctx, q)
	if err != nil {
		return err
	}
	if err := br.Add(ctx, en.call); err != nil {
		return fmt.Errorf("queue %s: hold %s: %w", q.cfg.Name, en.call.ID(), err)
	}
	e.mu.Lock()
	w.inBridge = true
	e.mu.Unlock()
	return nil
}

// leaveBridge takes the caller off music.
func (e *Engine) leaveBridge(ctx context.Context, q *queueState, en *entry, w *waiter) error {
	e.mu.Lock()
	br, in := q.holding, w.inBridge
	w.inBridge = false
	e.mu.Unlock()
	if !in || br == nil {
		return nil
	}
	if err := br.Remove(context.WithoutCancel(ctx), en.call); err != nil && !errors.Is(err, adapter.ErrHangup) {
		return fmt.Errorf("queue %s: unhold %s: %w", q.cfg.Name, en.call.ID(), err)
	}
	return nil
}

// leave ends the caller's wait: off music, out of the line.
func (e *Engine) leave(ctx context.Context, en *entry, w *waiter) {
	if err := e.leaveBridge(ctx, en.q, en, w); err != nil {
		e.log.Warn("leave holding bridge", zap.String("queue", en.q.cfg.Name), zap.String("call_id", en.call.ID()), zap.Error(err))
	}
	e.mu.Lock()
	w.over = true
	en.touch()
	e.withdrawOfferLocked(en)
	en.q.remove(en)
	if e.byCall[en.call.ID()] == en {
		delete(e.byCall, en.call.ID())
	}
	en.w = nil
	en.touch()
	e.mu.Unlock()
	e.dropLine(en.call.ID())
	e.kick()
}

// finish ends a wait that failed: a caller who hung up while live or
// reserved is an abandon; other errors are returned with context.
func (e *Engine) finish(ctx context.Context, en *entry, w *waiter, err error) (flowvm.EnterResult, error) {
	q := en.q
	e.mu.Lock()
	pos, kind := q.index(en)+1, en.kind
	e.mu.Unlock()
	e.leave(ctx, en, w)
	hungUp := errors.Is(err, adapter.ErrHangup) || en.call.Cause() != adapter.CauseUnknown
	if pos > 0 && (hungUp || kind == kindReserved) {
		why := "hung up while waiting"
		if kind == kindReserved {
			why = "hung up while reserved"
			if !hungUp {
				why = "reservation left open"
			}
		}
		e.recordAbandon(q, en.call.ID(), why, pos)
	} else {
		e.emitQ(en.call.ID(), "left", "", map[string]string{"queue": q.cfg.Name})
	}
	if hungUp && !errors.Is(err, adapter.ErrHangup) {
		err = fmt.Errorf("%w (%v)", adapter.ErrHangup, err)
	}
	return e.result(en, 0, ""), fmt.Errorf("queue %s: %w", q.cfg.Name, err)
}

func (e *Engine) result(en *entry, o flowvm.Outcome, agent string) flowvm.EnterResult {
	return flowvm.EnterResult{Outcome: o, Agent: agent, Waited: e.clk.Now().Sub(en.joined)}
}

// timeout fires at the caller's max wait.
func (e *Engine) timeout(en *entry, w *waiter) {
	e.mu.Lock()
	if en.w != w || w.over {
		e.mu.Unlock()
		return
	}
	if en.kind == kindReserved {
		// The caller is in the callback dialog: time out if they decline.
		w.timedOut = true
		e.mu.Unlock()
		return
	}
	w.over = true
	en.touch()
	e.mu.Unlock()
	w.cancel(errTimeout)
}

// converse bridges the caller with the agent that answered and waits for
// either to hang up.
func (e *Engine) converse(ctx context.Context, en *entry, w *waiter) (flowvm.EnterResult, error) {
	q := en.q
	callID := en.call.ID()
	e.mu.Lock()
	leg, ag := w.agentLeg, w.agent
	e.mu.Unlock()
	res := e.result(en, flowvm.Connected, ag.endpoint)
	e.leave(ctx, en, w)
	// The conversation is durable until it ends: a restarted process
	// takes it back instead of closing it.
	e.saveConversation(en, ag.endpoint, leg)
	defer e.dropLine(callID)
	e.emitQ(callID, "connected", ag.endpoint, map[string]string{"queue": q.cfg.Name})
	agentLeft, talked, err := e.talk(ctx, q, leg, en.call)
	e.mu.Lock()
	q.recordHandle(talked)
	e.mu.Unlock()
	hctx := context.WithoutCancel(ctx)
	if err != nil {
		// The bridge failed or ctx ended: end the agent leg, keep the caller.
		if herr := leg.Hangup(hctx, adapter.CauseNormal); herr != nil {
			e.log.Warn("hang up agent", zap.String("queue", q.cfg.Name), zap.Error(herr))
		}
		e.freeAgent(ag, q.cfg.WrapUp)
		if en.call.Cause() != adapter.CauseUnknown && !errors.Is(err, adapter.ErrHangup) {
			err = fmt.Errorf("%w (%v)", adapter.ErrHangup, err)
		}
		return res, fmt.Errorf("queue %s: conversation with %s: %w", q.cfg.Name, ag.endpoint, err)
	}
	e.emitQ(callID, "conversation_end", map[bool]string{true: "agent hung up", false: "caller hung up"}[agentLeft],
		map[string]string{"queue": q.cfg.Name, "talk": talked.String()})
	e.freeAgent(ag, q.cfg.WrapUp)
	if !agentLeft {
		return res, fmt.Errorf("queue %s: caller hung up during the conversation: %w", q.cfg.Name, adapter.ErrHangup)
	}
	return res, nil
}

// onCallIn applies the queue's OnCallIn policy to an open callback of the
// caller's number; for merge it returns the callback whose place the
// caller takes.
func (e *Engine) onCallIn(ctx context.Context, q *queueState, number string) *store.Callback {
	pol := q.cfg.Callback.OnCallIn
	if pol != CallInCancel && pol != CallInMerge || number == "" {
		return nil
	}
	res, err := q.cfg.Callback.NumberPolicy.Check(number)
	if err != nil {
		return nil
	}
	e.mu.Lock()
	var found *entry
	for _, en := range q.line.all() {
		if en.kind == kindCallback && !en.busy && en.cb.Number == res.E164 &&
			(en.cb.State == store.Registered || en.cb.State == store.RetryWait) {
			found = en
			break
		}
	}
	if found == nil {
		e.mu.Unlock()
		return nil
	}
	found.busy = true
	found.touch()
	cb := found.cb
	e.mu.Unlock()
	upd, err := e.transition(ctx, cb.ID, cb.State, store.Cancelled, store.Change{At: e.clk.Now()})
	e.mu.Lock()
	found.busy = false
	found.touch()
	if err != nil {
		e.mu.Unlock()
		e.log.Warn("cancel callback on call-in", zap.String("queue", q.cfg.Name), zap.Int64("callback_id", cb.ID), zap.Error(err))
		return nil
	}
	found.cb = upd
	found.touch()
	q.remove(found)
	e.mu.Unlock()
	e.emitCB(cb, "cancelled", "caller called in ("+string(pol)+")", nil)
	if pol == CallInMerge {
		return &cb
	}
	return nil
}
