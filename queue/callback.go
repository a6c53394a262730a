package queue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"go.uber.org/zap"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/store"
)

// HoldPrompt is played to a customer who answered a customer-first
// callback while an agent is dialled.
const HoldPrompt adapter.Prompt = "sound:pls-hold-while-try"

// cbRun is one dispatch of a callback with its reserved agent.
type cbRun struct {
	e   *Engine
	ctx context.Context
	en  *entry
	q   *queueState
	ag  *agent
	cb  store.Callback
	// n is this dispatch's attempt number in the attempt log: the next
	// customer attempt, and past every number that already logged a
	// customer leg, so a customer called again after an interruption (which
	// uses up no attempt) is called by a new, logged attempt number.
	// Dispatches that never reached the customer (agent did not answer)
	// share the number.
	n int
	// used is the attempt count the callback has when this dispatch's
	// customer attempt counts (busy, no answer, failed, connected).
	used int
	log  *zap.Logger
}

// runCallback dispatches a callback for which an agent has been reserved:
// it commits dialing before any leg is originated.
func (e *Engine) runCallback(en *entry, ag *agent) {
	ctx, ok := e.running()
	e.mu.Lock()
	cb := en.cb
	e.mu.Unlock()
	if !ok {
		return
	}
	r := &cbRun{e: e, ctx: ctx, en: en, q: en.q, ag: ag, cb: cb, n: cb.Attempts + 1, used: cb.Attempts + 1,
		log: e.log.With(zap.String("queue", en.q.cfg.Name), zap.Int64("callback_id", cb.ID))}
	atts, err := e.st.Attempts(ctx, cb.ID)
	if err != nil {
		r.log.Error("read attempt log", zap.Error(err))
		e.mu.Lock()
		en.busy = false
		en.touch()
		e.mu.Unlock()
		e.freeAgent(ag, 0)
		return
	}
	for _, a := range atts {
		if a.Leg == store.LegCustomer {
			r.n = max(r.n, a.N+1)
		}
	}
	// The number policy is checked again right before dialling.
	if _, err := r.q.cfg.Callback.NumberPolicy.Check(cb.Number); err != nil {
		r.finish(store.Registered, store.Failed, "number refused: "+err.Error(), false)
		e.freeAgent(ag, 0)
		return
	}
	upd, err := e.transition(ctx, cb.ID, store.Registered, store.Dialing, store.Change{At: e.clk.Now()})
	if err != nil {
		if errors.Is(err, store.ErrLeaseLost) {
			r.log.Warn("not claiming callback: the switch lease is not this node's", zap.Error(err))
		} else {
			r.log.Error("claim callback", zap.Error(err))
		}
		e.mu.Lock()
		en.q.remove(en)
		e.mu.Unlock()
		e.freeAgent(ag, 0)
		return
	}
	r.setCB(upd)
	if r.q.cfg.Callback.Mode == CustomerFirst {
		r.customerFirst()
	} else {
		r.agentFirst()
	}
}

// transition commits a state change the engine makes for its switch,
// fenced by the node's lease when there is one: a node that lost its
// lease changes no callback (the new owner reconciles it), and is told.
func (e *Engine) transition(ctx context.Context, id int64, from, to store.State, ch store.Change) (store.Callback, error) {
	if e.fence != nil {
		ch.Fence = e.fence()
	}
	upd, err := e.st.Transition(ctx, id, from, to, ch)
	if errors.Is(err, store.ErrLeaseLost) && e.leaseLost != nil {
		e.leaseLost(err)
	}
	return upd, err
}

// stopped reports that the engine is stopping: the callback stays in
// dialing, and the next start closes the attempt as interrupted (no
// attempt used) and puts it back at its place.
func (r *cbRun) stopped() bool {
	if r.ctx.Err() == nil {
		return false
	}
	r.log.Info("callback dispatch interrupted by shutdown")
	return true
}

func (r *cbRun) setCB(cb store.Callback) {
	r.cb = cb
	r.e.mu.Lock()
	r.en.cb = cb
	r.en.touch()
	r.e.mu.Unlock()
}

func (r *cbRun) attrs(kv ...string) map[string]string {
	m := map[string]string{"attempt": strconv.Itoa(r.n)}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// startLeg commits a leg about to be dialled, with the channel id it will
// get, before it is originated; it returns the attempt row and that id.
func (r *cbRun) startLeg(leg, endpoint, ani string) (int64, string, error) {
	ch := r.e.legID(r.cb.ID, r.n, leg)
	id, err := r.e.st.StartAttempt(r.ctx, store.Attempt{CallbackID: r.cb.ID, N: r.n, Leg: leg, Endpoint: endpoint, ANI: ani, ChannelID: ch, StartedAt: r.e.clk.Now()})
	if err != nil {
		return 0, "", fmt.Errorf("record %s leg: %w", leg, err)
	}
	return id, ch, nil
}

// unrecorded ends a dispatch whose next leg could not be committed: nothing
// is dialled without its log line.
func (r *cbRun) unrecorded(err error, legs ...adapter.Call) {
	r.log.Error("callback dispatch stopped", zap.Error(err))
	for _, c := range legs {
		r.hangup(c)
	}
	r.e.freeAgent(r.ag, 0)
	r.finish(store.Dialing, store.Registered, "attempt could not be recorded", false)
}

// interrupt hands a dispatch that lost the switch to reconciliation: its
// open legs are checked (and hung up) once the switch answers again, and
// the callback goes back to its place without using an attempt. The agent
// stays held until then.
func (r *cbRun) interrupt(err error) {
	r.log.Warn("callback dispatch interrupted: switch unreachable", zap.Error(err))
	r.e.emitCB(r.cb, "interrupting", "switch unreachable", r.attrs())
	r.e.mu.Lock()
	r.ag.state = agentBusy
	r.ag.held++
	r.e.holdClaimLocked(r.ag, r.q.cfg.Name)
	r.en.reconciling = true
	r.en.touch()
	r.e.mu.Unlock()
	rc := &recon{en: r.en, held: []*agent{r.ag}}
	r.e.clk.Go(func() { r.e.reconcile(rc) })
}

func (r *cbRun) endLeg(id int64, call adapter.Call, outcome string, cause adapter.Cause) {
	if id == 0 {
		return
	}
	ch := ""
	if call != nil {
		ch = call.ID()
	}
	if err := r.e.st.EndAttempt(context.WithoutCancel(r.ctx), id, r.e.clk.Now(), ch, outcome, cause.String()); err != nil {
		r.log.Error("close attempt", zap.Error(err))
	}
}

func (r *cbRun) hangup(c adapter.Call) {
	if err := c.Hangup(context.WithoutCancel(r.ctx), adapter.CauseNormal); err != nil {
		r.log.Warn("hang up leg", zap.String("call_id", c.ID()), zap.Error(err))
	}
}

// finish commits a transition; a final state takes the entry out of the
// line, a non-final one gives the entry back to the dispatcher.
// used says the run made a customer attempt that counts.
func (r *cbRun) finish(from, to store.State, why string, used bool) {
	ctx := context.WithoutCancel(r.ctx)
	ch := store.Change{At: r.e.clk.Now()}
	if to == store.RetryWait {
		ch.NextAt = ch.At.Add(r.q.cfg.Callback.RetryInterval)
	}
	if used {
		n := r.used
		ch.Attempts = &n
	}
	upd, err := r.e.transition(ctx, r.cb.ID, from, to, ch)
	if err != nil {
		r.log.Error("commit callback state", zap.String("from", string(from)), zap.String("to", string(to)), zap.Error(err))
		// Keep memory in line with what we could not commit: drop the entry;
		// a restart reconciles it from the store.
		r.e.mu.Lock()
		r.q.remove(r.en)
		r.e.mu.Unlock()
		return
	}
	r.setCB(upd)
	switch to {
	case store.RetryWait:
		r.e.emitCB(upd, "retry_wait", why, r.attrs("next", upd.NextAt.UTC().Format("15:04:05")))
	case store.Failed, store.Expired, store.Completed:
		r.e.emitCB(upd, string(to), why, r.attrs())
	case store.Registered:
		r.e.emitCB(upd, "requeued", why, r.attrs())
	}
	r.e.mu.Lock()
	if !to.Open() {
		r.q.remove(r.en)
	}
	r.en.busy = false
	r.en.touch()
	r.e.mu.Unlock()
	r.e.kick()
}

// customerFailed applies the retry policy to a customer leg that failed.
func (r *cbRun) customerFailed(out string) {
	if slices.Contains(r.q.cfg.Callback.RetryOn, out) && r.used < r.q.cfg.Callback.MaxAttempts {
		r.finish(store.Dialing, store.RetryWait, "customer "+out, true)
		return
	}
	why := "customer " + out
	if slices.Contains(r.q.cfg.Callback.RetryOn, out) {
		why += ", attempts exhausted"
	}
	r.finish(store.Dialing, store.Failed, why, true)
}

// customerEndpoint checks the number once more and renders the trunk endpoint.
func (r *cbRun) customerEndpoint() (string, error) {
	res, err := r.q.cfg.Callback.NumberPolicy.Check(r.cb.Number)
	if err != nil {
		return "", err
	}
	if r.q.trunk == nil {
		return "", fmt.Errorf("queue %s has no trunk for callbacks", r.q.cfg.Name)
	}
	return r.q.trunk.Endpoint(res.E164)
}

func (r *cbRun) agentMedia() []adapter.Prompt {
	prompts := append([]adapter.Prompt(nil), r.q.cfg.Callback.Whisper...)
	for _, m := range r.cb.Media {
		prompts = append(prompts, adapter.Prompt(m))
	}
	return prompts
}

// mediaFailed ends a dispatch whose media the agent's leg could not play
// although the agent stayed on the line (an unplayable prompt, a switch
// error): playing it again would fail again, so the dispatch counts as a
// failed customer attempt (retried per retry_on and max_attempts) and the
// agent is skipped for agent_retry. Requeueing without counting would redial
// the agent without end.
func (r *cbRun) mediaFailed(err error, aid int64, agentLeg adapter.Call) {
	r.log.Warn("media to agent failed", zap.Error(err))
	r.endLeg(aid, agentLeg, "media_failed", agentLeg.Cause())
	r.e.emitCB(r.cb, "agent_media_failed", err.Error(), r.attrs("endpoint", r.ag.endpoint))
	r.e.skipAgent(r.q, r.ag)
	r.customerFailed("failed")
}

// agentFirst: dial the agent, play the whisper and media, dial the
// customer with the callback's ANI, bridge.
func (r *cbRun) agentFirst() {
	e, q, ag := r.e, r.q, r.ag
	qANI := q.cfg.Callback.ANI
	aid, ach, err := r.startLeg(store.LegAgent, ag.endpoint, qANI)
	if err != nil {
		r.unrecorded(err)
		return
	}
	e.emitCB(r.cb, "dialing_agent", ag.endpoint, r.attrs("endpoint", ag.endpoint, "channel", ach))
	agentLeg, err := e.sw.Originate(r.ctx, adapter.OriginateRequest{ID: ach, Endpoint: ag.endpoint, CallerID: qANI, Timeout: q.cfg.AgentTimeout, Tag: "agent"})
	if err != nil && r.stopped() {
		return
	}
	if errors.Is(err, adapter.ErrClosed) {
		r.interrupt(err)
		return
	}
	if err != nil {
		r.endLeg(aid, nil, outcome(err), adapter.CauseUnknown)
		e.emitCB(r.cb, "agent_no_answer", ag.endpoint, r.attrs("outcome", outcome(err)))
		e.skipAgent(q, ag)
		r.finish(store.Dialing, store.Registered, "agent "+outcome(err), false)
		return
	}
	e.emitCB(r.cb, "agent_answered", ag.endpoint, r.attrs())
	if media := r.agentMedia(); len(media) > 0 {
		e.emitCB(r.cb, "media_to_agent", fmt.Sprintf("%d prompts", len(media)), r.attrs())
		if _, err := agentLeg.Play(r.ctx, media, adapter.PlayOptions{}); err != nil {
			r.hangup(agentLeg)
			if r.stopped() {
				return
			}
			if errors.Is(err, adapter.ErrHangup) {
				r.endLeg(aid, agentLeg, "hangup", agentLeg.Cause())
				e.freeAgent(ag, 0)
				r.finish(store.Dialing, store.Registered, "agent left during media", false)
				return
			}
			if errors.Is(err, adapter.ErrClosed) {
				r.interrupt(err)
				return
			}
			r.mediaFailed(err, aid, agentLeg)
			return
		}
	}
	endpoint, err := r.customerEndpoint()
	if err != nil {
		r.endLeg(aid, agentLeg, "refused", adapter.CauseNormal)
		r.hangup(agentLeg)
		e.freeAgent(ag, 0)
		r.finish(store.Dialing, store.Failed, "number refused: "+err.Error(), false)
		return
	}
	// Watch the agent: if they hang up, stop dialling the customer. The
	// activity ends when the agent hangs up or custCtx is cancelled.
	custCtx, cancel := context.WithCancelCause(r.ctx)
	defer cancel(nil)
	e.clk.Go(func() {
		if err := agentLeg.Wait(custCtx, 0); errors.Is(err, adapter.ErrHangup) {
			cancel(errAgentHungUp)
		}
	})
	cid, cch, err := r.startLeg(store.LegCustomer, endpoint, r.cb.ANI)
	if err != nil {
		r.endLeg(aid, agentLeg, "aborted", adapter.CauseNormal)
		r.unrecorded(err, agentLeg)
		return
	}
	e.emitCB(r.cb, "dialing_customer", endpoint, r.attrs("endpoint", endpoint, "ani", r.cb.ANI, "channel", cch))
	custLeg, err := e.sw.Originate(custCtx, adapter.OriginateRequest{ID: cch, Endpoint: endpoint, CallerID: r.cb.ANI, Timeout: q.cfg.Callback.CustomerTimeout, Tag: "customer"})
	if err != nil {
		if errors.Is(context.Cause(custCtx), errAgentHungUp) {
			r.endLeg(cid, nil, "cancelled", adapter.CauseUnknown)
			r.endLeg(aid, agentLeg, "hangup", agentLeg.Cause())
			e.freeAgent(ag, 0)
			r.finish(store.Dialing, store.Registered, "agent left before the customer answered", false)
			return
		}
		if r.stopped() {
			r.hangup(agentLeg)
			return
		}
		if errors.Is(err, adapter.ErrClosed) {
			r.interrupt(err)
			return
		}
		out := outcome(err)
		r.endLeg(cid, nil, out, adapter.CauseUnknown)
		r.hangup(agentLeg)
		r.endLeg(aid, agentLeg, "normal", adapter.CauseNormal)
		e.emitCB(r.cb, "customer_"+out, endpoint, r.attrs())
		e.freeAgent(ag, 0)
		r.customerFailed(out)
		return
	}
	cancel(nil)
	r.converse(agentLeg, custLeg, aid, cid)
}

// converse commits connected, bridges agent and customer until one hangs
// up, and commits completed.
func (r *cbRun) converse(agentLeg, custLeg adapter.Call, aid, cid int64) {
	e, q := r.e, r.q
	upd, err := e.transition(context.WithoutCancel(r.ctx), r.cb.ID, store.Dialing, store.Connected, store.Change{At: e.clk.Now(), Attempts: &r.used})
	if err != nil {
		r.log.Error("commit connected", zap.Error(err))
		r.hangup(custLeg)
		r.hangup(agentLeg)
		r.endLeg(cid, custLeg, "aborted", adapter.CauseNormal)
		r.endLeg(aid, agentLeg, "aborted", adapter.CauseNormal)
		e.freeAgent(r.ag, 0)
		e.mu.Lock()
		q.remove(r.en)
		e.mu.Unlock()
		return
	}
	r.setCB(upd)
	e.emitCB(upd, "connected", r.ag.endpoint, r.attrs())
	agentLeft, talked, terr := e.talk(r.ctx, q, agentLeg, custLeg)
	r.hangup(custLeg)
	r.hangup(agentLeg)
	if terr != nil {
		r.log.Warn("callback conversation", zap.Error(terr))
	}
	r.endLeg(cid, custLeg, "answered", custLeg.Cause())
	r.endLeg(aid, agentLeg, "answered", agentLeg.Cause())
	e.mu.Lock()
	q.recordHandle(talked)
	e.mu.Unlock()
	e.freeAgent(r.ag, q.cfg.WrapUp)
	why := "customer hung up"
	if agentLeft {
		why = "agent hung up"
	}
	r.finish(store.Connected, store.Completed, why, false)
}

// customerFirst: dial the customer with the ANI, play a hold prompt while
// the reserved agent is dialled, play the media to the agent, bridge.
func (r *cbRun) customerFirst() {
	e, q, ag := r.e, r.q, r.ag
	endpoint, err := r.customerEndpoint()
	if err != nil {
		e.freeAgent(ag, 0)
		r.finish(store.Dialing, store.Failed, "number refused: "+err.Error(), false)
		return
	}
	cid, cch, err := r.startLeg(store.LegCustomer, endpoint, r.cb.ANI)
	if err != nil {
		r.unrecorded(err)
		return
	}
	e.emitCB(r.cb, "dialing_customer", endpoint, r.attrs("endpoint", endpoint, "ani", r.cb.ANI, "channel", cch))
	custLeg, err := e.sw.Originate(r.ctx, adapter.OriginateRequest{ID: cch, Endpoint: endpoint, CallerID: r.cb.ANI, Timeout: q.cfg.Callback.CustomerTimeout, Tag: "customer"})
	if err != nil && r.stopped() {
		return
	}
	if errors.Is(err, adapter.ErrClosed) {
		r.interrupt(err)
		return
	}
	if err != nil {
		out := outcome(err)
		r.endLeg(cid, nil, out, adapter.CauseUnknown)
		e.emitCB(r.cb, "customer_"+out, endpoint, r.attrs())
		e.freeAgent(ag, 0)
		r.customerFailed(out)
		return
	}
	e.emitCB(r.cb, "customer_answered", endpoint, r.attrs())
	// Hold the customer while the agent rings; the activity ends when the
	// customer hangs up or agCtx is cancelled.
	agCtx, cancel := context.WithCancelCause(r.ctx)
	defer cancel(nil)
	e.clk.Go(func() {
		if _, err := custLeg.Play(agCtx, []adapter.Prompt{HoldPrompt}, adapter.PlayOptions{}); errors.Is(err, adapter.ErrHangup) {
			cancel(errCallerHungUp)
			return
		}
		if err := custLeg.Wait(agCtx, 0); errors.Is(err, adapter.ErrHangup) {
			cancel(errCallerHungUp)
		}
	})
	aid, ach, err := r.startLeg(store.LegAgent, ag.endpoint, q.cfg.Callback.ANI)
	if err != nil {
		cancel(nil)
		r.endLeg(cid, custLeg, "aborted", adapter.CauseNormal)
		r.unrecorded(err, custLeg)
		return
	}
	e.emitCB(r.cb, "dialing_agent", ag.endpoint, r.attrs("endpoint", ag.endpoint, "channel", ach))
	agentLeg, err := e.sw.Originate(agCtx, adapter.OriginateRequest{ID: ach, Endpoint: ag.endpoint, CallerID: q.cfg.Callback.ANI, Timeout: q.cfg.AgentTimeout, Tag: "agent"})
	if err == nil && len(r.agentMedia()) > 0 {
		e.emitCB(r.cb, "agent_answered", ag.endpoint, r.attrs())
		e.emitCB(r.cb, "media_to_agent", fmt.Sprintf("%d prompts", len(r.agentMedia())), r.attrs())
		if _, perr := agentLeg.Play(agCtx, r.agentMedia(), adapter.PlayOptions{}); perr != nil {
			r.hangup(agentLeg)
			if !errors.Is(perr, adapter.ErrHangup) && !errors.Is(perr, adapter.ErrClosed) && agCtx.Err() == nil {
				// The switch refused the media: the customer was reached,
				// so the attempt counts, and the agent is skipped.
				cancel(nil)
				r.hangup(custLeg)
				r.endLeg(cid, custLeg, "agent_unavailable", adapter.CauseNormal)
				r.mediaFailed(perr, aid, agentLeg)
				return
			}
			err = perr
		}
	}
	if err != nil && r.stopped() {
		r.hangup(custLeg)
		return
	}
	if errors.Is(err, adapter.ErrClosed) && !errors.Is(context.Cause(agCtx), errCallerHungUp) {
		cancel(nil)
		r.interrupt(err)
		return
	}
	if err != nil {
		cancel(nil)
		r.hangup(custLeg)
		if errors.Is(context.Cause(agCtx), errCallerHungUp) {
			// The customer was reached and left before an agent came: the
			// attempt counts.
			r.endLeg(aid, agentLeg, "cancelled", adapter.CauseUnknown)
			r.endLeg(cid, custLeg, "hangup", custLeg.Cause())
			e.freeAgent(ag, 0)
			r.customerFailed("failed")
			return
		}
		r.endLeg(aid, agentLeg, outcome(err), adapter.CauseUnknown)
		r.endLeg(cid, custLeg, "agent_unavailable", adapter.CauseNormal)
		e.emitCB(r.cb, "agent_no_answer", ag.endpoint, r.attrs("outcome", outcome(err)))
		e.skipAgent(q, ag)
		r.finish(store.Dialing, store.Registered, "agent "+outcome(err), false)
		return
	}
	cancel(nil)
	r.converse(agentLeg, custLeg, aid, cid)
}

// expire ends a callback whose NotAfter passed.
func (e *Engine) expire(en *entry) {
	ctx, ok := e.running()
	if !ok {
		return
	}
	e.mu.Lock()
	cb := en.cb
	e.mu.Unlock()
	r := &cbRun{e: e, ctx: ctx, en: en, q: en.q, cb: cb, n: cb.Attempts,
		log: e.log.With(zap.String("queue", en.q.cfg.Name), zap.Int64("callback_id", cb.ID))}
	r.finish(cb.State, store.Expired, "window closed", false)
}

// promote makes a retry_wait callback whose time has come registered again
// (same place in line).
func (e *Engine) promote(en *entry) {
	ctx, ok := e.running()
	if !ok {
		return
	}
	e.mu.Lock()
	cb := en.cb
	e.mu.Unlock()
	upd, err := e.transition(ctx, cb.ID, store.RetryWait, store.Registered, store.Change{At: e.clk.Now()})
	e.mu.Lock()
	if err != nil {
		en.q.remove(en)
		e.mu.Unlock()
		e.log.Error("promote callback", zap.String("queue", en.q.cfg.Name), zap.Int64("callback_id", cb.ID), zap.Error(err))
		return
	}
	en.cb, en.busy = upd, false
	en.touch()
	e.mu.Unlock()
	e.kick()
}
