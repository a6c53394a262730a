package queue

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/adapter/sim"
	"github.com/callflow/callflow/flowvm"
	"github.com/callflow/callflow/phone"
	"github.com/callflow/callflow/store"
	"github.com/callflow/callflow/trace"
)

var simStart = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC) // a Monday

const queueANI = "+420200000000"

func baseConfig(agents ...string) Config {
	return Config{
		Queues: []QueueConfig{{
			Name: "sales", Agents: agents, AgentTimeout: 10 * time.Second, AgentRetry: 20 * time.Second,
			HandleTime: 2 * time.Minute,
			Callback: CallbackPolicy{
				ANI: queueANI, Trunk: "pstn", Dedupe: true, MaxAttempts: 2, RetryInterval: time.Minute,
				Whisper:      []adapter.Prompt{"sound:callback-whisper"},
				NumberPolicy: phone.Policy{DefaultRegion: "CZ"},
			},
		}},
		Trunks: map[string]Trunk{"pstn": {Dial: "PJSIP/{e164}@trunk"}},
	}
}

func dur(d time.Duration) *time.Duration { return &d }

type enterOutcome struct {
	res flowvm.EnterResult
	err error
}

// harness runs the engine on the simulated switch with a SQLite store.
type harness struct {
	t     *testing.T
	sched *sim.Scheduler
	sw    *sim.Switch
	rec   *trace.Recorder
	eng   *Engine
	st    *store.SQLite

	mu      sync.Mutex
	results map[string]enterOutcome
}

func newHarness(t *testing.T, cfg Config, sc *sim.Scenario, st *store.SQLite) *harness {
	t.Helper()
	if st == nil {
		st = openStore(t, filepath.Join(t.TempDir(), "cb.db"))
	}
	for i := range sc.Callers {
		if sc.Callers[i].ID == "" {
			sc.Callers[i].ID = fmt.Sprintf("caller-%d", i+1)
		}
	}
	sched := sim.NewScheduler(simStart)
	rec := &trace.Recorder{}
	sw := sim.New(sched, sc, rec, sim.Options{})
	eng, err := New(cfg, Deps{Switch: sw, Store: st, Clock: sched, Trace: rec, Log: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatalf("new engine: %v", err)
	}
	return &harness{t: t, sched: sched, sw: sw, rec: rec, eng: eng, st: st, results: map[string]enterOutcome{}}
}

func openStore(t *testing.T, path string) *store.SQLite {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// run starts the engine, serves the scenario's callers with handler and
// runs the simulation for at most d of virtual time.
func (h *harness) run(handler adapter.Handler, d time.Duration) {
	h.t.Helper()
	h.runCtx(context.Background(), handler, d)
}

// runCtx is run with a context: cancelling it ends the simulation early
// (run then fails the test), so a test can bound a run that loops.
func (h *harness) runCtx(ctx context.Context, handler adapter.Handler, d time.Duration) {
	h.t.Helper()
	if err := h.eng.Start(ctx); err != nil {
		h.t.Fatalf("start: %v", err)
	}
	if err := h.sw.Serve(ctx, handler); err != nil {
		h.t.Fatalf("serve: %v", err)
	}
	err := h.sched.Run(ctx, simStart.Add(d))
	h.eng.Stop()
	if err != nil {
		h.t.Fatalf("run: %v", err)
	}
}

// enter is a handler that answers and enters "sales" with inq per caller.
func (h *harness) enter(inq map[string]func(ctx context.Context, c adapter.Call) error, prio map[string]int) adapter.Handler {
	return func(ctx context.Context, c adapter.Call) {
		if err := c.Answer(ctx); err != nil {
			return
		}
		req := flowvm.EnterRequest{Queue: "sales", Priority: prio[c.ID()]}
		if f := inq[c.ID()]; f != nil {
			req.InQueue = func(ictx context.Context) error { return f(ictx, c) }
		}
		res, err := h.eng.Enter(ctx, c, req)
		h.mu.Lock()
		h.results[c.ID()] = enterOutcome{res, err}
		h.mu.Unlock()
	}
}

func (h *harness) result(id string) enterOutcome {
	h.mu.Lock()
	defer h.mu.Unlock()
	r, ok := h.results[id]
	if !ok {
		h.t.Fatalf("no Enter result for %s\n%s", id, h.dump())
	}
	return r
}

func (h *harness) dump() string {
	var b bytes.Buffer
	_ = trace.WriteText(&b, simStart, h.rec.Events())
	return b.String()
}

// lines renders events as "call source kind text" for order assertions.
func (h *harness) lines(filter func(trace.Event) bool) []string {
	var out []string
	for _, e := range h.rec.Events() {
		if filter == nil || filter(e) {
			out = append(out, strings.TrimSpace(e.Call+" "+e.Source+" "+e.Kind+" "+e.Text))
		}
	}
	return out
}

func (h *harness) find(call, source, kind string) (trace.Event, int, bool) {
	for i, e := range h.rec.Events() {
		if (call == "" || e.Call == call) && e.Source == source && e.Kind == kind {
			return e, i, true
		}
	}
	return trace.Event{}, -1, false
}

func (h *harness) mustFind(call, source, kind string) (trace.Event, int) {
	h.t.Helper()
	e, i, ok := h.find(call, source, kind)
	if !ok {
		h.t.Fatalf("no %s %s event for %q\n%s", source, kind, call, h.dump())
	}
	return e, i
}

func (h *harness) callback(id int64) store.Callback {
	h.t.Helper()
	cb, err := h.st.Get(context.Background(), id)
	if err != nil {
		h.t.Fatalf("get callback %d: %v", id, err)
	}
	return cb
}

// register is an in-queue flow step: start_callback, then register number.
func register(h *harness, number string, media ...adapter.Prompt) func(ctx context.Context, c adapter.Call) error {
	return func(ctx context.Context, c adapter.Call) error {
		if err := h.eng.StartCallback(ctx, c, ""); err != nil {
			return err
		}
		res, err := h.eng.RegisterCallback(ctx, c, flowvm.CallbackRequest{Number: number, Media: media})
		if err != nil {
			return err
		}
		if res.Outcome != flowvm.Registered {
			h.t.Errorf("%s: register %s: %v (%s)", c.ID(), number, res.Outcome, res.Reason)
		}
		_, err = c.Play(ctx, []adapter.Prompt{"sound:callback-registered"}, adapter.PlayOptions{})
		return err
	}
}

// leg returns the channel id of the k-th (0-based) leg of kind
// ("dialing_agent" or "dialing_customer") the callback dialled.
func (h *harness) leg(cbID int64, kind string, k int) string {
	h.t.Helper()
	for _, e := range h.rec.Events() {
		if e.Call == cbName(cbID) && e.Source == trace.Callback && e.Kind == kind {
			if k == 0 {
				return e.Attrs["channel"]
			}
			k--
		}
	}
	h.t.Fatalf("no %s event #%d for callback %d\n%s", kind, k, cbID, h.dump())
	return ""
}
