package switchtest

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/clock"
	"github.com/callflow/callflow/flowvm"
	"github.com/callflow/callflow/phone"
	"github.com/callflow/callflow/queue"
	"github.com/callflow/callflow/store"
)

// QueueName is the queue the queue-level cases configure.
const QueueName = "switchtest"

// Keys under which queueSetup keeps the engine and the store in the Env.
const (
	keyQueues  = "queues"
	keyStore   = "store"
	keyWatched = "watched switch"
)

// queueSetup starts a queue engine on the case's switch with one queue
// served by the first agents agents, and a SQLite store in the case's
// temporary folder.
func queueSetup(agents int, maxWait time.Duration) func(context.Context, *Env) (func(), error) {
	return func(ctx context.Context, env *Env) (func(), error) {
		return startQueue(ctx, env, env.Switch, agents, maxWait)
	}
}

// watchedQueueSetup is queueSetup with the engine's switch watched: its
// bridges count the calls they are asked to take (bridgeAdds), and its
// originates are recorded (originates).
func watchedQueueSetup(agents int, maxWait time.Duration) func(context.Context, *Env) (func(), error) {
	return func(ctx context.Context, env *Env) (func(), error) {
		sw := &watchedSwitch{Switch: env.Switch, clk: env.Clock}
		env.Put(keyWatched, sw)
		return startQueue(ctx, env, sw, agents, maxWait)
	}
}

// bridgeAdds is how many times the engine of watchedQueueSetup has put a
// call into one of its bridges.
func bridgeAdds(env *Env) int64 {
	sw, _ := env.Get(keyWatched).(*watchedSwitch)
	if sw == nil {
		return -1
	}
	return sw.adds.Load()
}

// originated is one Originate of the engine of watchedQueueSetup.
type originated struct {
	err  error         // nil: answered
	took time.Duration // until Originate returned
}

func (o originated) String() string {
	return fmt.Sprintf("{err: %v, took: %v}", o.err, o.took)
}

// originates lists the Originates of the engine of watchedQueueSetup.
func originates(env *Env) []originated {
	sw, _ := env.Get(keyWatched).(*watchedSwitch)
	if sw == nil {
		return nil
	}
	sw.mu.Lock()
	defer sw.mu.Unlock()
	return slices.Clone(sw.origs)
}

// watchedSwitch is a switch whose bridges count Add and whose originates are
// recorded.
type watchedSwitch struct {
	adapter.Switch
	clk   clock.Clock
	adds  atomic.Int64
	mu    sync.Mutex
	origs []originated
}

func (s *watchedSwitch) Originate(ctx context.Context, req adapter.OriginateRequest) (adapter.Call, error) {
	t0 := s.clk.Now()
	c, err := s.Switch.Originate(ctx, req)
	s.mu.Lock()
	s.origs = append(s.origs, originated{err: err, took: s.clk.Now().Sub(t0)})
	s.mu.Unlock()
	return c, err
}

func (s *watchedSwitch) NewBridge(ctx context.Context, opt adapter.BridgeOptions) (adapter.Bridge, error) {
	b, err := s.Switch.NewBridge(ctx, opt)
	if err != nil {
		return nil, err
	}
	return &watchedBridge{Bridge: b, adds: &s.adds}, nil
}

type watchedBridge struct {
	adapter.Bridge
	adds *atomic.Int64
}

func (b *watchedBridge) Add(ctx context.Context, c adapter.Call) error {
	b.adds.Add(1)
	return b.Bridge.Add(ctx, c)
}

// startQueue starts the engine of queueSetup on sw.
func startQueue(ctx context.Context, env *Env, sw adapter.Switch, agents int, maxWait time.Duration) (func(), error) {
	st, err := store.OpenSQLite(ctx, filepath.Join(env.TempDir, "callbacks.db"))
	if err != nil {
		return nil, fmt.Errorf("queue setup: %w", err)
	}
	qc := queue.QueueConfig{
		Name: QueueName, MaxWait: maxWait, MusicClass: "default",
		AgentTimeout: 5 * time.Second, AgentRetry: 2 * time.Second, HandleTime: time.Minute,
		Callback: queue.CallbackPolicy{
			ANI: CustomerANI, Trunk: "trunk", Mode: queue.AgentFirst, MaxAttempts: 1,
			CustomerTimeout: 5 * time.Second, Dedupe: true,
			NumberPolicy: phone.Policy{DefaultRegion: "CZ"},
		},
	}
	for i := range agents {
		qc.Agents = append(qc.Agents, env.AgentEndpoint(i))
	}
	cfg := queue.Config{Queues: []queue.QueueConfig{qc}, Trunks: map[string]queue.Trunk{"trunk": {Dial: env.Trunk}}}
	eng, err := queue.New(cfg, queue.Deps{Switch: sw, Store: st, Clock: env.Clock, Trace: env.Trace, Log: env.Log})
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("queue setup: %w", err)
	}
	if err := eng.Start(ctx); err != nil {
		st.Close()
		return nil, fmt.Errorf("queue setup: %w", err)
	}
	env.Put(keyQueues, eng)
	env.Put(keyStore, st)
	return func() {
		eng.Stop()
		if err := st.Close(); err != nil {
			env.Log.Warn("close callback store", zap.Error(err))
		}
	}, nil
}

// queues returns the engine queueSetup started, through the VM's contract.
func queues(env *Env) (flowvm.Queues, *store.SQLite, error) {
	q, ok := env.Get(keyQueues).(flowvm.Queues)
	st, ok2 := env.Get(keyStore).(*store.SQLite)
	if !ok || !ok2 {
		return nil, nil, errors.New("queue engine not set up")
	}
	return q, st, nil
}

// queueHandler answers and hands the engine to body.
func queueHandler(body func(ctx context.Context, env *Env, c adapter.Call, q flowvm.Queues, st *store.SQLite) error) func(context.Context, *Env, adapter.Call) error {
	return answered(func(ctx context.Context, env *Env, c adapter.Call) error {
		q, st, err := queues(env)
		if err != nil {
			return err
		}
		return body(ctx, env, c, q, st)
	})
}

func recordStatus(env *Env, key string, q flowvm.Queues, c adapter.Call) {
	st, ok := q.Status(c)
	env.Record(key, fmt.Sprintf("ok=%v position=%d reserved=%v", ok, st.Position, st.Reserved))
}

func queueCases() []Case {
	return []Case{
		{
			Name:    "queue: caller is connected to an agent and comes back",
			Callers: caller(),
			Agents:  []Party{{Behaviour: Answer, AnswerAfter: 500 * time.Millisecond, Hold: 1500 * time.Millisecond}},
			Setup:   queueSetup(1, 20*time.Second),
			Handler: queueHandler(func(ctx context.Context, env *Env, c adapter.Call, q flowvm.Queues, _ *store.SQLite) error {
				res, err := q.Enter(ctx, c, flowvm.EnterRequest{Queue: QueueName})
				env.Record("enter", err)
				env.Record("outcome", res.Outcome)
				env.Record("agent", res.Agent == env.AgentEndpoint(0))
				recordStatus(env, "status after", q, c)
				_, err = c.Play(ctx, []adapter.Prompt{Hello}, adapter.PlayOptions{})
				env.Record("play after", err)
				return nil
			}),
			Check: func(t testing.TB, r *Result) {
				NoErr(t, r, "enter")
				Equal(t, r, "outcome", flowvm.Connected)
				Equal(t, r, "agent", true)
				Equal(t, r, "status after", "ok=false position=0 reserved=false")
				NoErr(t, r, "play after")
				if len(r.Agents[0]) != 1 {
					t.Errorf("agent received %d calls, want 1", len(r.Agents[0]))
				}
				endedBySwitch(t, r)
			},
		},
		{
			Name:    "queue: start and decline callback keep the place until max wait",
			Callers: caller(),
			Setup:   watchedQueueSetup(0, 3*time.Second),
			Handler: queueHandler(func(ctx context.Context, env *Env, c adapter.Call, q flowvm.Queues, _ *store.SQLite) error {
				t0 := env.Clock.Now()
				res, err := q.Enter(ctx, c, flowvm.EnterRequest{Queue: QueueName, InQueue: func(ictx context.Context) error {
					recordStatus(env, "status waiting", q, c)
					env.Record("start", q.StartCallback(ictx, c, ""))
					recordStatus(env, "status reserved", q, c)
					if err := c.Wait(ictx, 500*time.Millisecond); err != nil {
						return err
					}
					env.Record("decline", q.DeclineCallback(ictx, c, flowvm.DeclineOptions{}))
					recordStatus(env, "status declined", q, c)
					env.Record("adds declined", bridgeAdds(env))
					env.Record("decline again", q.DeclineCallback(ictx, c, flowvm.DeclineOptions{}))
					return nil
				}})
				env.Record("enter", err)
				env.Record("outcome", res.Outcome)
				env.Record("took", env.Since(t0))
				return nil
			}),
			Check: func(t testing.TB, r *Result) {
				Equal(t, r, "status waiting", "ok=true position=1 reserved=false")
				NoErr(t, r, "start")
				Equal(t, r, "status reserved", "ok=true position=1 reserved=true")
				NoErr(t, r, "decline")
				Equal(t, r, "status declined", "ok=true position=1 reserved=false")
				Equal(t, r, "adds declined", int64(2)) // back on music
				ErrIs(t, r, "decline again", flowvm.ErrNotReserved)
				NoErr(t, r, "enter")
				Equal(t, r, "outcome", flowvm.Timeout)
				Near(t, r, "took", 3*time.Second)
				endedBySwitch(t, r)
			},
		},
		{
			// The agent's phone must stop ringing when the caller stops
			// waiting for it, not be answered into a call nobody is on.
			Name:    "queue: an agent's ringing stops when the caller reserves a callback",
			Callers: caller(),
			Agents:  []Party{{Behaviour: Answer, AnswerAfter: 3 * time.Second}},
			Setup:   watchedQueueSetup(1, 20*time.Second),
			Handler: queueHandler(func(ctx context.Context, env *Env, c adapter.Call, q flowvm.Queues, _ *store.SQLite) error {
				_, err := q.Enter(ctx, c, flowvm.EnterRequest{Queue: QueueName, InQueue: func(ictx context.Context) error {
					if err := c.Wait(ictx, time.Second); err != nil {
						return err
					}
					env.Record("start", q.StartCallback(ictx, c, ""))
					if err := c.Wait(ictx, time.Second); err != nil {
						return err
					}
					env.Record("originates", originates(env))
					env.Record("hangup", c.Hangup(ictx, adapter.CauseNormal))
					return nil
				}})
				env.Record("enter", err)
				return nil
			}),
			Check: func(t testing.TB, r *Result) {
				NoErr(t, r, "start")
				o := Value[[]originated](t, r, "originates")
				// Its error is the cancelled context's (drivers differ in
				// whether they return its cause).
				if len(o) != 1 || o[0].err == nil || o[0].took >= 2*time.Second {
					t.Errorf("originates %v: want one, cancelled about 1 s in (the agent answers after 3 s)", o)
				}
				NoErr(t, r, "hangup")
				ErrIs(t, r, "enter", adapter.ErrHangup)
				if len(r.Agents[0]) != 1 {
					t.Errorf("agent received %d calls, want 1", len(r.Agents[0]))
				}
			},
		},
		{
			// A caller who leaves a message without a callback: the flow
			// declines and hangs up (decline_callback's next is a hangup).
			Name:    "queue: a decline right before the hang-up gives the place back without music",
			Callers: caller(),
			Setup:   watchedQueueSetup(0, 20*time.Second),
			Handler: queueHandler(func(ctx context.Context, env *Env, c adapter.Call, q flowvm.Queues, _ *store.SQLite) error {
				_, err := q.Enter(ctx, c, flowvm.EnterRequest{Queue: QueueName, InQueue: func(ictx context.Context) error {
					env.Record("adds waiting", bridgeAdds(env))
					env.Record("start", q.StartCallback(ictx, c, ""))
					env.Record("decline", q.DeclineCallback(ictx, c, flowvm.DeclineOptions{HangupNext: true}))
					recordStatus(env, "status declined", q, c)
					env.Record("adds declined", bridgeAdds(env))
					env.Record("hangup", c.Hangup(ictx, adapter.CauseNormal))
					return nil
				}})
				env.Record("enter", err)
				recordStatus(env, "status after", q, c)
				return nil
			}),
			Check: func(t testing.TB, r *Result) {
				Equal(t, r, "adds waiting", int64(1))
				NoErr(t, r, "start")
				NoErr(t, r, "decline")
				Equal(t, r, "status declined", "ok=true position=1 reserved=false")
				Equal(t, r, "adds declined", int64(1))
				NoErr(t, r, "hangup")
				ErrIs(t, r, "enter", adapter.ErrHangup)
				Equal(t, r, "status after", "ok=false position=0 reserved=false")
				endedBySwitch(t, r)
			},
		},
		{
			Name:      "queue: registered callback dials the agent, then the customer with the ANI",
			Callers:   caller(),
			Agents:    []Party{{Behaviour: Answer, AnswerAfter: 500 * time.Millisecond}},
			Customers: []Party{{Number: CustomerNumber, Behaviour: Answer, AnswerAfter: 500 * time.Millisecond, Hold: time.Second}},
			Setup:     queueSetup(1, 0),
			Handler: queueHandler(func(ctx context.Context, env *Env, c adapter.Call, q flowvm.Queues, st *store.SQLite) error {
				env.Record("start", q.StartCallback(ctx, c, QueueName))
				res, err := q.RegisterCallback(ctx, c, flowvm.CallbackRequest{Number: CustomerNumber, ANI: CustomerANI, Media: []adapter.Prompt{Hello}})
				env.Record("register", err)
				env.Record("outcome", res.Outcome)
				env.Record("e164", res.E164)
				again, err := q.RegisterCallback(ctx, c, flowvm.CallbackRequest{Number: CustomerNumber})
				env.Record("register again", err)
				env.Record("again outcome", again.Outcome)
				id, perr := strconv.ParseInt(res.ID, 10, 64)
				if perr != nil {
					return fmt.Errorf("callback id %q: %w", res.ID, perr)
				}
				// The caller may leave; the callback is durable. Wait for its end.
				var cb store.Callback
				for range 120 {
					if cb, err = st.Get(ctx, id); err != nil {
						return fmt.Errorf("get callback %d: %w", id, err)
					}
					if !cb.State.Open() {
						break
					}
					if err := env.Clock.Sleep(ctx, 250*time.Millisecond); err != nil {
						return fmt.Errorf("wait for callback %d: %w", id, err)
					}
				}
				env.Record("state", cb.State)
				env.Record("ani", cb.ANI)
				return nil
			}),
			Check: func(t testing.TB, r *Result) {
				NoErr(t, r, "start")
				NoErr(t, r, "register")
				Equal(t, r, "outcome", flowvm.Registered)
				Equal(t, r, "e164", CustomerNumber)
				ErrIs(t, r, "register again", flowvm.ErrNotReserved)
				Equal(t, r, "state", store.Completed)
				Equal(t, r, "ani", CustomerANI)
				if len(r.Agents[0]) != 1 {
					t.Errorf("agent received %d calls, want 1", len(r.Agents[0]))
				}
				partySaw(t, "customer", r.Customers[0], CustomerANI, CustomerNumber)
				endedBySwitch(t, r)
			},
		},
		{
			Name:    "queue: caller hangs up while waiting",
			Callers: caller(Pause(time.Second), Hangup()),
			Setup:   queueSetup(0, 0),
			Handler: queueHandler(func(ctx context.Context, env *Env, c adapter.Call, q flowvm.Queues, _ *store.SQLite) error {
				t0 := env.Clock.Now()
				_, err := q.Enter(ctx, c, flowvm.EnterRequest{Queue: QueueName})
				env.Record("enter", err)
				env.Record("took", env.Since(t0))
				recordStatus(env, "status after", q, c)
				return nil
			}),
			Check: func(t testing.TB, r *Result) {
				ErrIs(t, r, "enter", adapter.ErrHangup)
				Near(t, r, "took", time.Second)
				Equal(t, r, "status after", "ok=false position=0 reserved=false")
				if o := r.Callers[0]; o.HungUpBy != ByCaller {
					t.Errorf("caller hung up by %q, want %s (%s)", o.HungUpBy, ByCaller, o.Detail)
				}
			},
		},
		{
			Name:    "queue: caller hangs up while reserved is an abandon",
			Callers: caller(Pause(time.Second), Hangup()),
			Setup:   queueSetup(0, 0),
			Handler: queueHandler(func(ctx context.Context, env *Env, c adapter.Call, q flowvm.Queues, _ *store.SQLite) error {
				env.Record("start", q.StartCallback(ctx, c, QueueName))
				recordStatus(env, "status reserved", q, c)
				env.Record("wait", c.Wait(ctx, 5*time.Second))
				env.Record("abandoned", q.Release(ctx, c))
				recordStatus(env, "status after", q, c)
				return nil
			}),
			Check: func(t testing.TB, r *Result) {
				NoErr(t, r, "start")
				Equal(t, r, "status reserved", "ok=true position=1 reserved=true")
				ErrIs(t, r, "wait", adapter.ErrHangup)
				Equal(t, r, "abandoned", true)
				Equal(t, r, "status after", "ok=false position=0 reserved=false")
				if o := r.Callers[0]; o.HungUpBy != ByCaller {
					t.Errorf("caller hung up by %q, want %s (%s)", o.HungUpBy, ByCaller, o.Detail)
				}
			},
		},
	}
}
