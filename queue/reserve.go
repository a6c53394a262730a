package queue

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/flowvm"
	"github.com/callflow/callflow/phone"
	"github.com/callflow/callflow/store"
)

// StartCallback implements flowvm.Queues.
func (e *Engine) StartCallback(ctx context.Context, call adapter.Call, queue string) error {
	callID := call.ID()
	e.mu.Lock()
	en := e.byCall[callID]
	if en != nil && queue != "" && queue != en.q.cfg.Name {
		if en.w != nil {
			e.mu.Unlock()
			return fmt.Errorf("queue %s: start callback: call %s waits in queue %s", queue, callID, en.q.cfg.Name)
		}
		// A place kept in another queue is given up for the new reservation.
		en.q.remove(en)
		delete(e.byCall, callID)
		en = nil
	}
	if en == nil {
		q, ok := e.queues[queue]
		if !ok {
			e.mu.Unlock()
			if queue == "" {
				return fmt.Errorf("queue: start callback: call %s: %w", callID, ErrNotInQueue)
			}
			return fmt.Errorf("queue %q: start callback: %w", queue, ErrUnknownQueue)
		}
		en = &entry{q: q, kind: kindReserved, joined: e.clk.Now(), seq: e.nextSeq(), call: call, number: call.Info().CallerNumber}
		q.insert(en)
		e.byCall[callID] = en
		e.saveLocked(en)
		pos := q.index(en) + 1
		e.mu.Unlock()
		e.emitQ(callID, "reserved", "in the IVR", map[string]string{"queue": q.cfg.Name, "position": strconv.Itoa(pos)})
		return nil
	}
	q := en.q
	switch en.kind {
	case kindReserved:
		e.mu.Unlock()
		return nil
	case kindHeld:
		en.kind = kindReserved
		en.touch()
	case kindLive:
		if en.w.over {
			e.mu.Unlock()
			return fmt.Errorf("queue %s: start callback: %w", q.cfg.Name, flowvm.ErrAgentConnected)
		}
		en.kind = kindReserved
		en.touch()
		e.withdrawOfferLocked(en)
	}
	e.saveLocked(en)
	w := en.w
	pos := q.index(en) + 1
	e.mu.Unlock()
	if w != nil {
		if err := e.leaveBridge(ctx, q, en, w); err != nil {
			return fmt.Errorf("start callback: %w", err)
		}
	}
	e.emitQ(callID, "reserved", "", map[string]string{"queue": q.cfg.Name, "position": strconv.Itoa(pos)})
	return nil
}

// DeclineCallback implements flowvm.Queues. With opt.HangupNext the caller
// stays out of the holding bridge: the flow hangs it up next (a caller the
// dispatcher offers an agent before that is connected as any live caller).
func (e *Engine) DeclineCallback(ctx context.Context, call adapter.Call, opt flowvm.DeclineOptions) error {
	callID := call.ID()
	e.mu.Lock()
	en := e.byCall[callID]
	if en == nil || en.kind != kindReserved {
		e.mu.Unlock()
		return fmt.Errorf("queue: decline callback: call %s: %w", callID, flowvm.ErrNotReserved)
	}
	q, w := en.q, en.w
	if w == nil {
		en.kind = kindHeld
		en.touch()
	} else {
		en.kind = kindLive
		en.touch()
	}
	e.saveLocked(en)
	pos := q.index(en) + 1
	e.mu.Unlock()
	e.emitQ(callID, "declined", "", map[string]string{"queue": q.cfg.Name, "position": strconv.Itoa(pos)})
	if w == nil {
		return nil
	}
	if !opt.HangupNext {
		if err := e.enterBridge(ctx, q, en, w); err != nil {
			return fmt.Errorf("decline callback: %w", err)
		}
	}
	e.mu.Lock()
	timedOut := w.timedOut && !w.over
	if timedOut {
		w.over = true
		en.touch()
	}
	e.mu.Unlock()
	if timedOut {
		w.cancel(errTimeout)
		return nil
	}
	e.kick()
	return nil
}

// RegisterCallback implements flowvm.Queues.
func (e *Engine) RegisterCallback(ctx context.Context, call adapter.Call, req flowvm.CallbackRequest) (flowvm.RegisterResult, error) {
	callID := call.ID()
	e.mu.Lock()
	en := e.byCall[callID]
	if en == nil || en.kind != kindReserved {
		e.mu.Unlock()
		return flowvm.RegisterResult{}, fmt.Errorf("queue: register callback: call %s: %w", callID, flowvm.ErrNotReserved)
	}
	tq := en.q
	if req.Queue != "" {
		if tq = e.queues[req.Queue]; tq == nil {
			e.mu.Unlock()
			return flowvm.RegisterResult{}, fmt.Errorf("queue %q: register callback: %w", req.Queue, ErrUnknownQueue)
		}
	}
	priority, joined, seq := en.priority, en.joined, en.seq
	e.mu.Unlock()
	if req.Priority != nil {
		priority = *req.Priority
	}
	pol := tq.cfg.Callback
	number := req.Number
	if number == "" {
		number = call.Info().CallerNumber
	}
	res, err := pol.NumberPolicy.Check(number)
	if err != nil {
		var rej *phone.Rejection
		if errors.As(err, &rej) {
			e.emitQ(callID, "callback_invalid", string(rej.Reason), map[string]string{"queue": tq.cfg.Name})
			return flowvm.RegisterResult{Outcome: flowvm.Invalid, Reason: fmt.Sprintf("%s: %s", rej.Reason, rej.Detail)}, nil
		}
		return flowvm.RegisterResult{}, fmt.Errorf("queue %s: register callback: %w", tq.cfg.Name, err)
	}
	ani := req.ANI
	if ani == "" {
		ani = pol.ANI
	}
	media := make([]string, len(req.Media))
	for i, m := range req.Media {
		media[i] = string(m)
	}
	// One call registers a number in a queue once. A caller whose flow
	// runs again after a restart (docs/restart.md) reaches this notation a
	// second time; the first registration may have been committed just
	// before the old process died, and may even be completed by now.
	if cb, ok, err := e.st.FromCall(ctx, tq.cfg.Name, res.E164, callID); err != nil {
		return flowvm.RegisterResult{}, fmt.Errorf("queue %s: register callback: %w", tq.cfg.Name, err)
	} else if ok {
		id := strconv.FormatInt(cb.ID, 10)
		e.emitQ(callID, "callback_duplicate", id, map[string]string{"queue": tq.cfg.Name, "id": id, "state": string(cb.State)})
		return flowvm.RegisterResult{Outcome: flowvm.Duplicate, ID: id, E164: res.E164}, nil
	}
	now := e.clk.Now()
	cb, out, err := e.st.Register(ctx, store.Callback{
		Queue: tq.cfg.Name, Number: res.E164, ANI: ani, Media: media, Priority: priority,
		JoinedAt: joined, Seq: seq, NotBefore: req.NotBefore, NotAfter: req.NotAfter,
		CreatedAt: now, CallerCallID: callID, Owner: e.owner,
	}, pol.Dedupe)
	if err != nil {
		return flowvm.RegisterResult{}, fmt.Errorf("queue %s: register callback: %w", tq.cfg.Name, err)
	}
	id := strconv.FormatInt(cb.ID, 10)
	if out == store.Duplicate {
		e.emitQ(callID, "callback_duplicate", id, map[string]string{"queue": tq.cfg.Name, "id": id})
		return flowvm.RegisterResult{Outcome: flowvm.Duplicate, ID: id, E164: res.E164}, nil
	}
	e.mu.Lock()
	en.q.remove(en)
	if e.byCall[callID] == en {
		delete(e.byCall, callID)
	}
	if en.w != nil {
		en.w.registered, en.w.cbID = true, cb.ID
	}
	tq.insert(&entry{q: tq, kind: kindCallback, priority: cb.Priority, joined: cb.JoinedAt, seq: cb.Seq, cb: cb})
	e.mu.Unlock()
	// The store's registration removed the caller's row; dropping it again
	// keeps it gone should a line write queued before have raced it.
	e.dropLine(callID)
	e.emitQ(callID, "registered", id, map[string]string{"queue": tq.cfg.Name, "id": id, "number": cb.Number, "ani": cb.ANI})
	e.kick()
	return flowvm.RegisterResult{Outcome: flowvm.Registered, ID: id, E164: res.E164}, nil
}

// Status implements flowvm.Queues.
func (e *Engine) Status(call adapter.Call) (flowvm.QueueStatus, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	en := e.byCall[call.ID()]
	if en == nil {
		return flowvm.QueueStatus{}, false
	}
	q := en.q
	pos := q.index(en) + 1
	if pos == 0 {
		return flowvm.QueueStatus{}, false
	}
	return flowvm.QueueStatus{
		Queue:    q.cfg.Name,
		Position: pos,
		EWT:      EWT(pos, q.meanHandle(), len(q.agents)),
		Reserved: en.kind == kindReserved,
	}, true
}

// Release implements flowvm.Queues.
func (e *Engine) Release(ctx context.Context, call adapter.Call) bool {
	callID := call.ID()
	e.mu.Lock()
	en := e.byCall[callID]
	if en == nil || (en.kind != kindReserved && en.kind != kindHeld) {
		// Nothing held, or a live wait that Enter itself ends.
		e.mu.Unlock()
		return false
	}
	q := en.q
	pos := q.index(en) + 1
	q.remove(en)
	delete(e.byCall, callID)
	e.dropLine(callID)
	kind := en.kind
	w := en.w
	if w != nil {
		w.released, w.over = true, true
		en.touch()
	}
	e.mu.Unlock()
	if kind == kindHeld {
		e.emitQ(callID, "left", "kept place given up", map[string]string{"queue": q.cfg.Name})
		e.kick()
		return false
	}
	e.recordAbandon(q, callID, "reservation released", pos)
	e.kick()
	return true
}
