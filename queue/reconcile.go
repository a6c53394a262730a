package queue

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/store"
)

// Reconciliation of callbacks whose dispatch was cut short: by a crash or
// restart (found in the store by Start), or by a lost switch connection.
//
// Every leg is logged with the channel id it will get before it is
// originated (OriginateRequest.ID), so the engine can ask the switch
// whether that leg still lives (adapter.Attacher). The policy (docs/architecture.md, Crash policy):
//
//   - dialing: every leg still alive is hung up and its end confirmed, the
//     open legs are closed as "interrupted", and the callback goes back to
//     registered at its place without using up an attempt. Re-attaching a
//     ringing or answered leg and finishing the attempt was rejected: the
//     process that placed it is gone with its plan (which agent was
//     reserved, whether the media was played, whether the customer leg was
//     already placed), and a leg that answers later would need an owner at
//     once. Hanging up, and confirming the hang-up before the callback is
//     eligible again, keeps "never two live legs to one customer for one
//     callback"; the next dispatch is a new attempt number in the log, so
//     a customer is called again only by a new, logged attempt.
//   - connected: when both legs still live the conversation goes on; the
//     engine re-attaches them, keeps the agent busy, waits for one side to
//     hang up, hangs up the other and commits completed. When a leg is
//     gone the other is hung up and the callback is completed.
//   - a switch without Attacher: legs cannot be checked. Dialing callbacks
//     are closed as interrupted and re-queued, connected ones completed,
//     and a warning says that live legs could not be checked.
//
// While a callback is reconciled its entry keeps its place but is busy
// (never dispatched), and the agents its open legs name are held busy.

const (
	// attachTimeout bounds one Attach (it waits for the switch connection).
	attachTimeout = 30 * time.Second
	// reconcileRetry is the pause before a reconciliation that could not
	// reach the switch is tried again.
	reconcileRetry = 5 * time.Second
	// goneChecks and goneEvery bound the wait for a hung-up leg to be gone.
	goneChecks = 25
	goneEvery  = 200 * time.Millisecond
)

// errSwitchDown marks a reconciliation that must be retried later.
var errSwitchDown = errors.New("switch unreachable")

// legID returns the channel id of a leg about to be logged and dialled:
// cb<callback>-<attempt>-<leg>-<epoch>-<k>, where epoch is this engine's
// start (a fresh database never reuses an id a switch may still hold) and
// k counts the legs of this start (dispatches share an attempt number when
// the agent did not answer).
func (e *Engine) legID(cbID int64, n int, leg string) string {
	e.mu.Lock()
	e.legSeq++
	k := e.legSeq
	e.mu.Unlock()
	return "cb" + strconv.FormatInt(cbID, 10) + "-" + strconv.Itoa(n) + "-" + leg + "-" + e.epoch + "-" + strconv.FormatInt(k, 10)
}

// newEpoch is a short token unique to this engine start: random on a real
// clock, derived from the clock under the simulator (deterministic traces).
func newEpoch(now time.Time, simulated bool) string {
	if simulated {
		return strconv.FormatInt(now.UnixMilli()%(36*36*36*36), 36)
	}
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return strconv.FormatInt(now.UnixNano()%(1<<32), 36)
	}
	return hex.EncodeToString(b[:])
}

// recon is one callback waiting to be reconciled.
type recon struct {
	en *entry
	// held are agents kept busy until the reconciliation ends.
	held []*agent
}

// holdAgentsLocked marks the agents named by open agent legs busy and
// returns them.
func (e *Engine) holdAgentsLocked(queue string, legs []store.Attempt) []*agent {
	var held []*agent
	for _, l := range legs {
		if l.Leg != store.LegAgent || !l.EndedAt.IsZero() {
			continue
		}
		a := e.agents[l.Endpoint]
		if a == nil {
			continue
		}
		a.state = agentBusy
		a.held++
		e.holdClaimLocked(a, queue)
		held = append(held, a)
	}
	return held
}

// releaseAgents ends the hold of a reconciliation; an agent becomes free
// (after wrapUp) when no reconciliation holds it any more.
func (e *Engine) releaseAgents(held []*agent, wrapUp time.Duration) {
	for _, a := range held {
		e.mu.Lock()
		a.held--
		last := a.held <= 0
		if last {
			a.held = 0
		}
		e.mu.Unlock()
		if last {
			e.freeAgent(a, wrapUp)
		}
	}
}

// reconcile settles one callback against the switch; when the switch
// cannot be reached it tries again after reconcileRetry, until the engine
// stops.
func (e *Engine) reconcile(rc *recon) {
	ctx, ok := e.running()
	if !ok {
		return
	}
	e.mu.Lock()
	cb := rc.en.cb
	e.mu.Unlock()
	log := e.log.With(zap.String("queue", rc.en.q.cfg.Name), zap.Int64("callback_id", cb.ID))
	err := e.reconcileOnce(ctx, rc, cb, log)
	if err == nil {
		return
	}
	if errors.Is(err, errSwitchDown) && ctx.Err() == nil {
		log.Warn("reconcile callback: switch unreachable, trying again", zap.Duration("after", reconcileRetry), zap.Error(err))
		// The retry returns at once once the engine has stopped.
		e.clk.AfterFunc(reconcileRetry, func() { e.reconcile(rc) })
		return
	}
	if ctx.Err() != nil {
		log.Info("reconcile callback interrupted by shutdown")
		return
	}
	// A store failure: memory cannot follow what was not committed; the
	// next start reconciles the callback again.
	log.Error("reconcile callback", zap.Error(err))
	e.mu.Lock()
	rc.en.q.remove(rc.en)
	e.mu.Unlock()
	e.releaseAgents(rc.held, 0)
	e.kick()
}

// liveLeg is an open leg whose channel still exists.
type liveLeg struct {
	att  store.Attempt
	call adapter.Call
}

func (e *Engine) reconcileOnce(ctx context.Context, rc *recon, cb store.Callback, log *zap.Logger) error {
	atts, err := e.st.Attempts(ctx, cb.ID)
	if err != nil {
		return err
	}
	var open []store.Attempt
	for _, a := range atts {
		if a.EndedAt.IsZero() {
			open = append(open, a)
		}
	}
	att, canAttach := e.sw.(adapter.Attacher)
	var live []liveLeg
	if canAttach {
		for _, a := range open {
			if a.ChannelID == "" {
				log.Warn("open leg without a channel id: taken as gone", zap.Int64("attempt_id", a.ID), zap.String("leg", a.Leg))
				continue
			}
			c, err := e.attach(ctx, att, a.ChannelID)
			if errors.Is(err, adapter.ErrNotFound) {
				continue
			}
			if err != nil {
				return fmt.Errorf("%w: attach %s: %w", errSwitchDown, a.ChannelID, err)
			}
			live = append(live, liveLeg{att: a, call: c})
		}
	} else if len(open) > 0 {
		log.Warn("switch cannot attach calls: live legs could not be checked", zap.String("switch", e.sw.Name()), zap.Int("open_legs", len(open)))
	}
	switch cb.State {
	case store.Dialing:
		return e.reconcileDialing(ctx, rc, cb, open, live, att, log)
	case store.Connected:
		return e.reconcileConnected(ctx, rc, cb, open, live, log)
	}
	return fmt.Errorf("reconcile: callback is %s", cb.State)
}

func (e *Engine) attach(ctx context.Context, att adapter.Attacher, id string) (adapter.Call, error) {
	actx, cancel := context.WithTimeout(ctx, attachTimeout)
	defer cancel()
	return att.Attach(actx, id)
}

// reconcileDialing hangs up live legs, confirms they are gone, closes the
// open legs as interrupted and puts the callback back at its place.
func (e *Engine) reconcileDialing(ctx context.Context, rc *recon, cb store.Callback, open []store.Attempt, live []liveLeg, att adapter.Attacher, log *zap.Logger) error {
	hungUp := map[int64]bool{}
	for _, l := range live {
		log.Info("hanging up a leg left by the interrupted dispatch", zap.String("call_id", l.call.ID()), zap.String("leg", l.att.Leg))
		if err := l.call.Hangup(context.WithoutCancel(ctx), adapter.CauseNormal); err != nil {
			return fmt.Errorf("%w: hang up %s: %w", errSwitchDown, l.call.ID(), err)
		}
		if err := e.confirmGone(ctx, att, l.call); err != nil {
			return err
		}
		hungUp[l.att.ID] = true
	}
	now := e.clk.Now()
	for _, a := range open {
		cause := ""
		if hungUp[a.ID] {
			cause = adapter.CauseNormal.String()
		}
		if err := e.st.EndAttempt(context.WithoutCancel(ctx), a.ID, now, "", "interrupted", cause); err != nil && !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	upd, err := e.transition(context.WithoutCancel(ctx), cb.ID, store.Dialing, store.Registered, store.Change{At: now})
	if err != nil {
		return err
	}
	e.emitCB(upd, "interrupted", "dialing interrupted", map[string]string{
		"open_legs": strconv.Itoa(len(open)), "live_legs": strconv.Itoa(len(live))})
	e.mu.Lock()
	rc.en.cb, rc.en.busy, rc.en.reconciling = upd, false, false
	rc.en.touch()
	e.mu.Unlock()
	e.releaseAgents(rc.held, 0)
	e.kick()
	return nil
}

// confirmGone waits until the switch no longer knows a hung-up call.
func (e *Engine) confirmGone(ctx context.Context, att adapter.Attacher, c adapter.Call) error {
	if att == nil {
		return nil
	}
	for i := 0; i < goneChecks; i++ {
		_, err := e.attach(ctx, att, c.ID())
		if errors.Is(err, adapter.ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: confirm %s gone: %w", errSwitchDown, c.ID(), err)
		}
		if err := e.clk.Sleep(ctx, goneEvery); err != nil {
			return err
		}
	}
	return fmt.Errorf("%w: %s still exists after its hang-up", errSwitchDown, c.ID())
}

// reconcileConnected waits for a conversation that survived the restart,
// or closes one whose legs are gone, and commits completed.
func (e *Engine) reconcileConnected(ctx context.Context, rc *recon, cb store.Callback, open []store.Attempt, live []liveLeg, log *zap.Logger) error {
	var agentLeg, custLeg *liveLeg
	for i := range live {
		switch live[i].att.Leg {
		case store.LegAgent:
			agentLeg = &live[i]
		case store.LegCustomer:
			custLeg = &live[i]
		}
	}
	why := "closed after restart"
	wrap := time.Duration(0)
	hctx := context.WithoutCancel(ctx)
	if agentLeg != nil && custLeg != nil {
		e.emitCB(cb, "reattached", "conversation still up", map[string]string{"agent": agentLeg.call.ID(), "customer": custLeg.call.ID()})
		log.Info("callback conversation re-attached", zap.String("agent_call", agentLeg.call.ID()), zap.String("customer_call", custLeg.call.ID()))
		start := e.clk.Now()
		agentLeft, err := e.waitEither(ctx, agentLeg.call, custLeg.call)
		if err != nil {
			// The engine stops: the conversation is left alone and the
			// next start re-attaches it.
			return err
		}
		e.mu.Lock()
		rc.en.q.recordHandle(e.clk.Now().Sub(start))
		e.mu.Unlock()
		why, wrap = "customer hung up", rc.en.q.cfg.WrapUp
		if agentLeft {
			why = "agent hung up"
		}
	}
	for _, l := range live {
		if err := l.call.Hangup(hctx, adapter.CauseNormal); err != nil {
			log.Warn("hang up leg", zap.String("call_id", l.call.ID()), zap.Error(err))
		}
	}
	now := e.clk.Now()
	for _, a := range open {
		outcome, cause := "completed", ""
		for _, l := range live {
			if l.att.ID == a.ID {
				outcome, cause = "answered", l.call.Cause().String()
			}
		}
		if err := e.st.EndAttempt(hctx, a.ID, now, "", outcome, cause); err != nil && !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	upd, err := e.transition(hctx, cb.ID, store.Connected, store.Completed, store.Change{At: now})
	if err != nil {
		return err
	}
	e.emitCB(upd, "completed", why, nil)
	e.mu.Lock()
	rc.en.q.remove(rc.en)
	e.mu.Unlock()
	e.releaseAgents(rc.held, wrap)
	e.kick()
	return nil
}

// waitEither waits until a or b hangs up; it reports whether a left first.
func (e *Engine) waitEither(ctx context.Context, a, b adapter.Call) (aLeft bool, err error) {
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// Ends when a hangs up or when waitEither returns (wctx cancelled).
	e.clk.Go(func() {
		if err := a.Wait(wctx, 0); errors.Is(err, adapter.ErrHangup) {
			cancel(errAgentHungUp)
		}
	})
	werr := b.Wait(wctx, 0)
	switch {
	case errors.Is(werr, adapter.ErrHangup):
		return false, nil
	case errors.Is(context.Cause(wctx), errAgentHungUp):
		return true, nil
	}
	return false, fmt.Errorf("wait for the conversation: %w", context.Cause(wctx))
}
