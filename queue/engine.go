// Package queue runs queue lines, agents and callbacks: it implements
// flowvm.Queues for the flow VM and dispatches durable callbacks.
//
// One mutex guards all in-memory state and is never held across a blocking
// call (switch, store, clock). Work that blocks runs in activities started
// with the Clock, so the engine also runs under the simulator.
package queue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/clock"
	"github.com/callflow/callflow/flowvm"
	"github.com/callflow/callflow/store"
	"github.com/callflow/callflow/trace"
)

// Deps are the engine's collaborators.
type Deps struct {
	Switch adapter.Switch
	Store  store.Callbacks
	Clock  clock.Clock
	Trace  trace.Sink
	Log    *zap.Logger
	// Line, when set, keeps the caller entries durable (adopt.go).
	Line store.Line
	// Fence, when set, is the fence of the node that owns the switch: a
	// callback is claimed (registered → dialing) only in a statement that
	// checks this node still holds the lease with its token, so a node
	// that lost its lease claims nothing (docs/nodes.md).
	Fence func() store.Fence
	// LeaseLost, when set, is told when a fenced claim found the lease no
	// longer this node's (the node then stops acting for the switch).
	LeaseLost func(error)
	// Owner names the switch this engine serves (its lease name) on
	// nodes that share the database with other switches' nodes: callbacks
	// and line rows are written with it, and only the engine's own (or
	// unowned) rows are taken back at start. "" for a single node.
	Owner string
	// Arbiter, when set, shares agents and line order with the other
	// switches' nodes (global.go).
	Arbiter Arbiter
}

// Errors.
var (
	// ErrUnknownQueue: the queue is not configured.
	ErrUnknownQueue = errors.New("unknown queue")
	// ErrNotInQueue: the call has no entry.
	ErrNotInQueue = errors.New("call has no queue entry")
	// ErrAlreadyWaiting: the call is already waiting in a queue.
	ErrAlreadyWaiting = errors.New("call is already waiting in a queue")
	// ErrReleased: the entry was released while the caller waited.
	ErrReleased = errors.New("queue entry released")
	// ErrNotStarted: the engine's Start has not been called.
	ErrNotStarted = errors.New("queue engine not started")

	errTimeout      = errors.New("queue max wait passed")
	errAgentHungUp  = errors.New("agent hung up")
	errCallerHungUp = errors.New("customer hung up")
)

// handleSamples is how many recent conversations the mean handle time uses.
const handleSamples = 20

// Engine is the queue and callback engine.
type Engine struct {
	sw    adapter.Switch
	st    store.Callbacks
	fence func() store.Fence // nil: a single node, nothing to fence
	// leaseLost is told of a claim the fence refused (nil: nobody).
	leaseLost func(error)
	clk       clock.Clock
	tr        trace.Sink
	log       *zap.Logger
	line      store.Line // nil: caller entries are not durable
	owner     string     // Deps.Owner
	arb       Arbiter    // nil: one switch, agents are this engine's alone
	headsKick chan struct{}
	// claiming: entries whose agent claim is being decided (global.go).
	claiming map[*entry]bool
	cfg      Config
	order    []*queueState // config order

	mu sync.Mutex
	// announceMu orders the tracing of assignments between kicks (see kick).
	announceMu sync.Mutex
	ctx        context.Context // dispatcher lifetime, set by Start
	cancel     context.CancelFunc
	queues     map[string]*queueState
	agents     map[string]*agent // by endpoint, shared between queues
	byName     map[string]*agent // by name (AgentNames, else endpoint)
	byCall     map[string]*entry // caller entries by call id
	// pendingAdopt: entries rebuilt by Adopt whose call has not been
	// bound again yet (Rebind), by call id.
	pendingAdopt map[string]*entry
	// dispatchHold: nothing new is dispatched. With a durable line it is
	// set until Adopt (or EndAdoption) ran, so no callback or newcomer is
	// offered an agent before the callers who stood ahead of it are back
	// in the line; Drain sets it for good.
	dispatchHold bool
	draining     bool // Drain was called
	seq          int64
	epoch        string // this start's token in leg ids (legID)
	legSeq       int64  // legs dialled since Start (legID)
	wakeAt       time.Time
	wakeOff      func() bool
}

var _ flowvm.Queues = (*Engine)(nil)

type queueState struct {
	cfg      QueueConfig
	trunk    *Trunk
	line     line
	agents   []*agent
	rr       int // index of the agent picked last (round robin)
	holding  adapter.Bridge
	handles  []time.Duration
	abandons int
}

type agentState int

const (
	agentFree agentState = iota
	agentRinging
	agentBusy
	agentWrapUp
)

func (s agentState) String() string {
	return [...]string{"free", "ringing", "busy", "wrap_up"}[s]
}

type agent struct {
	endpoint string
	// name is the agent's name across switches (Config.AgentNames).
	name string
	// claimed: this engine holds the agent's claim in the database
	// (version claimVer, 0: any), released before the agent is free.
	claimed   bool
	claimVer  int64
	state     agentState
	skipUntil time.Time
	idleSince time.Time
	// held counts reconciliations keeping the agent busy while a leg of an
	// interrupted dispatch may still ring or talk on it.
	held int
}

type entryKind int

const (
	kindLive     entryKind = iota + 1 // waiting in the holding bridge
	kindReserved                      // start_callback: out of the bridge, place kept
	kindHeld                          // declined in the IVR: place kept for the caller's Enter
	kindCallback                      // a durable callback
)

func (k entryKind) String() string {
	return [...]string{"", "live", "reserved", "held", "callback"}[k]
}

type entry struct {
	q        *queueState
	kind     entryKind
	priority int
	joined   time.Time
	seq      int64
	// busy: an activity owns the entry (agent ringing, callback dialing,
	// a state change being committed); it keeps its place but is skipped.
	busy bool
	// reconciling: a callback whose interrupted dispatch is being settled
	// against the switch (reconcile.go); entries behind it wait, so strict
	// order survives a restart.
	reconciling bool
	// adopting: a caller taken back after a restart whose flow is on its
	// way back to the queue notation; like reconciling, it holds the line.
	adopting bool
	// Caller entries.
	callID string // set for adopted entries before their call is bound
	resume string // the queue notation the caller waits in (flow/notation)
	call   adapter.Call
	number string
	w      *waiter // non-nil while the caller is inside Enter
	// withdraw cancels the agent's ringing while an offer to this caller
	// is under way (offerLive); nil otherwise.
	withdraw context.CancelCauseFunc
	// Callback entries.
	cb store.Callback
}

// waiter is the state of a caller inside Enter.
type waiter struct {
	cancel     context.CancelCauseFunc
	over       bool // agent connected or timed out: no longer offered
	agentLeg   adapter.Call
	agent      *agent
	timedOut   bool // max wait passed while reserved
	registered bool
	released   bool
	cbID       int64
	inBridge   bool
}

// New builds an engine from a validated configuration.
func New(cfg Config, deps Deps) (*Engine, error) {
	if deps.Switch == nil || deps.Store == nil || deps.Clock == nil {
		return nil, errors.New("queue: Switch, Store and Clock are required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	if deps.Trace == nil {
		deps.Trace = trace.Nop{}
	}
	if deps.Log == nil {
		deps.Log = zap.NewNop()
	}
	e := &Engine{
		sw: deps.Switch, st: deps.Store, clk: deps.Clock, tr: deps.Trace, log: deps.Log, cfg: cfg, line: deps.Line,
		fence:        deps.Fence,
		leaseLost:    deps.LeaseLost,
		owner:        deps.Owner,
		arb:          deps.Arbiter,
		headsKick:    make(chan struct{}, 1),
		claiming:     map[*entry]bool{},
		queues:       map[string]*queueState{},
		agents:       map[string]*agent{},
		byName:       map[string]*agent{},
		byCall:       map[string]*entry{},
		pendingAdopt: map[string]*entry{},
		dispatchHold: deps.Line != nil,
	}
	now := e.clk.Now()
	for _, qc := range cfg.Queues {
		q := &queueState{cfg: qc.WithDefaults(), rr: -1}
		if t, ok := cfg.Trunks[q.cfg.Callback.Trunk]; ok && q.cfg.Callback.Trunk != "" {
			q.trunk = &t
		}
		for _, ep := range q.cfg.Agents {
			a, ok := e.agents[ep]
			if !ok {
				name := ep
				if n, ok := cfg.AgentNames[ep]; ok {
					name = n
				}
				a = &agent{endpoint: ep, name: name, idleSince: now}
				e.agents[ep] = a
				e.byName[name] = a
			}
			q.agents = append(q.agents, a)
		}
		e.queues[q.cfg.Name] = q
		e.order = append(e.order, q)
	}
	return e, nil
}

// Start recovers open callbacks from the store and starts dispatching.
// Registered and retry_wait callbacks go back into their line at their
// place. Dialing and connected ones were cut short by a crash or restart:
// they keep their place but are reconciled against the switch before they
// can be dispatched again (see reconcile.go). Start does not
// block on the switch, so it may run before the switch connects. The
// dispatcher runs until Stop or until ctx ends.
func (e *Engine) Start(ctx context.Context) error {
	open, err := e.st.ListOpen(ctx)
	if err != nil {
		return fmt.Errorf("queue: recover callbacks: %w", err)
	}
	legs := map[int64][]store.Attempt{}
	open = slices.DeleteFunc(open, func(cb store.Callback) bool { return !e.owns(cb.Owner) })
	for _, cb := range open {
		if cb.State != store.Dialing && cb.State != store.Connected {
			continue
		}
		atts, err := e.st.Attempts(ctx, cb.ID)
		if err != nil {
			return fmt.Errorf("queue: recover callback %d: %w", cb.ID, err)
		}
		legs[cb.ID] = atts
	}
	_, realClock := e.clk.(clock.Real)
	e.mu.Lock()
	if e.ctx != nil {
		e.mu.Unlock()
		return errors.New("queue: engine already started")
	}
	e.ctx, e.cancel = context.WithCancel(ctx)
	e.epoch = newEpoch(e.clk.Now(), !realClock)
	var recons []*recon
	for _, cb := range open {
		q := e.queues[cb.Queue]
		if q == nil {
			e.log.Warn("open callback for an unconfigured queue left alone", zap.String("queue", cb.Queue), zap.Int64("callback_id", cb.ID))
			continue
		}
		en := &entry{q: q, kind: kindCallback, priority: cb.Priority, joined: cb.JoinedAt, seq: cb.Seq, cb: cb}
		q.insert(en)
		if cb.Seq >= e.seq {
			e.seq = cb.Seq + 1
		}
		if cb.State == store.Dialing || cb.State == store.Connected {
			en.busy, en.reconciling = true, true
			en.touch()
			recons = append(recons, &recon{en: en, held: e.holdAgentsLocked(cb.Queue, legs[cb.ID])})
		}
	}
	e.mu.Unlock()
	e.log.Info("queue engine started", zap.Int("queues", len(e.order)), zap.Int("recovered_callbacks", len(open)),
		zap.Int("reconciling", len(recons)))
	for _, rc := range recons {
		e.clk.Go(func() { e.reconcile(rc) })
	}
	if e.arb != nil {
		go e.publishHeads(e.ctx)
	}
	e.kick()
	return nil
}

// owns tells whether a row written for owner is this engine's to take
// back: its own switch's, or written by a single node.
func (e *Engine) owns(owner string) bool {
	return owner == "" || e.owner == "" || owner == e.owner
}

// Stop ends dispatching: running activities end when their switch
// operations return with the cancelled context; no new work starts.
func (e *Engine) Stop() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cancel != nil {
		e.cancel()
	}
	if e.wakeOff != nil {
		e.wakeOff()
		e.wakeOff = nil
	}
}

// Info implements flowvm.Queues.
func (e *Engine) Info(queue string) (flowvm.QueueInfo, bool) {
	q, ok := e.queues[queue]
	if !ok {
		return flowvm.QueueInfo{}, false
	}
	return flowvm.QueueInfo{Name: q.cfg.Name, InQueueFlow: q.cfg.InQueueFlow}, true
}

// less orders a line: higher priority first, then first joined, then seq.
func less(a, b *entry) bool {
	if a.priority != b.priority {
		return a.priority > b.priority
	}
	if !a.joined.Equal(b.joined) {
		return a.joined.Before(b.joined)
	}
	return a.seq < b.seq
}

func (q *queueState) insert(en *entry) { q.line.insert(en) }

// index is en's 0-based position in the line, -1 when it is not there.
func (q *queueState) index(en *entry) int { return q.line.index(en) }

// remove takes en out of the line; it reports whether it was there.
func (q *queueState) remove(en *entry) bool { return q.line.remove(en) }

// meanHandle is the mean of the last conversations, HandleTime until one
// has been measured.
func (q *queueState) meanHandle() time.Duration {
	if len(q.handles) == 0 {
		return q.cfg.HandleTime
	}
	var sum time.Duration
	for _, d := range q.handles {
		sum += d
	}
	return sum / time.Duration(len(q.handles))
}

func (q *queueState) recordHandle(d time.Duration) {
	q.handles = append(q.handles, d)
	if len(q.handles) > handleSamples {
		q.handles = q.handles[len(q.handles)-handleSamples:]
	}
}

// EWT is the documented estimate: position × mean handle time ÷ agents
// logged in (every configured agent counts as logged in; none counts as one).
func EWT(position int, meanHandle time.Duration, agents int) time.Duration {
	if agents < 1 {
		agents = 1
	}
	return time.Duration(position) * meanHandle / time.Duration(agents)
}

func (e *Engine) nextSeq() int64 {
	s := e.seq
	e.seq++
	return s
}

func (e *Engine) emit(source, call, kind, text string, attrs map[string]string) {
	e.tr.Emit(trace.Event{At: e.clk.Now(), Call: call, Source: source, Kind: kind, Text: text, Attrs: attrs})
}

func (e *Engine) emitQ(call, kind, text string, attrs map[string]string) {
	e.emit(trace.Queue, call, kind, text, attrs)
}

func cbName(id int64) string { return "cb-" + strconv.FormatInt(id, 10) }

func (e *Engine) emitCB(cb store.Callback, kind, text string, attrs map[string]string) {
	if attrs == nil {
		attrs = map[string]string{}
	}
	attrs["queue"] = cb.Queue
	e.emit(trace.Callback, cbName(cb.ID), kind, text, attrs)
}

func (e *Engine) running() (context.Context, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ctx == nil || e.ctx.Err() != nil {
		return nil, false
	}
	return e.ctx, true
}

// recordAbandon counts and traces an abandon; the service's event log
// (metrics.EventLog) stores it from the trace, in order with every other
// line.
func (e *Engine) recordAbandon(q *queueState, callID, why string, position int) {
	e.mu.Lock()
	q.abandons++
	e.mu.Unlock()
	e.emitQ(callID, "abandoned", why, map[string]string{"queue": q.cfg.Name, "position": strconv.Itoa(position)})
}

// QueueSnapshot is a queue's line and agents at one instant.
type QueueSnapshot struct {
	Name       string
	Entries    []EntrySnapshot
	Agents     []AgentSnapshot
	MeanHandle time.Duration
	Abandons   int
}

// EntrySnapshot is one entry of a line.
type EntrySnapshot struct {
	Position int
	// Kind is live, reserved, held or callback.
	Kind string
	// State is the callback's state for callbacks, else the kind, with
	// "offered" while an agent rings for a live caller.
	State      string
	CallID     string
	CallbackID int64
	Number     string
	Priority   int
	JoinedAt   time.Time
	EWT        time.Duration
}

// AgentSnapshot is one agent.
type AgentSnapshot struct {
	Endpoint string
	// State is free, ringing, busy, wrap_up or skipped.
	State        string
	SkippedUntil time.Time
}

// Snapshot lists the queue's entries in order and its agents.
func (e *Engine) Snapshot(queue string) (QueueSnapshot, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	q, ok := e.queues[queue]
	if !ok {
		return QueueSnapshot{}, false
	}
	now := e.clk.Now()
	s := QueueSnapshot{Name: q.cfg.Name, MeanHandle: q.meanHandle(), Abandons: q.abandons}
	for i, en := range q.line.all() {
		es := EntrySnapshot{Position: i + 1, Kind: en.kind.String(), State: en.kind.String(), Priority: en.priority,
			JoinedAt: en.joined, EWT: EWT(i+1, s.MeanHandle, len(q.agents))}
		if en.kind == kindCallback {
			es.State, es.CallbackID, es.Number = string(en.cb.State), en.cb.ID, en.cb.Number
		} else {
			es.CallID, es.Number = en.callID, en.number
			if en.call != nil {
				es.CallID = en.call.ID()
			}
			if en.kind == kindLive && en.busy {
				es.State = "offered"
			}
		}
		s.Entries = append(s.Entries, es)
	}
	for _, a := range q.agents {
		as := AgentSnapshot{Endpoint: a.endpoint, State: a.state.String()}
		if a.state == agentFree && a.skipUntil.After(now) {
			as.State, as.SkippedUntil = "skipped", a.skipUntil
		}
		s.Agents = append(s.Agents, as)
	}
	return s, true
}

// touch tells en's line that one of its dispatch fields changed (see line).
func (en *entry) touch() {
	if en.q != nil {
		en.q.line.touch(en)
	}
}
