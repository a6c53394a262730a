package asterisk

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/ari"
	"github.com/callflow/callflow/media"
)

// OriginateMarker is the Stasis argument of every channel Originate places.
const OriginateMarker = "callflow-originated"

// Defaults.
const (
	DefaultOriginateTimeout = 30 * time.Second
	// DefaultOrphanGrace is Config.OrphanGrace when unset.
	DefaultOrphanGrace = 10 * time.Second
	// DefaultRetryWhileDown is ARI.RetryWhileDown when unset: a request
	// on a call that could not reach Asterisk because the connection is
	// being lost (a prompt, a bridge join, a hang-up) waits this long for
	// the reconnect and is sent again, instead of failing the caller's
	// flow (docs/connection-loss.md).
	DefaultRetryWhileDown = 30 * time.Second
	// DefaultReconnectMax is ARI.ReconnectMax when unset. The ARI
	// client's own cap (30 s) would leave callers waiting up to that long
	// after a short loss; a refused attempt costs Asterisk next to nothing.
	DefaultReconnectMax = 2 * time.Second
	// RecordGrace is how long Record waits for RecordingFinished after a
	// hang-up or after stopping a recording at its limit.
	RecordGrace = 5 * time.Second
	// recordStopSlack is how long past MaxDuration Record lets Asterisk
	// stop a recording by itself before stopping it.
	recordStopSlack = 250 * time.Millisecond
	// cleanupTimeout bounds requests sent after the caller's context ended
	// (stop a playback, hang a call up when its handler returned).
	cleanupTimeout = 5 * time.Second
	// linger keeps a call's dispatcher reading after the hang-up, so late
	// events (ChannelDestroyed, RecordingFinished) still reach it.
	linger = RecordGrace + 2*time.Second
)

// Config configures a Switch.
type Config struct {
	// ARI is the connection to Asterisk (base URL, user, password, app).
	ARI ari.Config
	// Media, if set, receives every finished recording, fetched through
	// GET /recordings/stored/{name}/file. Without it recordings stay on
	// Asterisk only and Recording.Size is 0.
	Media *media.Store
	// RecordingsDir, if set, is the folder where this Asterisk stores
	// recordings (its astspooldir's recording/) as callflow's host sees it,
	// when both run on one machine. Finished recordings are then copied
	// from there into Media instead of downloaded over ARI, which spares
	// Asterisk's HTTP server a request per recording. A recording missing
	// there is downloaded as without it (and logged), so a wrong folder
	// costs the saving, never a message.
	RecordingsDir string
	// DefaultOriginateTimeout is the ring time when OriginateRequest.Timeout
	// is 0 (default 30 s).
	DefaultOriginateTimeout time.Duration
	// OrphanGrace is how long an originated channel that answers with no
	// Originate waiting for it (placed by a process that restarted) is kept
	// for Attach before it is hung up (default 10 s).
	OrphanGrace time.Duration
}

// Switch is an Asterisk reached over ARI.
type Switch struct {
	cfg    Config
	client *ari.Client
	log    *zap.Logger

	serving atomic.Bool // Serve has been called
	running atomic.Bool // Serve runs (events flow or will flow again)

	mu      sync.Mutex
	calls   map[string]*call   // every call with a running dispatcher, by channel id
	orphans map[string]*orphan // answered originated channels nobody waits for, by channel id
	bridges map[string]bool    // bridges this process created and has not destroyed

	// handlers counts running call handlers, inbound and adopted; Serve
	// waits for them before it returns.
	handlers sync.WaitGroup
}

var (
	_ adapter.Switch = (*Switch)(nil)
	_ adapter.Call   = (*call)(nil)
	_ adapter.Bridge = (*bridge)(nil)
)

// New checks cfg and returns a Switch. It does not connect: call Serve.
func New(cfg Config, log *zap.Logger) (*Switch, error) {
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.DefaultOriginateTimeout < 0 {
		return nil, fmt.Errorf("asterisk: negative default originate timeout %v", cfg.DefaultOriginateTimeout)
	}
	if cfg.DefaultOriginateTimeout == 0 {
		cfg.DefaultOriginateTimeout = DefaultOriginateTimeout
	}
	if cfg.OrphanGrace < 0 {
		return nil, fmt.Errorf("asterisk: negative orphan grace %v", cfg.OrphanGrace)
	}
	if cfg.OrphanGrace == 0 {
		cfg.OrphanGrace = DefaultOrphanGrace
	}
	if cfg.ARI.ReconnectMax == 0 {
		cfg.ARI.ReconnectMax = DefaultReconnectMax
	}
	if cfg.ARI.RetryWhileDown == 0 {
		cfg.ARI.RetryWhileDown = DefaultRetryWhileDown
	}
	if cfg.ARI.EventTypes == nil {
		cfg.ARI.EventTypes = eventTypes
	}
	client, err := ari.New(cfg.ARI, log) // it adds the switch field itself
	if err != nil {
		return nil, fmt.Errorf("asterisk: %w", err)
	}
	log = log.With(zap.String("switch", "asterisk"))
	return &Switch{cfg: cfg, client: client, log: log, calls: make(map[string]*call), orphans: make(map[string]*orphan)}, nil
}

// Name is "asterisk".
func (s *Switch) Name() string { return "asterisk" }

// State is the state of the event connection (for health checks).
func (s *Switch) State() ari.State { return s.client.State() }

// WaitConnected blocks until the event connection is up, Serve has stopped
// (an error wrapping adapter.ErrClosed) or ctx ends.
func (s *Switch) WaitConnected(ctx context.Context) error {
	if err := s.client.WaitState(ctx, ari.Connected); err != nil {
		if errors.Is(err, ari.ErrClosed) {
			return fmt.Errorf("asterisk: %w", adapter.ErrClosed)
		}
		return fmt.Errorf("asterisk: %w", err)
	}
	return nil
}

// Stats are the ARI client's event counters.
func (s *Switch) Stats() ari.Stats { return s.client.Stats() }

// Serve connects the event websocket and runs h for every inbound call until
// ctx ends; it may be called once. Serve returns ctx's cause after every
// handler has returned and its call has been hung up.
func (s *Switch) Serve(ctx context.Context, h adapter.Handler) error {
	if h == nil {
		return errors.New("asterisk: serve: nil handler")
	}
	if !s.serving.CompareAndSwap(false, true) {
		return errors.New("asterisk: serve called twice")
	}
	acc := s.client.Accept()
	defer acc.Close()
	// The switch itself needs three types of event; every other event
	// goes to its call's subscription only.
	all := s.client.Subscribe(ari.TypeKey("Resynced"), ari.TypeKey("ChannelLeftBridge"), ari.TypeKey("ApplicationReplaced"))
	defer all.Close()

	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	runDone := make(chan error, 1)
	s.running.Store(true)
	// Run ends when runCtx ends (ctx, or Serve returning).
	go func() { runDone <- s.client.Run(runCtx) }()

	defer s.handlers.Wait()
	defer s.dropOrphans()
	accC, allC := acc.C(), all.C()
	var runErr error
	for accC != nil || allC != nil {
		select {
		case ev, ok := <-accC:
			if !ok {
				accC = nil
				continue
			}
			if in, isIn := ev.(*ari.Incoming); isIn {
				s.incoming(ctx, in, h, &s.handlers)
			}
		case ev, ok := <-allC:
			if !ok {
				allC = nil
				continue
			}
			switch e := ev.(type) {
			case *ari.Resynced:
				s.resynced(e)
				s.sweepBridges(ctx, e.Bridges)
			case *ari.ChannelLeftBridge:
				if len(e.Bridge.Channels) == 0 {
					s.sweepBridges(ctx, []ari.Bridge{e.Bridge})
				}
			case *ari.ApplicationReplaced:
				s.log.Error("another connection took over the stasis application; no more events until reconnect")
			}
		case runErr = <-runDone:
			// Run closed every subscription: drain what is left, then stop.
			runDone = nil
		}
	}
	if runDone != nil {
		runErr = <-runDone
	}
	s.running.Store(false)
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return fmt.Errorf("asterisk: event connection ended: %w (%w)", adapter.ErrClosed, runErr)
}

// incoming starts the handler of a new channel.
func (s *Switch) incoming(ctx context.Context, in *ari.Incoming, h adapter.Handler, wg *sync.WaitGroup) {
	st := in.Start
	ch := st.Channel
	if len(st.Args) > 0 && st.Args[0] == OriginateMarker {
		s.parkOrphan(ctx, in)
		return
	}
	info := adapter.CallInfo{
		ID:           ch.ID,
		Direction:    adapter.Inbound,
		CallerNumber: ch.Caller.Number,
		CallerName:   ch.Caller.Name,
		Dialed:       ch.Dialplan.Exten,
		Args:         append([]string(nil), st.Args...),
	}
	c := s.newCall(info, in.Sub, ch.State == "Up")
	c.log.Info("inbound call", zap.String("caller", info.CallerNumber), zap.String("dialed", info.Dialed), zap.Strings("args", info.Args))
	wg.Add(1)
	// The handler goroutine ends when h returns; h's context ends with
	// Serve's, and its call's operations fail once the call is gone.
	go func() {
		defer wg.Done()
		defer c.finish(ctx)
		defer func() {
			if r := recover(); r != nil {
				c.log.Error("call handler panicked", zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
			}
		}()
		h(ctx, c)
	}()
}

// resynced marks calls whose channels vanished during an outage as hung up
// and lets running operations re-check what they wait for.
func (s *Switch) resynced(e *ari.Resynced) {
	live := make(map[string]bool, len(e.Channels))
	for _, ch := range e.Channels {
		live[ch.ID] = true
	}
	s.mu.Lock()
	calls := make([]*call, 0, len(s.calls))
	for _, c := range s.calls {
		calls = append(calls, c)
	}
	s.mu.Unlock()
	for _, c := range calls {
		if live[c.id] {
			if e.Reconnect {
				c.resync()
			}
			continue
		}
		c.log.Info("channel gone after reconnect")
		c.markGone(adapter.ErrHangup, adapter.CauseNormal, false)
	}
}

// sweepBridges destroys empty bridges of ours that no Bridge of this
// process owns: what a killed process left behind (its queue's holding
// bridge, the mixing bridge of a conversation re-attached after a restart).
// A bridge with channels stays until its last channel leaves.
func (s *Switch) sweepBridges(ctx context.Context, bridges []ari.Bridge) {
	for _, b := range bridges {
		if !strings.HasPrefix(b.ID, bridgeIDPrefix) || len(b.Channels) > 0 {
			continue
		}
		s.mu.Lock()
		owned := s.bridges[b.ID]
		s.mu.Unlock()
		if owned {
			continue
		}
		id := b.ID
		// Ends after one request bounded by cleanupTimeout.
		go func() {
			dctx, cancel := detached(ctx)
			defer cancel()
			err := s.client.DestroyBridge(dctx, id)
			if err != nil && !errors.Is(err, ari.ErrNotFound) && !errors.Is(err, ari.ErrConflict) {
				s.log.Warn("destroy stale bridge", zap.String("bridge", id), zap.Error(err))
				return
			}
			s.log.Info("stale bridge destroyed", zap.String("bridge", id))
		}()
	}
}

func (s *Switch) unregister(c *call) {
	s.mu.Lock()
	if s.calls[c.id] == c {
		delete(s.calls, c.id)
	}
	s.mu.Unlock()
}

// detached returns a context for a cleanup request after ctx ended.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
}
