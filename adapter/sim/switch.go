package sim

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/trace"
)

// Options tune the simulated switch.
type Options struct {
	// PromptDuration is how long a prompt plays when neither the scenario's
	// prompts map nor its prompt_duration says otherwise (default 1s).
	PromptDuration time.Duration
}

// DefaultPromptDuration is the length of a prompt unless configured.
const DefaultPromptDuration = time.Second

// Fixed timings of the simulated switch.
const (
	BusyAfter             = time.Second                      // a busy party rejects after this
	DefaultRingTimeout    = 30 * time.Second                 // OriginateRequest.Timeout 0
	BeepDuration          = 500 * time.Millisecond           // Record with Beep
	DefaultFirstTimeout   = adapter.DefaultFirstTimeout      // GatherOptions.FirstTimeout 0
	DefaultInterDigitWait = adapter.DefaultInterDigitTimeout // GatherOptions.InterDigitTimeout 0
)

// Switch is the simulated switch. It implements adapter.Switch; its calls
// and bridges implement adapter.Call and adapter.Bridge.
type Switch struct {
	sched *Scheduler
	sc    *Scenario
	sink  trace.Sink
	opts  Options
	epoch time.Time

	mu         sync.Mutex
	served     bool
	stopped    bool
	calls      []*call          // every call, in creation order
	byID       map[string]*call // every call and ringing originate, by id
	tagN       map[string]int
	bridgeN    int
	attempts   map[*Party]int
	recordings map[string]adapter.Recording
}

var (
	_ adapter.Switch   = (*Switch)(nil)
	_ adapter.Attacher = (*Switch)(nil)
)

// New returns a simulated switch driven by sched and playing sc. Scenario
// times count from sched.Now() at this call. Events go to sink (which must
// not call back into the switch).
func New(sched *Scheduler, sc *Scenario, sink trace.Sink, opts Options) *Switch {
	if sc == nil {
		sc = &Scenario{}
	}
	if sink == nil {
		sink = trace.Nop{}
	}
	if opts.PromptDuration <= 0 {
		opts.PromptDuration = DefaultPromptDuration
	}
	sw := &Switch{
		sched: sched, sc: sc, sink: sink, opts: opts, epoch: sched.Now(),
		tagN: map[string]int{}, attempts: map[*Party]int{}, byID: map[string]*call{},
		recordings: map[string]adapter.Recording{},
	}
	sched.OnStop(sw.stop)
	return sw
}

// Name is "sim".
func (sw *Switch) Name() string { return "sim" }

// Serve schedules every scenario caller at its start time and returns nil
// at once; the scheduler's Run drives the calls. Each caller runs h(ctx, c)
// in its own actor; when h returns the call is hung up (normal) if still
// up. A caller whose start comes after ctx is done is not started (traced).
// Serve can be called once.
func (sw *Switch) Serve(ctx context.Context, h adapter.Handler) error {
	sw.mu.Lock()
	if sw.served {
		sw.mu.Unlock()
		return errors.New("sim: serve: already serving")
	}
	sw.served = true
	sw.mu.Unlock()
	elapsed := sw.sched.Now().Sub(sw.epoch)
	for i := range sw.sc.Callers {
		cl := &sw.sc.Callers[i]
		sw.sched.AfterFunc(cl.At-elapsed, func() { sw.runCaller(ctx, cl, h) })
	}
	return nil
}

func (sw *Switch) runCaller(ctx context.Context, cl *Caller, h adapter.Handler) {
	if ctx.Err() != nil {
		sw.emit(cl.ID, "not-started", "serve ended", nil)
		return
	}
	c := &call{sw: sw, caller: cl, info: adapter.CallInfo{
		ID: cl.ID, Direction: adapter.Inbound, CallerNumber: cl.From, CallerName: cl.Name,
		Dialed: cl.To, Args: append([]string(nil), cl.Args...),
	}}
	sw.mu.Lock()
	sw.calls = append(sw.calls, c)
	sw.byID[c.info.ID] = c
	text := fmt.Sprintf("from %s to %s", orDash(cl.From), orDash(cl.To))
	if cl.Name != "" {
		text += fmt.Sprintf(" (%s)", cl.Name)
	}
	sw.emit(c.info.ID, "incoming", text, nil)
	for _, item := range cl.DTMF {
		for k := 0; k < len(item.Digits); k++ {
			d := item.Digits[k]
			when := item.At + time.Duration(k)*DigitGap
			c.timers = append(c.timers, sw.sched.AfterFunc(when, func() { c.deliverDigit(d) }))
		}
	}
	if cl.HangupAt != nil {
		c.timers = append(c.timers, sw.sched.AfterFunc(*cl.HangupAt, func() {
			sw.mu.Lock()
			defer sw.mu.Unlock()
			c.hangupLocked(adapter.CauseNormal, "caller")
		}))
	}
	sw.mu.Unlock()
	defer func() {
		sw.mu.Lock()
		defer sw.mu.Unlock()
		c.hangupLocked(adapter.CauseNormal, "app")
	}()
	h(ctx, c)
}

// stop hangs up every live call when the scheduler shuts down.
func (sw *Switch) stop() {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	sw.stopped = true
	for _, c := range sw.calls {
		c.hangupLocked(adapter.CauseNormal, "sim")
	}
}

// Recording returns a recording made by Record.
func (sw *Switch) Recording(name string) (adapter.Recording, bool) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	r, ok := sw.recordings[name]
	return r, ok
}

func (sw *Switch) emit(callID, kind, text string, attrs map[string]string) {
	sw.sink.Emit(trace.Event{
		At: sw.sched.Now(), Call: callID, Source: trace.Switch, Kind: kind, Text: text, Attrs: attrs,
	})
}

// promptDuration: scenario prompts map, silence:N, scenario default,
// Options default.
func (sw *Switch) promptDuration(p adapter.Prompt) time.Duration {
	if d, ok := sw.sc.Prompts[string(p)]; ok {
		return d
	}
	if secs, ok := strings.CutPrefix(string(p), "silence:"); ok {
		if f, err := strconv.ParseFloat(secs, 64); err == nil && f >= 0 {
			return time.Duration(f * float64(time.Second))
		}
	}
	if sw.sc.PromptDuration > 0 {
		return sw.sc.PromptDuration
	}
	return sw.opts.PromptDuration
}

// match finds the party an endpoint reaches: agents by exact endpoint,
// then customers whose number the endpoint contains.
func (sw *Switch) match(endpoint string) *Party {
	for i := range sw.sc.Agents {
		if sw.sc.Agents[i].Endpoint == endpoint {
			return &sw.sc.Agents[i]
		}
	}
	for i := range sw.sc.Customers {
		if strings.Contains(endpoint, sw.sc.Customers[i].Number) {
			return &sw.sc.Customers[i]
		}
	}
	return nil
}

// Originate dials req.Endpoint as the scenario's parties dictate. It blocks
// (in virtual time) while the party rings, so it must run in an actor
// unless the outcome is immediate (unknown endpoint, fail). The call gets
// req.ID as its id when set (an id already used fails the originate), else
// TAG-N. While it rings it can be attached (Attach) and hung up, which ends
// this Originate with ErrFailed.
func (sw *Switch) Originate(ctx context.Context, req adapter.OriginateRequest) (adapter.Call, error) {
	tag := req.Tag
	if tag == "" {
		tag = "out"
	}
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = DefaultRingTimeout
	}
	sw.mu.Lock()
	sw.tagN[tag]++
	id := fmt.Sprintf("%s-%d", tag, sw.tagN[tag])
	if req.ID != "" {
		id = req.ID
	}
	attrs := map[string]string{"ani": orDash(req.CallerID)}
	if req.CallerName != "" {
		attrs["name"] = req.CallerName
	}
	sw.emit(id, "originate", req.Endpoint, attrs)
	fail := func(kind, why string, errs ...error) (adapter.Call, error) {
		sw.emit(id, "originate-"+kind, why, nil)
		return nil, fmt.Errorf("sim: originate %s (%s): %s: %w", req.Endpoint, id, why, errors.Join(errs...))
	}
	if sw.stopped {
		sw.mu.Unlock()
		return fail("failed", "simulation stopped", adapter.ErrFailed, ErrStopped)
	}
	if _, dup := sw.byID[id]; dup {
		sw.mu.Unlock()
		return fail("failed", "call id already used", adapter.ErrFailed)
	}
	p := sw.match(req.Endpoint)
	if p == nil {
		sw.mu.Unlock()
		return fail("failed", "unknown endpoint", adapter.ErrFailed)
	}
	sw.attempts[p]++
	b := p.behaviourAt(sw.sched.Now().Sub(sw.epoch), sw.attempts[p])
	c := &call{sw: sw, party: p, ringing: true, info: adapter.CallInfo{
		ID: id, Direction: adapter.Outbound, CallerNumber: req.CallerID, CallerName: req.CallerName,
		Dialed: req.Endpoint, Endpoint: req.Endpoint,
	}}
	sw.byID[id] = c
	sw.mu.Unlock()
	// end closes a leg that never answered; it stays known (Attach finds
	// it gone) without a hang-up event, as the originate-* event says it.
	end := func(cause adapter.Cause) {
		sw.mu.Lock()
		if !c.hungUp {
			c.hungUp, c.cause, c.by = true, cause, "switch"
		}
		c.ringing = false
		sw.mu.Unlock()
	}

	var ring time.Duration
	switch b {
	case Fail:
		end(adapter.CauseFailure)
		return fail("failed", "rejected", adapter.ErrFailed)
	case Busy:
		ring = BusyAfter
	case NoAnswer:
		ring = timeout
	case Answer:
		ring = min(p.AnswerAfter, timeout)
		if p.AnswerAfter >= timeout {
			b = NoAnswer
		}
	}
	switch err := sw.ring(ctx, c, ring); {
	case errors.Is(err, ErrStopped):
		end(adapter.CauseNormal)
		return fail("failed", "simulation stopped", adapter.ErrFailed, ErrStopped)
	case errors.Is(err, adapter.ErrHangup):
		end(adapter.CauseNormal)
		return fail("failed", "hung up while ringing", adapter.ErrFailed, err)
	case err != nil:
		end(adapter.CauseNormal)
		return fail("cancelled", "cancelled", err)
	}
	switch b {
	case Busy:
		end(adapter.CauseBusy)
		return fail("busy", "busy", adapter.ErrBusy)
	case NoAnswer:
		end(adapter.CauseNoAnswer)
		return fail("no-answer", "no answer after "+ring.String(), adapter.ErrNoAnswer)
	}
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if sw.stopped {
		c.hungUp, c.cause, c.by, c.ringing = true, adapter.CauseNormal, "sim", false
		return fail("failed", "simulation stopped", adapter.ErrFailed, ErrStopped)
	}
	c.ringing, c.answered = false, true
	sw.calls = append(sw.calls, c)
	sw.emit(id, "originate-answered", "after "+ring.String(), nil)
	return c, nil
}

// ring waits d of virtual time for an originate of c; a hang-up of c while
// it rings (after Attach) ends it with ErrHangup.
func (sw *Switch) ring(ctx context.Context, c *call, d time.Duration) error {
	a := sw.sched.self()
	if a == nil {
		return ErrNotActor
	}
	sw.mu.Lock()
	c.waiters = append(c.waiters, a)
	sw.mu.Unlock()
	defer func() {
		sw.mu.Lock()
		for i, w := range c.waiters {
			if w == a {
				c.waiters = append(c.waiters[:i], c.waiters[i+1:]...)
				break
			}
		}
		sw.mu.Unlock()
	}()
	deadline := sw.sched.Now().Add(d)
	for {
		if err := c.goneErr("ring"); err != nil {
			return err
		}
		r, err := sw.sched.park(ctx, deadline, true)
		if err != nil {
			return err
		}
		switch r {
		case wakeTimer:
			return c.goneErr("ring")
		case wakeCtx:
			return ctx.Err()
		case wakeStop:
			return ErrStopped
		}
	}
}

// Attach implements adapter.Attacher: it returns the call with that id,
// ringing or answered, or an error wrapping adapter.ErrNotFound when the
// switch never had it or it has ended. It never blocks.
func (sw *Switch) Attach(ctx context.Context, id string) (adapter.Call, error) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	c, ok := sw.byID[id]
	if !ok || c.hungUp {
		return nil, fmt.Errorf("sim: attach %s: %w", id, adapter.ErrNotFound)
	}
	state := "answered"
	if c.ringing {
		state = "ringing"
	}
	sw.emit(id, "attach", state, nil)
	return c, nil
}

// NewBridge creates a bridge; it never blocks.
func (sw *Switch) NewBridge(ctx context.Context, opt adapter.BridgeOptions) (adapter.Bridge, error) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	sw.bridgeN++
	b := &bridge{sw: sw, id: fmt.Sprintf("bridge-%d", sw.bridgeN), opt: opt}
	if b.opt.Name == "" {
		b.opt.Name = b.id
	}
	return b, nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
