package queue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/flowvm"
	"github.com/callflow/callflow/phone"
	"github.com/callflow/callflow/store"
	"github.com/callflow/callflow/trace"
)

// Admin errors.
var (
	// ErrCallbackBusy: the callback is being dialled or talked (or another
	// change of it is being committed); it cannot be cancelled now.
	ErrCallbackBusy = errors.New("callback is being dialled or is connected")
	// ErrCallbackClosed: the callback has already ended (completed, failed,
	// cancelled or expired).
	ErrCallbackClosed = errors.New("callback has already ended")
)

// CreateRequest asks for a callback created outside a call (the HTTP API).
type CreateRequest struct {
	Queue string
	// Number as given; the queue's number policy validates it and
	// normalises it to E.164.
	Number string
	// ANI presented to the customer; "" = the queue's default ANI.
	ANI string
	// Media played to the agent before the customer is dialled.
	Media []adapter.Prompt
	// NotBefore / NotAfter bound when the callback may be dialled (zero = no bound).
	NotBefore, NotAfter time.Time
	// Priority in the line: higher first.
	Priority int
}

// CreateResult reports CreateCallback. Outcome is flowvm.Registered (a new
// callback), flowvm.Duplicate (Callback is the open one for that number and
// queue) or flowvm.Invalid (Rejection says why; nothing was written).
type CreateResult struct {
	Outcome   flowvm.RegisterOutcome
	Callback  store.Callback
	Rejection *phone.Rejection
}

// QueueNames lists the configured queues in config order.
func (e *Engine) QueueNames() []string {
	names := make([]string, len(e.order))
	for i, q := range e.order {
		names[i] = q.cfg.Name
	}
	return names
}

// CreateCallback registers a callback as the flow's register_callback
// would, without a caller: the queue's number policy, its dedupe, a commit
// to the store before it returns, then a place in the line with the sort
// key (priority, now). It is dispatched like any other callback, and its
// number is checked against the policy again right before it is dialled.
// The engine must be running (ErrNotStarted otherwise), so that Start's
// recovery and this insertion never both place the same callback.
func (e *Engine) CreateCallback(ctx context.Context, req CreateRequest) (CreateResult, error) {
	q, ok := e.queues[req.Queue]
	if !ok {
		return CreateResult{}, fmt.Errorf("queue %q: create callback: %w", req.Queue, ErrUnknownQueue)
	}
	if _, ok := e.running(); !ok {
		return CreateResult{}, fmt.Errorf("queue %s: create callback: %w", q.cfg.Name, ErrNotStarted)
	}
	if !req.NotAfter.IsZero() && !req.NotBefore.IsZero() && !req.NotAfter.After(req.NotBefore) {
		return CreateResult{}, fmt.Errorf("queue %s: create callback: not_after %s is not after not_before %s",
			q.cfg.Name, req.NotAfter.UTC().Format(time.RFC3339), req.NotBefore.UTC().Format(time.RFC3339))
	}
	pol := q.cfg.Callback
	res, err := pol.NumberPolicy.Check(req.Number)
	if err != nil {
		var rej *phone.Rejection
		if errors.As(err, &rej) {
			e.emit(trace.Callback, "", "invalid", string(rej.Reason), map[string]string{"queue": q.cfg.Name, "origin": "api"})
			return CreateResult{Outcome: flowvm.Invalid, Rejection: rej}, nil
		}
		return CreateResult{}, fmt.Errorf("queue %s: create callback: %w", q.cfg.Name, err)
	}
	ani := req.ANI
	if ani == "" {
		ani = pol.ANI
	}
	media := make([]string, len(req.Media))
	for i, m := range req.Media {
		media[i] = string(m)
	}
	e.mu.Lock()
	seq := e.nextSeq()
	e.mu.Unlock()
	now := e.clk.Now()
	cb, out, err := e.st.Register(ctx, store.Callback{
		Queue: q.cfg.Name, Number: res.E164, ANI: ani, Media: media, Priority: req.Priority,
		JoinedAt: now, Seq: seq, NotBefore: req.NotBefore, NotAfter: req.NotAfter, CreatedAt: now,
		Owner: e.owner,
	}, pol.Dedupe)
	if err != nil {
		return CreateResult{}, fmt.Errorf("queue %s: create callback: %w", q.cfg.Name, err)
	}
	if out == store.Duplicate {
		e.emitCB(cb, "duplicate", "api", map[string]string{"id": strconv.FormatInt(cb.ID, 10)})
		return CreateResult{Outcome: flowvm.Duplicate, Callback: cb}, nil
	}
	e.mu.Lock()
	en := &entry{q: q, kind: kindCallback, priority: cb.Priority, joined: cb.JoinedAt, seq: cb.Seq, cb: cb}
	q.insert(en)
	pos := q.index(en)
	e.mu.Unlock()
	e.emitCB(cb, "registered", "api", map[string]string{
		"id": strconv.FormatInt(cb.ID, 10), "number": cb.Number, "ani": cb.ANI, "position": strconv.Itoa(pos + 1), "origin": "api",
	})
	e.kick()
	return CreateResult{Outcome: flowvm.Registered, Callback: cb}, nil
}

// CancelCallback cancels an open callback and commits it as cancelled.
// A registered or retry_wait callback is cancelled at once and leaves its
// line. A callback being dialled or connected is not interrupted: hanging
// up a customer who may already be talking to an agent is worse than
// letting the attempt finish, so the call fails with ErrCallbackBusy and the
// client may try again once the attempt is over. A finished callback gives
// ErrCallbackClosed, an unknown id store.ErrNotFound.
func (e *Engine) CancelCallback(ctx context.Context, id int64) (store.Callback, error) {
	e.mu.Lock()
	var found *entry
	for _, q := range e.order {
		for _, en := range q.line.all() {
			if en.kind == kindCallback && en.cb.ID == id {
				found = en
				break
			}
		}
	}
	if found != nil {
		if found.busy || (found.cb.State != store.Registered && found.cb.State != store.RetryWait) {
			state := found.cb.State
			e.mu.Unlock()
			return store.Callback{}, fmt.Errorf("queue: cancel callback %d (%s): %w", id, state, ErrCallbackBusy)
		}
		// Own the entry while the change is committed: the dispatcher skips it.
		found.busy = true
		found.touch()
	}
	e.mu.Unlock()

	if found == nil {
		// Not in any line: a finished callback, or an open one of a queue this
		// engine does not serve (or not yet recovered).
		cb, err := e.st.Get(ctx, id)
		if err != nil {
			return store.Callback{}, fmt.Errorf("queue: cancel callback %d: %w", id, err)
		}
		switch cb.State {
		case store.Registered, store.RetryWait:
		case store.Dialing, store.Connected:
			return store.Callback{}, fmt.Errorf("queue: cancel callback %d (%s): %w", id, cb.State, ErrCallbackBusy)
		default:
			return store.Callback{}, fmt.Errorf("queue: cancel callback %d (%s): %w", id, cb.State, ErrCallbackClosed)
		}
		upd, err := e.st.Transition(ctx, id, cb.State, store.Cancelled, store.Change{At: e.clk.Now()})
		if err != nil {
			return store.Callback{}, e.cancelErr(ctx, id, err)
		}
		e.emitCB(upd, "cancelled", "api", nil)
		return upd, nil
	}

	e.mu.Lock()
	from := found.cb.State
	e.mu.Unlock()
	upd, err := e.st.Transition(ctx, id, from, store.Cancelled, store.Change{At: e.clk.Now()})
	e.mu.Lock()
	found.busy = false
	found.touch()
	if err == nil {
		found.cb = upd
		found.touch()
		found.q.remove(found)
	}
	e.mu.Unlock()
	if err != nil {
		e.kick()
		return store.Callback{}, e.cancelErr(ctx, id, err)
	}
	e.emitCB(upd, "cancelled", "api", nil)
	e.kick()
	return upd, nil
}

// cancelErr classifies a failed cancel transition.
func (e *Engine) cancelErr(ctx context.Context, id int64, err error) error {
	if errors.Is(err, store.ErrConflict) {
		if cb, gerr := e.st.Get(ctx, id); gerr == nil && !cb.State.Open() {
			return fmt.Errorf("queue: cancel callback %d (%s): %w", id, cb.State, ErrCallbackClosed)
		}
		return fmt.Errorf("queue: cancel callback %d: %w", id, ErrCallbackBusy)
	}
	return fmt.Errorf("queue: cancel callback %d: %w", id, err)
}
