package metrics

import (
	"context"
	"io"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap/zaptest"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/adapter/sim"
	"github.com/callflow/callflow/flowvm"
	"github.com/callflow/callflow/phone"
	"github.com/callflow/callflow/queue"
	"github.com/callflow/callflow/store"
	"github.com/callflow/callflow/trace"
)

var simStart = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// run drives the queue engine on the simulated switch: caller-1 is
// answered by the agent after 2 s and talks 30 s; caller-2 hangs up after
// 4 s in line (an abandon); an API callback created at 10 s is dialled when
// the agent is free and completes after 20 s of talk; an API callback to a
// premium-rate number is refused.
func run(t *testing.T, st *store.SQLite, sinks ...trace.Sink) (*queue.Engine, *trace.Recorder) {
	t.Helper()
	ctx := context.Background()
	hang := 5 * time.Second
	sc := &sim.Scenario{
		Callers: []sim.Caller{
			{ID: "caller-1", At: 0, From: "+420601000001"},
			{ID: "caller-2", At: time.Second, From: "+420601000002", HangupAt: &hang},
		},
		Agents:    []sim.Party{{Endpoint: "PJSIP/agent1", Behaviour: sim.Answer, AnswerAfter: 2 * time.Second, Talk: 30 * time.Second}},
		Customers: []sim.Party{{Number: "+420601000003", Behaviour: sim.Answer, AnswerAfter: 3 * time.Second, Talk: 20 * time.Second}},
	}
	sched := sim.NewScheduler(simStart)
	rec := &trace.Recorder{}
	sink := Tee(append([]trace.Sink{rec}, sinks...)...)
	sw := sim.New(sched, sc, sink, sim.Options{})
	var eng *queue.Engine
	var err error
	cfg := queue.Config{
		Queues: []queue.QueueConfig{{Name: "sales", Agents: []string{"PJSIP/agent1"}, HandleTime: time.Minute,
			Callback: queue.CallbackPolicy{ANI: "+420200000000", Trunk: "pstn", NumberPolicy: phone.Policy{DefaultRegion: "CZ"}}}},
		Trunks: map[string]queue.Trunk{"pstn": {Dial: "PJSIP/{e164}@trunk"}},
	}
	eng, err = queue.New(cfg, queue.Deps{Switch: sw, Store: st, Clock: sched, Trace: sink, Log: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	sched.AfterFunc(10*time.Second, func() {
		for _, n := range []string{"+420601000003", "+420900123456"} {
			if _, err := eng.CreateCallback(ctx, queue.CreateRequest{Queue: "sales", Number: n}); err != nil {
				t.Errorf("create %s: %v", n, err)
			}
		}
	})
	err = sw.Serve(ctx, func(ctx context.Context, c adapter.Call) {
		if err := c.Answer(ctx); err != nil {
			return
		}
		_, _ = eng.Enter(ctx, c, flowvm.EnterRequest{Queue: "sales"})
		_ = c.Hangup(ctx, adapter.CauseNormal)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := sched.Run(ctx, simStart.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	eng.Stop()
	return eng, rec
}

func openStore(t *testing.T) *store.SQLite {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestMetricsFromEngine(t *testing.T) {
	connected := atomic.Bool{}
	connected.Store(true)
	m := New(Options{SwitchConnected: connected.Load, Log: zaptest.NewLogger(t)})
	eng, rec := run(t, openStore(t), m)
	m.Registry().MustRegister(NewQueueCollector(eng))

	dump := func() string {
		var b strings.Builder
		_ = trace.WriteText(&b, simStart, rec.Events())
		return b.String()
	}
	counters := []struct {
		name string
		got  float64
		want float64
	}{
		{"joined", testutil.ToFloat64(m.joined.WithLabelValues("sales")), 2},
		{"abandons", testutil.ToFloat64(m.abandons.WithLabelValues("sales")), 1},
		{"exits connected", testutil.ToFloat64(m.exits.WithLabelValues("sales", "connected")), 1},
		{"callbacks registered", testutil.ToFloat64(m.callbacks.WithLabelValues("sales", "registered")), 1},
		{"callbacks invalid", testutil.ToFloat64(m.callbacks.WithLabelValues("sales", "invalid")), 1},
		{"callbacks connected", testutil.ToFloat64(m.callbacks.WithLabelValues("sales", "connected")), 1},
		{"callbacks completed", testutil.ToFloat64(m.callbacks.WithLabelValues("sales", "completed")), 1},
		{"agent answered (live + callback)", testutil.ToFloat64(m.dials.WithLabelValues("sales", "agent", "answered")), 2},
		{"customer answered", testutil.ToFloat64(m.dials.WithLabelValues("sales", "customer", "answered")), 1},
		{"flow faults", testutil.ToFloat64(m.faults), 0},
	}
	for _, c := range counters {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v\n%s", c.name, c.got, c.want, dump())
		}
	}
	if n := testutil.CollectAndCount(m.wait); n != 1 {
		t.Errorf("wait histogram series %d, want 1", n)
	}

	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(body)
	for _, want := range []string{
		`callflow_queue_wait_seconds_sum{queue="sales"} 2`,
		`callflow_queue_wait_seconds_count{queue="sales"} 1`,
		`callflow_conversation_seconds_count{kind="live",queue="sales"} 1`,
		`callflow_conversation_seconds_sum{kind="live",queue="sales"} 30`,
		`callflow_conversation_seconds_sum{kind="callback",queue="sales"} 20`,
		`callflow_switch_connected 1`,
		`callflow_queue_length{queue="sales"} 0`,
		`callflow_queue_agents{queue="sales",state="free"} 1`,
		`callflow_queue_ewt_seconds{queue="sales"}`,
		`callflow_queue_abandons_total{queue="sales"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("scrape lacks %q\n%s", want, text)
		}
	}
	connected.Store(false)
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(
		"# HELP callflow_switch_connected 1 while the switch connection is up.\n# TYPE callflow_switch_connected gauge\ncallflow_switch_connected 0\n"),
		"callflow_switch_connected"); err != nil {
		t.Error(err)
	}
}

func TestQueueCollectorLine(t *testing.T) {
	fq := fakeQueues{snap: queue.QueueSnapshot{Name: "sales", MeanHandle: time.Minute,
		Entries: []queue.EntrySnapshot{{Kind: "live", State: "live"}, {Kind: "callback", State: "registered"}, {Kind: "callback", State: "retry_wait"}},
		Agents:  []queue.AgentSnapshot{{State: "busy"}, {State: "skipped"}}}}
	m := New(Options{Queues: fq})
	want := `
# HELP callflow_queue_length Entries in the queue's line (live, reserved, held and callback).
# TYPE callflow_queue_length gauge
callflow_queue_length{queue="sales"} 3
# HELP callflow_queue_ewt_seconds Estimated wait of a caller joining now: (length+1) × mean handle time ÷ agents.
# TYPE callflow_queue_ewt_seconds gauge
callflow_queue_ewt_seconds{queue="sales"} 120
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "callflow_queue_length", "callflow_queue_ewt_seconds"); err != nil {
		t.Fatal(err)
	}
	if got := gaugeOf(t, m, "callflow_queue_callbacks", "retry_wait"); got != 1 {
		t.Fatalf("retry_wait callbacks %v", got)
	}
}

type fakeQueues struct{ snap queue.QueueSnapshot }

func (f fakeQueues) QueueNames() []string { return []string{f.snap.Name} }
func (f fakeQueues) Snapshot(name string) (queue.QueueSnapshot, bool) {
	return f.snap, name == f.snap.Name
}

// gaugeOf returns one gauge's value by name and label value.
func gaugeOf(t *testing.T, m *Metrics, name, labelValue string) float64 {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, met := range mf.GetMetric() {
			for _, lp := range met.GetLabel() {
				if lp.GetValue() == labelValue {
					return met.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s{%s}", name, labelValue)
	return 0
}
