package queue

import (
	"context"
	"errors"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/flowvm"
)

// kick matches free agents with eligible entries and starts the work that
// follows, then arms one timer for the next instant something becomes due.
// It never polls: every state change that can free an agent or make an
// entry eligible calls kick.
func (e *Engine) kick() {
	e.mu.Lock()
	if e.ctx == nil || e.ctx.Err() != nil || e.dispatchHold {
		e.mu.Unlock()
		return
	}
	now := e.clk.Now()
	var work, announce []func()
	var next time.Time
	later := func(t time.Time) {
		if t.After(now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, q := range e.order {
		w, a := e.planLocked(q, now, later)
		work, announce = append(work, w...), append(announce, a...)
	}
	if !next.IsZero() && (e.wakeOff == nil || next.Before(e.wakeAt)) {
		if e.wakeOff != nil {
			e.wakeOff()
		}
		at := next
		e.wakeAt = at
		e.wakeOff = e.clk.AfterFunc(at.Sub(now), func() {
			e.mu.Lock()
			if e.wakeAt.Equal(at) {
				e.wakeOff, e.wakeAt = nil, time.Time{}
			}
			e.mu.Unlock()
			e.kick()
		})
	}
	// Assignments are traced here, in line order, before their work runs
	// concurrently; announceMu, taken before mu is released, keeps the
	// announcements of two kicks in the order they were planned.
	e.announceMu.Lock()
	e.mu.Unlock()
	for _, f := range announce {
		f()
	}
	e.announceMu.Unlock()
	if e.arb != nil {
		select {
		case e.headsKick <- struct{}{}:
		default:
		}
	}
	for _, f := range work {
		e.clk.Go(f)
	}
}

// planLocked handles one queue: expiries, retries becoming due, and agent
// assignment in strict line order. announce traces the assignments in that
// order: agent_offered for a live caller, agent_assigned for a callback
// (whose dialing_agent follows once its state is committed).
func (e *Engine) planLocked(q *queueState, now time.Time, later func(time.Time)) (work, announce []func()) {
	w := q.cfg.Callback.Window
	// Only the callbacks whose deadline or retry time has come are visited;
	// the line's summaries give the next instant for the rest.
	for _, en := range q.line.overdue(now) {
		if cb := en.cb; !cb.NotAfter.IsZero() && !now.Before(cb.NotAfter) {
			en.busy = true
			en.touch()
			work = append(work, func() { e.expire(en) })
		} else {
			en.busy = true
			en.touch()
			work = append(work, func() { e.promote(en) })
		}
	}
	waiting := false
	for {
		en := q.headEligible(now)
		if en == nil {
			break
		}
		waiting = true
		ag := q.pickAgent(now)
		if ag == nil {
			break
		}
		ag.state = agentRinging
		en.busy = true
		en.touch()
		var ann, run func()
		if en.kind == kindCallback {
			cb := en.cb
			ann = func() { e.emitCB(cb, "agent_assigned", ag.endpoint, map[string]string{"endpoint": ag.endpoint}) }
			run = func() { e.runCallback(en, ag) }
		} else {
			callID := en.call.ID()
			ann = func() { e.emitQ(callID, "agent_offered", ag.endpoint, map[string]string{"queue": q.cfg.Name}) }
			run = func() { e.offerLive(en, ag) }
		}
		if e.arb == nil {
			announce = append(announce, ann)
			work = append(work, run)
			continue
		}
		// Across switches the offer is announced once the agent's claim
		// was granted: a refused claim offers nothing. Until the claim is
		// decided the entry stays this switch's published head.
		e.claiming[en] = true
		work = append(work, func() {
			if e.claimAgent(en, ag) {
				ann()
				run()
			}
		})
	}
	if waiting {
		for _, a := range q.agents {
			if a.state == agentFree {
				later(a.skipUntil)
			}
		}
	}
	// Wake for the next deadline or retry, and for the next callback to come
	// due. A callback already due that no agent took waits for an agent to
	// be freed (which plans again) or, out of hours, for the window to open.
	if t := q.line.nextWake(); t != never {
		later(time.Unix(0, t))
	}
	if t := q.line.nextDue(); t != never && t > now.UnixNano() {
		later(time.Unix(0, t))
	} else if t != never && !w.Open(now) {
		if next, ok := w.Next(now); ok {
			later(next)
		}
	}
	return work, announce
}

// headEligible is the first entry a free agent may take: nil when none is,
// or when a reconciling entry comes first (entries behind it wait).
func (q *queueState) headEligible(now time.Time) *entry {
	en := q.line.first(now, q.cfg.Callback.Window.Open(now))
	if en != nil && (en.reconciling || en.adopting) {
		en = nil
	}
	if lineCheck != nil {
		lineCheck(q, now, en)
	}
	return en
}

// lineCheck, set by this package's tests, checks every dispatch decision
// against a walk of the whole line.
var lineCheck func(q *queueState, now time.Time, got *entry)

// pickAgent chooses a free agent by the queue's strategy.
func (q *queueState) pickAgent(now time.Time) *agent {
	ready := func(a *agent) bool { return a.state == agentFree && !a.skipUntil.After(now) }
	switch q.cfg.Strategy {
	case RoundRobin:
		n := len(q.agents)
		for k := 1; k <= n; k++ {
			i := (q.rr + k) % n
			if ready(q.agents[i]) {
				q.rr = i
				return q.agents[i]
			}
		}
	case LongestIdle:
		var best *agent
		for _, a := range q.agents {
			if ready(a) && (best == nil || a.idleSince.Before(best.idleSince)) {
				best = a
			}
		}
		return best
	default:
		for _, a := range q.agents {
			if ready(a) {
				return a
			}
		}
	}
	return nil
}

// freeAgent makes an agent available again (after wrapUp when positive).
func (e *Engine) freeAgent(a *agent, wrapUp time.Duration) {
	if wrapUp <= 0 {
		e.releaseClaim(a)
		e.mu.Lock()
		a.state, a.idleSince = agentFree, e.clk.Now()
		e.mu.Unlock()
		e.kick()
		return
	}
	e.mu.Lock()
	a.state = agentWrapUp
	e.mu.Unlock()
	e.clk.AfterFunc(wrapUp, func() { e.freeAgent(a, 0) })
}

// skipAgent frees an agent that did not answer, was busy or failed, and
// skips it for the queue's AgentRetry.
func (e *Engine) skipAgent(q *queueState, a *agent) {
	e.releaseClaim(a)
	e.mu.Lock()
	now := e.clk.Now()
	a.state, a.idleSince = agentFree, now
	a.skipUntil = now.Add(q.cfg.AgentRetry)
	e.mu.Unlock()
	e.kick()
}

// outcome names an originate failure as written in RetryOn.
func outcome(err error) string {
	switch {
	case errors.Is(err, adapter.ErrBusy):
		return "busy"
	case errors.Is(err, adapter.ErrNoAnswer):
		return "no_answer"
	default:
		return "failed"
	}
}

// waitingLocked tells whether en is a live caller still waiting in its
// line for an agent. The caller holds e.mu.
func (en *entry) waitingLocked() bool {
	w := en.w
	return en.kind == kindLive && w != nil && !w.over && en.q.index(en) >= 0
}

// errOfferWithdrawn is the cause that ends an agent's ringing when the
// caller stops waiting for it (withdrawOfferLocked).
var errOfferWithdrawn = errors.New("the caller no longer waits for an agent")

// withdrawOfferLocked stops the agent's phone ringing for en, if it rings:
// the caller reserved a callback, hung up or left the queue, and the agent
// must not answer a call nobody is on. The caller holds e.mu.
func (e *Engine) withdrawOfferLocked(en *entry) {
	if en.withdraw != nil {
		en.withdraw(errOfferWithdrawn)
		en.withdraw = nil
	}
}

// offerLive rings an agent for a live caller and hands the answered leg to
// the caller's Enter. If the caller stops waiting while the agent's phone
// rings, the ringing is cancelled and the agent is free again at once.
func (e *Engine) offerLive(en *entry, ag *agent) {
	q := en.q
	ctx, ok := e.running()
	if !ok {
		return
	}
	callID := en.call.ID()
	withdrawn := func() {
		e.emitQ(callID, "agent_withdrawn", ag.endpoint, map[string]string{"queue": q.cfg.Name})
		e.freeAgent(ag, 0)
	}
	octx, withdraw := context.WithCancelCause(ctx)
	defer withdraw(nil)
	e.mu.Lock()
	if !en.waitingLocked() {
		// The caller stopped waiting between the offer's announcement and
		// now: the agent's phone is not rung at all.
		en.busy = false
		en.touch()
		e.mu.Unlock()
		withdrawn()
		return
	}
	en.withdraw = withdraw
	e.mu.Unlock()
	leg, err := e.sw.Originate(octx, adapter.OriginateRequest{
		Endpoint: ag.endpoint, CallerID: presented(en.number), Timeout: q.cfg.AgentTimeout, Tag: "agent",
	})
	e.mu.Lock()
	en.withdraw = nil
	en.busy = false
	en.touch()
	switch {
	case err != nil:
		e.mu.Unlock()
		if errors.Is(context.Cause(octx), errOfferWithdrawn) {
			withdrawn()
			return
		}
		e.emitQ(callID, "agent_no_answer", ag.endpoint, map[string]string{"queue": q.cfg.Name, "outcome": outcome(err)})
		e.skipAgent(q, ag)
		return
	case en.waitingLocked():
		w := en.w
		w.over, w.agentLeg, w.agent = true, leg, ag
		en.touch()
		ag.state = agentBusy
		q.remove(en)
		e.mu.Unlock()
		e.emitQ(callID, "agent_answered", ag.endpoint, map[string]string{"queue": q.cfg.Name})
		w.cancel(flowvm.ErrAgentConnected)
		return
	}
	e.mu.Unlock()
	// The caller left, reserved a callback or timed out while the agent rang.
	e.log.Debug("agent answered for a caller no longer waiting", zap.String("queue", q.cfg.Name), zap.String("call_id", callID))
	if err := leg.Hangup(context.WithoutCancel(ctx), adapter.CauseNormal); err != nil {
		e.log.Warn("hang up agent", zap.String("queue", q.cfg.Name), zap.String("agent", ag.endpoint), zap.Error(err))
	}
	e.freeAgent(ag, 0)
}

// talk bridges two answered legs and waits until one hangs up, then hangs
// up the other. It reports which side hung up first and the talk time.
func (e *Engine) talk(ctx context.Context, q *queueState, a, b adapter.Call) (aLeft bool, talked time.Duration, err error) {
	br, err := e.sw.NewBridge(ctx, adapter.BridgeOptions{Kind: adapter.Mixing, Name: q.cfg.Name})
	if err != nil {
		return false, 0, err
	}
	defer func() {
		if derr := br.Destroy(context.WithoutCancel(ctx)); derr != nil {
			e.log.Warn("destroy mixing bridge", zap.String("queue", q.cfg.Name), zap.Error(derr))
		}
	}()
	if err := br.Add(ctx, a); err != nil {
		return true, 0, err
	}
	if err := br.Add(ctx, b); err != nil {
		return false, 0, err
	}
	start := e.clk.Now()
	convCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// Ends when a hangs up or when talk returns (convCtx cancelled).
	e.clk.Go(func() {
		if err := a.Wait(convCtx, 0); errors.Is(err, adapter.ErrHangup) {
			cancel(errAgentHungUp)
		}
	})
	werr := b.Wait(convCtx, 0)
	talked = e.clk.Now().Sub(start)
	aLeft = errors.Is(context.Cause(convCtx), errAgentHungUp)
	bLeft := errors.Is(werr, adapter.ErrHangup)
	hctx := context.WithoutCancel(ctx)
	switch {
	case bLeft:
		aLeft = false
		if err := a.Hangup(hctx, adapter.CauseNormal); err != nil {
			e.log.Warn("hang up leg", zap.String("queue", q.cfg.Name), zap.Error(err))
		}
	case aLeft:
		if err := br.Remove(hctx, b); err != nil {
			e.log.Warn("leave mixing bridge", zap.String("queue", q.cfg.Name), zap.Error(err))
		}
	default:
		return false, talked, context.Cause(convCtx)
	}
	return aLeft, talked, nil
}

// presented is the caller's number as the agent's phone is shown it: the
// number when every driver can present it (1 to 64 ASCII letters, digits
// and "+*#._-"), else "" (the switch's default). A caller whose number
// arrived as free text ("Restricted Number") must still reach an agent: a
// driver refusing the caller ID would fail every offer.
func presented(number string) string {
	if len(number) == 0 || len(number) > 64 {
		return ""
	}
	for i := 0; i < len(number); i++ {
		c := number[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || strings.IndexByte("+*#._-", c) >= 0) {
			return ""
		}
	}
	return number
}
