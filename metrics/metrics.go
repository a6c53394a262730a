package metrics

import (
	"net/http"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/callflow/callflow/queue"
	"github.com/callflow/callflow/trace"
)

// Queues is what the scrape-time collector reads from the queue engine.
type Queues interface {
	QueueNames() []string
	Snapshot(queue string) (queue.QueueSnapshot, bool)
}

// Options configure Metrics.
type Options struct {
	// Queues is read at every scrape (nil: no queue gauges).
	Queues Queues
	// SwitchConnected reports the switch connection (nil: the gauge is not
	// exported).
	SwitchConnected func() bool
	// Runtime adds the Go runtime and process collectors.
	Runtime bool
	Log     *zap.Logger
}

// Buckets in seconds.
var (
	waitBuckets   = []float64{5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600}
	handleBuckets = []float64{10, 30, 60, 120, 180, 300, 600, 1200, 1800, 3600}
)

// Metrics is a private Prometheus registry fed by trace events (Emit) and
// by the queue engine's snapshots at scrape time. It is a trace.Sink and
// safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry
	log *zap.Logger

	joined    *prometheus.CounterVec
	exits     *prometheus.CounterVec
	abandons  *prometheus.CounterVec
	callbacks *prometheus.CounterVec
	dials     *prometheus.CounterVec
	wait      *prometheus.HistogramVec
	handle    *prometheus.HistogramVec
	steps     *prometheus.CounterVec
	faults    prometheus.Counter
	adoptions *prometheus.CounterVec

	mu      sync.Mutex
	timing  *timing
	pending map[string]*pendingLegs // unresolved dial legs by call id / cb-N
}

// pendingLegs are legs dialled and not yet answered or failed.
type pendingLegs struct {
	queue           string
	agent, customer bool
}

var _ trace.Sink = (*Metrics)(nil)

// New builds the metrics on a fresh private registry.
func New(opt Options) *Metrics {
	if opt.Log == nil {
		opt.Log = zap.NewNop()
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(), log: opt.Log, timing: newTiming(), pending: map[string]*pendingLegs{},
		joined: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callflow_queue_joined_total", Help: "Callers who joined a queue's line (a return to a kept place counts again).",
		}, []string{"queue"}),
		exits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callflow_queue_exits_total", Help: "How callers left a queue: connected, abandoned, timeout, full, callback, left.",
		}, []string{"queue", "outcome"}),
		abandons: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callflow_queue_abandons_total", Help: "Callers who hung up while waiting or while a callback reservation was open.",
		}, []string{"queue"}),
		callbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callflow_callbacks_total", Help: "Callback registrations and state transitions by event (registered, duplicate, invalid, connected, completed, failed, expired, cancelled, retry_wait, requeued, interrupted).",
		}, []string{"queue", "event"}),
		dials: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callflow_dial_attempts_total", Help: "Legs dialled by the queue engine by leg (agent, customer) and result (answered, busy, no_answer, failed, cancelled).",
		}, []string{"queue", "leg", "result"}),
		wait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "callflow_queue_wait_seconds", Help: "Time from joining a queue to an agent connected.", Buckets: waitBuckets,
		}, []string{"queue"}),
		handle: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "callflow_conversation_seconds", Help: "Agent conversation (handle) time by kind (live, callback).", Buckets: handleBuckets,
		}, []string{"queue", "kind"}),
		steps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callflow_flow_steps_total", Help: "Flow notations run, by notation type.",
		}, []string{"notation"}),
		faults: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "callflow_flow_faults_total", Help: "Flow run-time faults.",
		}),
		adoptions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callflow_adoptions_total", Help: "Calls and line rows found at start after a restart, by result (waiting, declined, held, conversation, ivr, closed, refused); queue is empty for IVR callers and refused rows.",
		}, []string{"queue", "result"}),
	}
	m.reg.MustRegister(m.joined, m.exits, m.abandons, m.callbacks, m.dials, m.wait, m.handle, m.steps, m.faults, m.adoptions)
	if opt.Queues != nil {
		m.reg.MustRegister(NewQueueCollector(opt.Queues))
	}
	if opt.SwitchConnected != nil {
		m.reg.MustRegister(NewSwitchGauge(opt.SwitchConnected))
	}
	if opt.Runtime {
		m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	return m
}

// Registry is the private registry (tests, extra collectors).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition format.
// Authentication is the caller's business.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorLog: zap.NewStdLog(m.log), ErrorHandling: promhttp.ContinueOnError})
}

// Emit implements trace.Sink.
func (m *Metrics) Emit(ev trace.Event) {
	switch ev.Source {
	case trace.Flow:
		if ev.Kind == "fault" {
			m.faults.Inc()
		} else {
			m.steps.WithLabelValues(ev.Kind).Inc()
		}
		return
	case trace.Queue, trace.Callback:
	default:
		return
	}
	q := ev.Attrs["queue"]
	m.mu.Lock()
	t := m.timing.observe(ev)
	m.mu.Unlock()
	if ev.Source == trace.Queue {
		m.queueEvent(ev, q, t)
	} else {
		m.callbackEvent(ev, q, t)
	}
}

func (m *Metrics) queueEvent(ev trace.Event, q string, t measure) {
	switch ev.Kind {
	case "joined":
		m.joined.WithLabelValues(q).Inc()
	case "connected":
		m.exits.WithLabelValues(q, "connected").Inc()
		if t.hasWait {
			m.wait.WithLabelValues(q).Observe(t.wait.Seconds())
		}
	case "conversation_end":
		if t.hasHandle {
			m.handle.WithLabelValues(q, "live").Observe(t.handle.Seconds())
		}
	case "abandoned":
		m.abandons.WithLabelValues(q).Inc()
		m.exits.WithLabelValues(q, "abandoned").Inc()
	case "timeout", "full", "left":
		m.exits.WithLabelValues(q, ev.Kind).Inc()
	case "registered":
		m.exits.WithLabelValues(q, "callback").Inc()
		m.callbacks.WithLabelValues(q, "registered").Inc()
	case "callback_duplicate":
		m.callbacks.WithLabelValues(q, "duplicate").Inc()
	case "callback_invalid":
		m.callbacks.WithLabelValues(q, "invalid").Inc()
	case "agent_offered":
		m.legStarted(ev.Call, q, true)
	case "agent_answered":
		m.legResult(ev.Call, q, true, "answered")
	case "agent_no_answer":
		m.legResult(ev.Call, q, true, resultOf(ev.Attrs["outcome"]))
	case "agent_withdrawn":
		m.legResult(ev.Call, q, true, "cancelled")
	case "adopted", "adopt_closed", "adopt_refused":
		m.adoptions.WithLabelValues(q, ev.Attrs["as"]).Inc()
	}
}

func (m *Metrics) callbackEvent(ev trace.Event, q string, t measure) {
	switch ev.Kind {
	case "registered", "duplicate", "invalid", "retry_wait", "requeued", "interrupted", "expired", "failed", "cancelled":
		m.callbacks.WithLabelValues(q, ev.Kind).Inc()
		m.legsEnded(ev.Call, "cancelled")
	case "connected":
		m.callbacks.WithLabelValues(q, "connected").Inc()
		m.legsEnded(ev.Call, "answered")
	case "completed":
		m.callbacks.WithLabelValues(q, "completed").Inc()
		if t.hasHandle {
			m.handle.WithLabelValues(q, "callback").Observe(t.handle.Seconds())
		}
		m.legsEnded(ev.Call, "answered")
	case "dialing_agent":
		m.legStarted(ev.Call, q, true)
	case "dialing_customer":
		m.legStarted(ev.Call, q, false)
	case "agent_answered":
		m.legResult(ev.Call, q, true, "answered")
	case "agent_no_answer":
		m.legResult(ev.Call, q, true, resultOf(ev.Attrs["outcome"]))
	case "customer_answered":
		m.legResult(ev.Call, q, false, "answered")
	default:
		if out, ok := strings.CutPrefix(ev.Kind, "customer_"); ok {
			m.legResult(ev.Call, q, false, resultOf(out))
		}
	}
}

// resultOf keeps the result label to a known set.
func resultOf(out string) string {
	switch out {
	case "busy", "no_answer", "failed", "answered", "cancelled":
		return out
	}
	return "failed"
}

func leg(agent bool) string {
	if agent {
		return "agent"
	}
	return "customer"
}

func (m *Metrics) legStarted(key, q string, agent bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.pending[key]
	if p == nil {
		if len(m.pending) >= maxTracked {
			m.log.Warn("metrics: too many unresolved dial legs; forgetting them", zap.Int("legs", len(m.pending)))
			clear(m.pending)
		}
		p = &pendingLegs{queue: q}
		m.pending[key] = p
	}
	if agent {
		p.agent = true
	} else {
		p.customer = true
	}
}

// legResult counts one leg's result; a result for a leg not seen starting
// still counts.
func (m *Metrics) legResult(key, q string, agent bool, result string) {
	m.mu.Lock()
	if p := m.pending[key]; p != nil {
		if agent {
			p.agent = false
		} else {
			p.customer = false
		}
		if !p.agent && !p.customer {
			delete(m.pending, key)
		}
	}
	m.mu.Unlock()
	m.dials.WithLabelValues(q, leg(agent), result).Inc()
}

// legsEnded resolves the legs still pending when the callback moves on:
// answered when it connected, cancelled otherwise (the run stopped them).
func (m *Metrics) legsEnded(key, result string) {
	m.mu.Lock()
	p := m.pending[key]
	delete(m.pending, key)
	m.mu.Unlock()
	if p == nil {
		return
	}
	if p.agent {
		m.dials.WithLabelValues(p.queue, "agent", result).Inc()
	}
	if p.customer {
		m.dials.WithLabelValues(p.queue, "customer", result).Inc()
	}
}

// NewQueueCollector returns the scrape-time queue collector alone, for a
// registry built before the engine existed.
func NewQueueCollector(q Queues) prometheus.Collector { return &queueCollector{q: q} }

// tee sends every event to several sinks in order.
type tee []trace.Sink

func (t tee) Emit(ev trace.Event) {
	for _, s := range t {
		s.Emit(ev)
	}
}

// Tee returns a sink that emits to each non-nil sink in order.
func Tee(sinks ...trace.Sink) trace.Sink {
	var t tee
	for _, s := range sinks {
		if s != nil {
			t = append(t, s)
		}
	}
	return t
}

// NewSwitchGauge exports connected() as callflow_switch_connected (1 or 0),
// read at scrape time.
func NewSwitchGauge(connected func() bool) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "callflow_switch_connected", Help: "1 while the switch connection is up.",
	}, func() float64 {
		if connected() {
			return 1
		}
		return 0
	})
}
