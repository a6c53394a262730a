package flowvm

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/callflow/callflow/adapter"
)

// fakeCall is a scripted adapter.Call: Gather and barge-in Play take the
// next entry of digits ("" = timeout); every operation is logged.
type fakeCall struct {
	mu      sync.Mutex
	id      string
	info    adapter.CallInfo
	digits  []string
	log     []string
	cause   adapter.Cause
	fail    map[string]error // operation → error
	panicOn string
	// hangupWhenDone hangs the call up when the digit script runs out.
	hangupWhenDone bool
}

func newCall(id string, digits ...string) *fakeCall {
	return &fakeCall{id: id, info: adapter.CallInfo{ID: id, CallerNumber: "+420601123456", CallerName: "Jan", Dialed: "100", Args: []string{"a"}}, digits: digits}
}

func (c *fakeCall) ID() string             { return c.id }
func (c *fakeCall) Info() adapter.CallInfo { return c.info }
func (c *fakeCall) Cause() adapter.Cause   { c.mu.Lock(); defer c.mu.Unlock(); return c.cause }

func (c *fakeCall) op(name string, detail string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.panicOn == name {
		panic("boom in " + name)
	}
	c.log = append(c.log, strings.TrimSpace(name+" "+detail))
	if c.cause != adapter.CauseUnknown {
		return fmt.Errorf("%s: %w", name, adapter.ErrHangup)
	}
	if err := c.fail[name]; err != nil {
		return err
	}
	return nil
}

func (c *fakeCall) next() (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.digits) == 0 {
		if c.hangupWhenDone {
			c.cause = adapter.CauseNormal
			return "", adapter.ErrHangup
		}
		return "", nil
	}
	d := c.digits[0]
	c.digits = c.digits[1:]
	return d, nil
}

func (c *fakeCall) Answer(ctx context.Context) error { return c.op("answer", "") }

func (c *fakeCall) Play(ctx context.Context, ps []adapter.Prompt, opt adapter.PlayOptions) (string, error) {
	if err := c.op("play", fmt.Sprint(ps)); err != nil {
		return "", err
	}
	if opt.BargeIn {
		return c.next()
	}
	return "", nil
}

func (c *fakeCall) Gather(ctx context.Context, opt adapter.GatherOptions) (string, error) {
	if err := c.op("gather", fmt.Sprint(opt.Prompts)); err != nil {
		return "", err
	}
	return c.next()
}

func (c *fakeCall) Record(ctx context.Context, opt adapter.RecordOptions) (adapter.Recording, error) {
	if err := c.op("record", opt.Name); err != nil {
		return adapter.Recording{}, err
	}
	return adapter.Recording{Name: opt.Name, Format: opt.Format, Duration: 4600 * time.Millisecond}, nil
}

func (c *fakeCall) Wait(ctx context.Context, d time.Duration) error {
	if err := c.op("wait", d.String()); err != nil {
		return err
	}
	if d <= 0 {
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

func (c *fakeCall) Hangup(ctx context.Context, cause adapter.Cause) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cause == adapter.CauseUnknown {
		c.cause = cause
		c.log = append(c.log, "hangup "+cause.String())
	}
	return nil
}

func (c *fakeCall) ops() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.log...)
}

// fakeSwitch originates calls with a fixed result.
type fakeSwitch struct {
	err  error     // originate error
	far  *fakeCall // the answered far end (hangs up at once when it waits)
	log  []string
	mu   sync.Mutex
	brID int
}

func (s *fakeSwitch) Name() string                                       { return "fake" }
func (s *fakeSwitch) Serve(ctx context.Context, h adapter.Handler) error { return nil }
func (s *fakeSwitch) Originate(ctx context.Context, req adapter.OriginateRequest) (adapter.Call, error) {
	s.mu.Lock()
	s.log = append(s.log, "originate "+req.Endpoint+" cid="+req.CallerID)
	s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	return s.far, nil
}
func (s *fakeSwitch) NewBridge(ctx context.Context, opt adapter.BridgeOptions) (adapter.Bridge, error) {
	return &fakeBridge{s: s}, nil
}

type fakeBridge struct{ s *fakeSwitch }

func (b *fakeBridge) ID() string { return "br" }
func (b *fakeBridge) Add(ctx context.Context, c adapter.Call) error {
	b.s.mu.Lock()
	defer b.s.mu.Unlock()
	b.s.log = append(b.s.log, "bridge add "+c.ID())
	return nil
}
func (b *fakeBridge) Remove(ctx context.Context, c adapter.Call) error { return nil }
func (b *fakeBridge) Destroy(ctx context.Context) error                { return nil }

// farCall is a far end that hangs up after talking (Wait returns ErrHangup).
type farCall struct{ *fakeCall }

func (c farCall) Wait(ctx context.Context, d time.Duration) error {
	c.Hangup(ctx, adapter.CauseNormal)
	return adapter.ErrHangup
}

// fakeQueues is a scripted queue engine.
type fakeQueues struct {
	mu        sync.Mutex
	log       []string
	info      map[string]QueueInfo
	outcome   Outcome // of Enter after InQueue returned
	agent     bool    // cancel InQueue with ErrAgentConnected when it waits
	register  []RegisterOutcome
	status    QueueStatus
	inEntry   bool
	reserved  bool
	inQueueEr error
	released  int
}

func (q *fakeQueues) add(s string) { q.mu.Lock(); q.log = append(q.log, s); q.mu.Unlock() }

func (q *fakeQueues) Info(name string) (QueueInfo, bool) {
	i, ok := q.info[name]
	return i, ok
}

func (q *fakeQueues) Enter(ctx context.Context, call adapter.Call, req EnterRequest) (EnterResult, error) {
	q.add(fmt.Sprintf("enter %s prio=%d max_wait=%s", req.Queue, req.Priority, req.MaxWait))
	q.inEntry = true
	defer func() { q.inEntry = false }()
	if req.InQueue != nil {
		qctx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		if q.agent {
			cancel(ErrAgentConnected)
		}
		q.inQueueEr = req.InQueue(qctx)
	}
	if call.Cause() != adapter.CauseUnknown {
		return EnterResult{}, fmt.Errorf("enter: %w", adapter.ErrHangup)
	}
	return EnterResult{Outcome: q.outcome, Agent: "PJSIP/agent1"}, nil
}

func (q *fakeQueues) StartCallback(ctx context.Context, call adapter.Call, queue string) error {
	q.add("start " + queue)
	q.reserved = true
	return nil
}

func (q *fakeQueues) DeclineCallback(ctx context.Context, call adapter.Call, opt DeclineOptions) error {
	if opt.HangupNext {
		q.add("decline hangup-next")
	} else {
		q.add("decline")
	}
	if !q.reserved {
		return ErrNotReserved
	}
	q.reserved = false
	return nil
}

func (q *fakeQueues) RegisterCallback(ctx context.Context, call adapter.Call, req CallbackRequest) (RegisterResult, error) {
	q.add(fmt.Sprintf("register %s media=%v nb=%t", req.Number, req.Media, !req.NotBefore.IsZero()))
	out := Registered
	if len(q.register) > 0 {
		out, q.register = q.register[0], q.register[1:]
	}
	if out == Registered {
		q.reserved = false
	}
	return RegisterResult{Outcome: out, ID: "cb-1", E164: req.Number}, nil
}

func (q *fakeQueues) Status(call adapter.Call) (QueueStatus, bool) {
	return q.status, q.status.Position > 0
}

func (q *fakeQueues) Release(ctx context.Context, call adapter.Call) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.released++
	ab := q.reserved
	q.reserved = false
	return ab
}
