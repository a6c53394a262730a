package queue

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/store"
)

// Re-adoption after a restart (docs/restart.md).
//
// Calls live in the switch, not in this process. The line's caller entries
// are durable (store.Line, written through the group commit); on start the
// service lists the calls the switch still has and hands them to Adopt,
// which rebuilds every line in its original order and says which calls get
// a flow again, and where:
//
//   - waiting (music or the in-queue flow): the place is kept and the
//     caller's flow runs again from the queue notation, so the in-queue
//     flow restarts at its start and the caller goes back on music;
//   - reserved from the queue: as a Decline would, the caller returns to
//     the line at the same place (run from the queue notation again);
//   - reserved in the IVR, or held: the place is kept as held and the flow
//     restarts at the flow's resume notation;
//   - conversation: stays bridged; the engine watches both legs, hangs up
//     the other when one leaves and completes the conversation once;
//   - a call the switch no longer has: its entry is closed with a reason
//     (an abandon for a waiting or reserved caller, "interrupted" for a
//     conversation);
//   - a call with no row: it was in the IVR; its flow restarts at the
//     resume notation.
//
// An adopted waiting entry holds the line at its place until the caller's
// flow is back in Enter (or adoptGrace passes), so nobody behind overtakes
// it while the flows restart.

// adoptGrace bounds how long an adopted entry stops the line while its
// flow starts again.
const adoptGrace = 10 * time.Second

// Adoption results, the "as" attribute of the "adopted" trace event and
// the result label of callflow_adoptions_total.
const (
	AdoptedWaiting      = "waiting"
	AdoptedDeclined     = "declined" // a reservation returned to the line
	AdoptedHeld         = "held"
	AdoptedConversation = "conversation"
	AdoptedIVR          = "ivr"
	AdoptClosed         = "closed"
	AdoptRefused        = "refused"
)

// AdoptPlan says which surviving calls get a flow again and where.
type AdoptPlan struct {
	// Run maps a call id to the point its flow restarts at: a queue
	// notation ("flow/notation") or "" for the flow's resume notation.
	Run map[string]string
	// Conversations counts re-attached conversations the engine watches.
	Conversations int
	// Closed counts entries whose calls were gone; Refused the rows
	// refused (corrupted or foreign).
	Closed, Refused int
}

// Adopt rebuilds the lines from the durable rows and the calls the switch
// still has (alive: inbound call ids of this application that no process
// drives). Call it after Start and before new calls are taken. line may be
// nil (no durable line): every survivor then restarts at its resume point.
func (e *Engine) Adopt(ctx context.Context, line store.Line, alive []string) (AdoptPlan, error) {
	plan := AdoptPlan{Run: map[string]string{}}
	live := make(map[string]bool, len(alive))
	for _, id := range alive {
		live[id] = true
	}
	var rows []store.LineEntry
	if line != nil {
		var bad []store.LineRefusal
		var err error
		if rows, bad, err = line.ListLine(ctx); err != nil {
			e.EndAdoption()
			return plan, err
		}
		// Another switch's callers are its node's to take back.
		rows = slices.DeleteFunc(rows, func(r store.LineEntry) bool { return !e.owns(r.Owner) })
		for _, b := range bad {
			e.refuse(ctx, line, b.CallID, b.Reason)
			plan.Refused++
		}
	}
	handled := map[string]bool{}
	var convs []store.LineEntry
	e.mu.Lock()
	for _, r := range rows {
		q := e.queues[r.Queue]
		if q == nil || e.byCall[r.CallID] != nil || handled[r.CallID] {
			e.mu.Unlock()
			why := "foreign row: queue " + strconv.Quote(r.Queue) + " is not configured"
			if q != nil {
				why = "call already has a place in a line"
			}
			e.refuse(ctx, line, r.CallID, why)
			plan.Refused++
			e.mu.Lock()
			continue
		}
		handled[r.CallID] = true
		if r.Seq >= e.seq {
			e.seq = r.Seq + 1
		}
		if r.State == store.LineConversation {
			convs = append(convs, r)
			if a := e.agents[r.Agent]; a != nil {
				a.state = agentBusy
				a.held++
				e.holdClaimLocked(a, r.Queue)
			}
			continue
		}
		if !live[r.CallID] {
			plan.Closed++
			e.mu.Unlock()
			e.closeGone(ctx, line, q, r)
			e.mu.Lock()
			continue
		}
		en := &entry{q: q, kind: kindHeld, priority: r.Priority, joined: r.JoinedAt, seq: r.Seq,
			callID: r.CallID, resume: r.Resume, adopting: true}
		as := AdoptedWaiting
		switch {
		case r.State == store.LineWaiting && r.Resume != "":
			plan.Run[r.CallID] = r.Resume
		case r.State == store.LineReserved && r.InQueue && r.Resume != "":
			as = AdoptedDeclined
			plan.Run[r.CallID] = r.Resume
		case r.State == store.LineReserved:
			as, en.adopting = AdoptedDeclined, false
			plan.Run[r.CallID] = ""
		default: // held, or waiting without a known queue notation
			as, en.adopting = AdoptedHeld, false
			plan.Run[r.CallID] = ""
		}
		q.insert(en)
		e.pendingAdopt[r.CallID] = en
		pos := q.index(en) + 1
		e.mu.Unlock()
		if as != AdoptedWaiting && line != nil {
			line.SaveLine(e.lineRow(r.CallID, en))
		}
		e.clk.AfterFunc(adoptGrace, func() { e.adoptTimeout(r.CallID, en) })
		e.emitQ(r.CallID, "adopted", as, map[string]string{"queue": q.cfg.Name, "as": as, "position": strconv.Itoa(pos)})
		e.mu.Lock()
	}
	e.mu.Unlock()
	for _, r := range convs {
		plan.Conversations++
		handled[r.CallID] = true
		e.emitQ(r.CallID, "adopted", AdoptedConversation, map[string]string{"queue": r.Queue, "as": AdoptedConversation, "agent": r.Agent})
		e.clk.Go(func() { e.watchConversation(line, r, live[r.CallID]) })
	}
	for _, id := range alive {
		if handled[id] {
			continue
		}
		plan.Run[id] = ""
		e.emitQ(id, "adopted", AdoptedIVR, map[string]string{"as": AdoptedIVR})
	}
	e.log.Info("calls re-adopted", zap.Int("flows_restarted", len(plan.Run)), zap.Int("conversations", plan.Conversations),
		zap.Int("closed", plan.Closed), zap.Int("refused", plan.Refused))
	e.EndAdoption()
	return plan, nil
}

// Drain stops dispatching for good: no agent is offered a caller or a
// callback any more, while the work already started (a ringing agent, a
// conversation, a callback being dialled) goes on. A process that drains
// before it exits calls it, so the next process finds each caller either
// waiting or already talking, never in between.
func (e *Engine) Drain() {
	e.mu.Lock()
	e.dispatchHold, e.draining = true, true
	e.mu.Unlock()
}

// EndAdoption lets the dispatcher start. An engine with a durable line
// (Deps.Line) dispatches nothing until Adopt or EndAdoption has run; call
// EndAdoption when the calls cannot be adopted (the switch could not list
// them), so the line does not stand still.
func (e *Engine) EndAdoption() {
	e.mu.Lock()
	e.dispatchHold = e.draining
	e.mu.Unlock()
	e.kick()
}

// refuse logs and drops a line row that cannot be adopted.
func (e *Engine) refuse(ctx context.Context, line store.Line, callID, why string) {
	e.log.Warn("line row refused", zap.String("call_id", callID), zap.String("reason", why))
	e.emitQ(callID, "adopt_refused", why, map[string]string{"as": AdoptRefused})
	if line == nil {
		return
	}
	if err := line.DeleteLine(ctx, callID); err != nil {
		e.log.Warn("drop refused line row", zap.String("call_id", callID), zap.Error(err))
	}
}

// closeGone closes the entry of a call the switch no longer has.
func (e *Engine) closeGone(ctx context.Context, line store.Line, q *queueState, r store.LineEntry) {
	why := "gone during restart"
	e.emitQ(r.CallID, "adopt_closed", why, map[string]string{"queue": q.cfg.Name, "as": AdoptClosed, "state": string(r.State)})
	if r.State == store.LineHeld {
		e.emitQ(r.CallID, "left", "kept place given up: "+why, map[string]string{"queue": q.cfg.Name})
	} else {
		e.recordAbandon(q, r.CallID, "hung up while callflow restarted", 0)
	}
	if line != nil {
		if err := line.DeleteLine(ctx, r.CallID); err != nil {
			e.log.Warn("drop closed line row", zap.String("call_id", r.CallID), zap.Error(err))
		}
	}
}

// adoptTimeout lets the line move on when an adopted caller's flow did not
// come back to its queue notation in time: the place is kept as held; an
// entry whose call was never bound again (its flow did not start) is
// closed as an abandon.
func (e *Engine) adoptTimeout(callID string, en *entry) {
	e.mu.Lock()
	was := en.adopting
	en.adopting = false
	en.touch()
	unbound := e.pendingAdopt[callID] == en
	pos := 0
	if unbound {
		delete(e.pendingAdopt, callID)
		pos = en.q.index(en) + 1
		en.q.remove(en)
	}
	e.mu.Unlock()
	switch {
	case unbound:
		e.log.Warn("adopted caller's flow did not start again; place closed", zap.String("call_id", callID))
		e.dropLine(callID)
		e.recordAbandon(en.q, callID, "not taken back after the restart", pos)
	case was:
		e.log.Warn("adopted caller did not return to the queue in time; the line moves on", zap.String("call_id", callID))
	default:
		return
	}
	e.kick()
}

// watchConversation takes back a conversation that was bridged when the
// previous process ended: both legs still up, it waits for one to leave
// and hangs up the other; one gone, it hangs up the other. Either way the
// conversation ends once, with one conversation_end.
func (e *Engine) watchConversation(line store.Line, r store.LineEntry, callerAlive bool) {
	ctx, ok := e.running()
	if !ok {
		return
	}
	q := e.queues[r.Queue]
	log := e.log.With(zap.String("call_id", r.CallID), zap.String("queue", r.Queue), zap.String("agent", r.Agent))
	hctx := context.WithoutCancel(ctx)
	att, _ := e.sw.(adapter.Attacher)
	var caller, agentLeg adapter.Call
	if att != nil {
		if callerAlive {
			c, err := e.attach(ctx, att, r.CallID)
			if err == nil {
				caller = c
			} else if !errors.Is(err, adapter.ErrNotFound) {
				log.Warn("attach caller of a conversation", zap.Error(err))
			}
		}
		c, err := e.attach(ctx, att, r.AgentCallID)
		if err == nil {
			agentLeg = c
		} else if !errors.Is(err, adapter.ErrNotFound) {
			log.Warn("attach agent leg of a conversation", zap.Error(err))
		}
	}
	why := "interrupted: a leg was gone after the restart"
	if caller != nil && agentLeg != nil {
		log.Info("conversation re-attached")
		start := e.clk.Now()
		agentLeft, err := e.waitEither(ctx, agentLeg, caller)
		if err != nil {
			return // the engine stops; the next start takes it back
		}
		e.mu.Lock()
		q.recordHandle(e.clk.Now().Sub(start))
		e.mu.Unlock()
		why = "caller hung up"
		if agentLeft {
			why = "agent hung up"
		}
	}
	for _, c := range []adapter.Call{caller, agentLeg} {
		if c == nil {
			continue
		}
		if err := c.Hangup(hctx, adapter.CauseNormal); err != nil && !errors.Is(err, adapter.ErrHangup) {
			log.Warn("hang up conversation leg", zap.String("leg", c.ID()), zap.Error(err))
		}
	}
	e.emitQ(r.CallID, "conversation_end", why, map[string]string{"queue": r.Queue, "adopted": "true"})
	if line != nil {
		line.DropLine(r.CallID)
	}
	if a := e.agents[r.Agent]; a != nil {
		e.releaseAgents([]*agent{a}, q.cfg.WrapUp)
	} else {
		e.kick()
	}
}
