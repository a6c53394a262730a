package service

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/callflow/callflow/adapter/asterisk"
	"github.com/callflow/callflow/adapter/freeswitch"
	"github.com/callflow/callflow/api"
	"github.com/callflow/callflow/ari"
	"github.com/callflow/callflow/config"
	"github.com/callflow/callflow/flowmap"
	"github.com/callflow/callflow/metrics"
	"github.com/callflow/callflow/trace"
)

// Observability holds the service's Prometheus metrics and its reporting
// event log. Create it before New and pass Sink() as Options.Trace: the
// engine and the flow VM then feed both.
type Observability struct {
	Metrics *metrics.Metrics
	log     *zap.Logger
	events  atomic.Pointer[metrics.EventLog]
	early   atomic.Int64 // lifecycle events seen before the event log was attached
	board   atomic.Pointer[flowmap.Board]
	sink    trace.Sink
}

// NewObservability builds the metrics; extra (may be nil) also receives
// every trace event, e.g. the --trace file.
func NewObservability(extra trace.Sink, log *zap.Logger) *Observability {
	if log == nil {
		log = zap.NewNop()
	}
	o := &Observability{Metrics: metrics.New(metrics.Options{Runtime: true, Log: log}), log: log}
	o.sink = metrics.Tee(extra, o.Metrics, trace.Sink(eventLogSink{o}), trace.Sink(boardSink{o}))
	return o
}

// Sink is the trace sink to pass as Options.Trace.
func (o *Observability) Sink() trace.Sink { return o.sink }

// eventLogSink forwards to the event log once it is attached.
type eventLogSink struct{ o *Observability }

func (s eventLogSink) Emit(ev trace.Event) {
	if el := s.o.events.Load(); el != nil {
		el.Emit(ev)
		return
	}
	if ev.Source == trace.Queue || ev.Source == trace.Callback {
		s.o.early.Add(1)
		s.o.log.Warn("trace event before the event log was attached; not logged", zap.String("kind", ev.Kind))
	}
}

// boardSink forwards to the wallboard's flow view once it is attached.
type boardSink struct{ o *Observability }

func (s boardSink) Emit(ev trace.Event) {
	if b := s.o.board.Load(); b != nil {
		b.Emit(ev)
	}
}

// Close flushes and stops the event log.
func (o *Observability) Close() error {
	if el := o.events.Swap(nil); el != nil {
		return el.Close()
	}
	return nil
}

// Health reports the switch connection: the Asterisk driver's event
// connection state, the FreeSWITCH driver's inbound event socket (and its
// outbound listener); "unknown" (and healthy) for switches without one.
func (s *Service) Health() (ok bool, detail string) {
	if s.node != nil && !s.node.holding() {
		return true, "standby" // a node waiting for the switch lease (node.go)
	}
	if a, isAst := s.sw.(*asterisk.Switch); isAst {
		st := a.State()
		return st == ari.Connected, st.String()
	}
	if f, isFS := s.sw.(*freeswitch.Switch); isFS {
		if f.Connected() {
			return true, "connected"
		}
		return false, "disconnected"
	}
	return true, "unknown"
}

// Handler attaches o to the service (the queue collector, the switch
// gauge and the event log on the service's store) and returns the HTTP API.
// Call it once, before Run.
func (s *Service) Handler(o *Observability) (*api.Handler, error) {
	if err := o.Metrics.Registry().Register(metrics.NewQueueCollector(s.engine)); err != nil {
		return nil, fmt.Errorf("service: metrics: %w", err)
	}
	o.Metrics.InitQueues(s.engine.QueueNames())
	_, isAst := s.sw.(*asterisk.Switch)
	_, isFS := s.sw.(*freeswitch.Switch)
	if isAst || isFS {
		gauge := metrics.NewSwitchGauge(func() bool { ok, _ := s.Health(); return ok })
		if err := o.Metrics.Registry().Register(gauge); err != nil {
			return nil, fmt.Errorf("service: metrics: %w", err)
		}
	}
	if s.node != nil {
		for _, c := range s.node.collectors() {
			if err := o.Metrics.Registry().Register(c); err != nil {
				return nil, fmt.Errorf("service: metrics: %w", err)
			}
		}
	}
	if !o.events.CompareAndSwap(nil, metrics.NewEventLog(s.store, s.log)) {
		return nil, errors.New("service: observability already attached")
	}
	board := flowmap.New(s.flows, nil)
	o.board.Store(board)
	s.board.Store(board)
	return api.New(api.Options{
		Engine: s.engine, Store: s.store, Media: s.media, Token: s.cfg.API.Token,
		Health: s.Health, Metrics: o.Metrics.Handler(), Flows: board, Log: s.log.Named("api"),
		Nodes: s.nodesView(), Standby: s.standby,
	})
}

// RunWithAPI serves the HTTP API on the configured address and runs the
// service until ctx ends or either fails. The address is bound before the
// service starts, so a port in use fails at once.
func (s *Service) RunWithAPI(ctx context.Context, o *Observability) error {
	h, err := s.Handler(o)
	if err != nil {
		return err
	}
	addr := s.cfg.API.Listen
	if !h.RequiresToken() && !config.IsLoopback(addr) {
		return fmt.Errorf("service: api: no token configured and %s is not a loopback address", addr)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("service: api: listen %s: %w", addr, err)
	}
	s.log.Info("api listening", zap.String("addr", ln.Addr().String()), zap.Bool("auth", h.RequiresToken()))
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	apiDone := make(chan error, 1)
	go func() { // ends when ctx is cancelled (below, or by the caller)
		err := api.Serve(ctx, ln, h)
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			cancel(fmt.Errorf("service: api: %w", err))
		}
		apiDone <- err
	}()
	runErr := s.Run(ctx)
	cancel(nil)
	<-apiDone
	// Flush the event log while the store is still open.
	if err := o.Close(); err != nil && runErr == nil {
		runErr = fmt.Errorf("service: event log: %w", err)
	}
	if cause := context.Cause(ctx); runErr == nil && cause != nil && !errors.Is(cause, context.Canceled) {
		runErr = cause
	}
	return runErr
}

// nodesView is GET /v1/nodes; nil for a single node.
func (s *Service) nodesView() api.NodesFunc {
	if s.node == nil {
		return nil
	}
	return s.node.view
}

// standby tells whether this node waits for its switch's lease.
func (s *Service) standby() bool { return s.node != nil && !s.node.holding() }
