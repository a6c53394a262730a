package queue

import (
	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/store"
)

// The durable line: every change of a caller entry's place or state is
// queued for the store's group commit (store.Line). Queuing never waits
// for the disk, so the calls below may run under e.mu and on the path from
// a key press to its action; a crash loses at most the changes of the
// last commit interval, which re-adoption treats like any other state it
// finds (docs/restart.md).

// lineRow renders an entry as its durable row.
func (e *Engine) lineRow(callID string, en *entry) store.LineEntry {
	r := store.LineEntry{CallID: callID, Queue: en.q.cfg.Name, Priority: en.priority, JoinedAt: en.joined, Seq: en.seq,
		InQueue: en.w != nil, Resume: en.resume, UpdatedAt: e.clk.Now(), Owner: e.owner}
	switch en.kind {
	case kindLive:
		r.State, r.InQueue = store.LineWaiting, true
	case kindReserved:
		r.State = store.LineReserved
	default:
		r.State = store.LineHeld
	}
	return r
}

// saveLocked queues the entry's row (e.mu held).
func (e *Engine) saveLocked(en *entry) {
	if e.line == nil || en.call == nil {
		return
	}
	e.line.SaveLine(e.lineRow(en.call.ID(), en))
}

// dropLine queues the removal of a call's row.
func (e *Engine) dropLine(callID string) {
	if e.line != nil {
		e.line.DropLine(callID)
	}
}

// saveConversation queues the row of a caller bridged with an agent.
func (e *Engine) saveConversation(en *entry, agent string, leg adapter.Call) {
	if e.line == nil {
		return
	}
	r := e.lineRow(en.call.ID(), en)
	r.State, r.Agent, r.AgentCallID, r.InQueue = store.LineConversation, agent, leg.ID(), true
	e.line.SaveLine(r)
}

// Rebind gives an entry rebuilt by Adopt the call now running its flow
// again; call it before the flow starts. It does nothing for a call with
// no adopted entry.
func (e *Engine) Rebind(call adapter.Call) {
	e.mu.Lock()
	defer e.mu.Unlock()
	id := call.ID()
	en := e.pendingAdopt[id]
	if en == nil {
		return
	}
	delete(e.pendingAdopt, id)
	en.call, en.number = call, call.Info().CallerNumber
	e.byCall[id] = en
}
