// Package service wires the running callflow service from its
// configuration: the switch driver, the flows, the queue engine, the store
// and the media store. cmd/callflow's serve command and the end-to-end tests
// use it; it holds no logic of its own beyond choosing a call's flow.
package service

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/callflow/callflow/adapter"
	agiadapter "github.com/callflow/callflow/adapter/agi"
	"github.com/callflow/callflow/adapter/asterisk"
	"github.com/callflow/callflow/adapter/freeswitch"
	"github.com/callflow/callflow/ari"
	"github.com/callflow/callflow/clock"
	"github.com/callflow/callflow/config"
	"github.com/callflow/callflow/flowmap"
	"github.com/callflow/callflow/flowvm"
	"github.com/callflow/callflow/media"
	"github.com/callflow/callflow/queue"
	"github.com/callflow/callflow/store"
	"github.com/callflow/callflow/trace"
)

// Options adjust a Service beyond its configuration.
type Options struct {
	Log *zap.Logger
	// Trace receives every flow, queue and callback event (nil: none).
	Trace trace.Sink
	// Switch replaces the configured switch (tests).
	Switch adapter.Switch
}

// Service is a configured, not yet running callflow.
type Service struct {
	cfg    *config.Config
	log    *zap.Logger
	sink   trace.Sink
	sw     adapter.Switch
	store  *store.SQLite
	media  *media.Store
	engine *queue.Engine
	flows  map[string]*flowvm.Program
	// agi serves switch.asterisk.fastagi_listen (nil: off).
	agi *agiadapter.Server

	mu       sync.Mutex
	running  bool        // Run may be called once
	draining atomic.Bool // set when Run's context ends: no new calls

	board atomic.Pointer[flowmap.Board] // the wallboard's flow view, once Handler ran

	// node is this process among several nodes (node.go); nil: one node.
	node *node
	// dialer is sw, fenced by the node's lease when there is a node.
	dialer adapter.Switch
}

// New loads the flows, opens the store and media store and builds the
// switch and the engine. Close releases them if Run is never called.
func New(ctx context.Context, cfg *config.Config, opt Options) (_ *Service, err error) {
	s := &Service{cfg: cfg, log: opt.Log, sink: opt.Trace, sw: opt.Switch}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	if s.sink == nil {
		s.sink = trace.Nop{}
	}
	if s.flows, err = LoadFlows(cfg); err != nil {
		return nil, err
	}
	if s.store, err = openStore(ctx, cfg.Store); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.store.Close()
		}
	}()
	if s.media, err = media.Open(cfg.Media.Dir, cfg.Media.Keep, clock.Real{}); err != nil {
		return nil, err
	}
	if s.sw == nil {
		if s.sw, err = newSwitch(cfg, s.media, s.log); err != nil {
			return nil, err
		}
	}
	if a := cfg.Switch.Asterisk; cfg.Switch.Type == config.Asterisk && a != nil && a.FastAGIListen != "" {
		ari, ok := s.sw.(agiadapter.ARI)
		if !ok {
			return nil, fmt.Errorf("service: fastagi_listen needs the Asterisk ARI driver, not %s", s.sw.Name())
		}
		if s.agi, err = agiadapter.New(agiadapter.Config{App: a.App, ARI: ari}, s.log); err != nil {
			return nil, err
		}
	}
	s.node = newNode(cfg, s.store, s.log)
	s.dialer = fence(s.sw, s.node)
	deps := queue.Deps{
		Switch: s.dialer, Store: s.store, Clock: clock.Real{}, Trace: s.sink, Log: s.log, Line: s.store,
	}
	if s.node != nil {
		deps.Fence = s.node.fence
		deps.LeaseLost = func(err error) {
			s.node.fenced.Add(1)
			s.node.lose(err)
		}
		deps.Owner, deps.Arbiter = s.node.lease, s.node.arbiter()
	}
	s.engine, err = queue.New(cfg.Queue, deps)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func newSwitch(cfg *config.Config, m *media.Store, log *zap.Logger) (adapter.Switch, error) {
	switch cfg.Switch.Type {
	case config.Asterisk:
		a := cfg.Switch.Asterisk
		return asterisk.New(asterisk.Config{
			ARI:   ari.Config{BaseURL: a.URL, User: a.Username, Pass: a.Password, App: a.App},
			Media: m, RecordingsDir: a.RecordingsDir,
		}, log)
	case config.FreeSWITCH:
		f := cfg.Switch.FreeSWITCH
		// FreeSWITCH writes recordings itself: into the media store's
		// directory, so the API serves them (same host, see deploy/freeswitch).
		return freeswitch.New(freeswitch.Config{
			Inbound: f.Inbound, Password: f.Password, OutboundListen: f.OutboundListen,
			RecordDir: m.Dir(),
		}, log)
	default:
		return nil, fmt.Errorf("service: switch type %q cannot serve real calls (the simulator runs with callflow simulate)", cfg.Switch.Type)
	}
}

// LoadFlows loads every flow a call can start in: the default and the ones
// mapped from dialled numbers, each one Program with the flows it
// references and the queues' in-queue flows (checked as such). Errors of
// all flows are returned together.
func LoadFlows(cfg *config.Config) (map[string]*flowvm.Program, error) {
	var inQueue []string
	for _, q := range cfg.Queue.Queues {
		if q.InQueueFlow != "" && !slices.Contains(inQueue, q.InQueueFlow) {
			inQueue = append(inQueue, q.InQueueFlow)
		}
	}
	names := map[string]bool{cfg.Flows.Default: true}
	for _, f := range cfg.Flows.ByDialed {
		names[f] = true
	}
	fsys := os.DirFS(cfg.Flows.Dir)
	flows := map[string]*flowvm.Program{}
	var errs []error
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	for _, n := range sorted {
		p, err := flowvm.Load(fsys, n+".yaml", inQueue...)
		if err != nil {
			errs = append(errs, fmt.Errorf("flow %s (in %s): %w", n, cfg.Flows.Dir, err))
			continue
		}
		flows[n] = p
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return flows, nil
}

// Engine is the queue engine (for the API).
func (s *Service) Engine() *queue.Engine { return s.engine }

// Store is the callback store (for the API).
func (s *Service) Store() *store.SQLite { return s.store }

// Media is the recording store (for the API).
func (s *Service) Media() *media.Store { return s.media }

// Switch is the switch driver.
func (s *Service) Switch() adapter.Switch { return s.sw }

// FlowFor chooses the flow of an inbound call: the first hand-over argument
// when it names a loaded flow, else the flow mapped from the dialled
// number, else the default flow.
func (s *Service) FlowFor(info adapter.CallInfo) (string, *flowvm.Program) {
	if len(info.Args) > 0 {
		if p, ok := s.flows[info.Args[0]]; ok {
			return info.Args[0], p
		}
	}
	if n, ok := s.cfg.Flows.ByDialed[info.Dialed]; ok {
		if p, ok := s.flows[n]; ok {
			return n, p
		}
	}
	return s.cfg.Flows.Default, s.flows[s.cfg.Flows.Default]
}

// Run starts the engine and serves calls until ctx ends or the switch
// connection fails.
//
// The end of ctx starts a drain (SIGTERM, SIGINT): Run stops taking new
// calls and returns at once, leaving every call up. The calls' handlers,
// the queue engine and the switch connection run under a context the end
// of ctx does not cancel, so no flow is cut short and no caller is hung up
// by us; a call handed over during the drain gets no flow and stays in the
// switch (Asterisk: in the Stasis application; FreeSWITCH: with the
// dialplan once its socket session ends) for the next process. After a
// drain the process is expected to flush its event log, close the store
// (Close commits what the group commit accepted) and exit.
func (s *Service) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.running {
		s.mu.Unlock()
		return errors.New("service: already running")
	}
	s.running = true
	s.mu.Unlock()
	if s.node != nil {
		// A standby waits here, connected to nothing but the database.
		if err := s.node.wait(ctx); err != nil {
			s.log.Info("stopped on standby", zap.NamedError("cause", context.Cause(ctx)))
			return nil
		}
		go s.node.keep() // ends when the lease is lost or released (Close)
	}

	callCtx := context.WithoutCancel(ctx)
	var agiL net.Listener
	if s.agi != nil {
		var err error
		if agiL, err = net.Listen("tcp", s.cfg.Switch.Asterisk.FastAGIListen); err != nil {
			return fmt.Errorf("service: fastagi_listen: %w", err)
		}
	}
	if err := s.engine.Start(callCtx); err != nil {
		if agiL != nil {
			agiL.Close()
		}
		return err
	}
	rt := flowvm.Runtime{Switch: s.dialer, Queues: s.engine, Clock: clock.Real{}, Trace: s.sink, Log: s.log}
	if agiL != nil {
		s.log.Info("fastagi listening", zap.String("addr", agiL.Addr().String()))
		// A drain closes the listener: Asterisk's AGI() then fails and
		// the dialplan goes on, while flows under way keep running.
		context.AfterFunc(ctx, func() { agiL.Close() })
		// Ends when the listener is closed (drain) or fails.
		go func() {
			err := s.agi.Serve(callCtx, agiL, func(ctx context.Context, c adapter.Call) { s.handle(ctx, c, rt) })
			if !s.draining.Load() && ctx.Err() == nil {
				s.log.Error("fastagi listener stopped", zap.Error(err))
			}
		}()
	}
	serveDone := make(chan error, 1)
	// New calls wait until the calls a previous process left are taken
	// back (adopt.go), so none of them loses its place to a newcomer.
	adopted := make(chan struct{})
	// Ends when the switch connection fails; after a drain, with the process.
	go func() {
		serveDone <- s.sw.Serve(callCtx, func(ctx context.Context, c adapter.Call) {
			if s.agi != nil && agiadapter.IsHandover(c.Info()) {
				// A flow run that began on FastAGI goes on with this call.
				if err := s.agi.Claim(ctx, c); err != nil {
					s.log.Warn("hand-over from agi refused; hanging up", zap.String("call_id", c.ID()), zap.Error(err))
				}
				return
			}
			<-adopted
			if s.draining.Load() {
				s.log.Info("draining: call not started, left in the switch for the next process", zap.String("call_id", c.ID()))
				// Returning would make the driver hang the call up: hold
				// it until the process exits.
				select {}
			}
			s.handle(ctx, c, rt)
		})
	}()
	// Ends when the calls are adopted (bounded by adoptTimeout).
	go func() {
		defer close(adopted)
		s.adopt(callCtx, rt)
	}()
	select {
	case err := <-serveDone:
		s.engine.Stop()
		return err
	case <-ctx.Done():
	case <-s.node.lostC():
		// Another node owns the switch now: dial nothing, leave the
		// calls up for it to re-adopt, and exit.
		s.draining.Store(true)
		s.engine.Drain()
		return ErrLeaseLost
	}
	s.draining.Store(true)
	s.engine.Drain()
	s.log.Info("draining: no new calls, no new agent offers; calls in progress stay up", zap.NamedError("cause", context.Cause(ctx)))
	return nil
}

// handle runs an inbound call's flow.
func (s *Service) handle(ctx context.Context, c adapter.Call, rt flowvm.Runtime) {
	info := c.Info()
	name, prog := s.FlowFor(info)
	log := s.log.With(zap.String("call_id", c.ID()), zap.String("flow", name))
	if prog == nil {
		log.Error("no flow for call", zap.String("dialed", info.Dialed), zap.Strings("args", info.Args))
		return
	}
	log.Info("call started", zap.String("from", info.CallerNumber), zap.String("dialed", info.Dialed))
	if b := s.board.Load(); b != nil {
		defer b.End(c.ID()) // the wallboard's flow view
	}
	rt.Log = log
	if err := prog.Run(ctx, c, rt); err != nil {
		log.Warn("flow ended with an error", zap.Error(err))
		return
	}
	log.Info("call ended")
}

// Close releases the store. Call it after Run has returned and after the
// event log (Observability.Close) has flushed into the store.
func (s *Service) Close() error {
	if s.node != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		s.node.release(ctx)
		cancel()
	}
	return s.store.Close()
}

// openStore opens the configured backend: PostgreSQL when a DSN is set,
// SQLite otherwise.
func openStore(ctx context.Context, c config.StoreConfig) (*store.DB, error) {
	if c.Postgres != "" {
		return store.OpenPostgres(ctx, c.Postgres)
	}
	return store.OpenSQLite(ctx, c.Path)
}
