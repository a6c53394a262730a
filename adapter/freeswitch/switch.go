package freeswitch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/esl"
)

var _ adapter.Switch = (*Switch)(nil)

// Defaults.
const (
	DefaultOriginateTimeout = 30 * time.Second
	DefaultHoldMusic        = "local_stream://moh"
	DefaultRecordDir        = "/var/lib/freeswitch/recordings"
	DefaultCommandTimeout   = 5 * time.Second
	DefaultLanguage         = "en"
)

// Config configures the driver.
type Config struct {
	// Inbound is FreeSWITCH's event socket (host:port), used to originate
	// and to watch originated channels.
	Inbound  string
	Password string
	// OutboundListen is where callflow accepts the dialplan's
	// "socket … async full" sessions (host:port; port 0 picks one, see
	// OutboundAddr).
	OutboundListen string
	// DefaultOriginateTimeout is the ring time when OriginateRequest.Timeout
	// is 0 (default 30 s).
	DefaultOriginateTimeout time.Duration
	// HoldMusic is the stream played in holding bridges whose MusicClass is
	// "" or "default" (default "local_stream://moh"); another class C
	// plays "local_stream://C".
	HoldMusic string
	// RecordDir is the directory FreeSWITCH writes recordings into, as a
	// path on the FreeSWITCH host (default /var/lib/freeswitch/recordings).
	// Point it at the media store's directory when both run on one host.
	RecordDir string
	// CommandTimeout bounds each ESL command's reply (default 5 s).
	CommandTimeout time.Duration
	// Language is the say module used for number: prompts (default "en").
	Language string
}

func (c *Config) validate() error {
	var errs []error
	for _, a := range []struct{ name, v string }{{"inbound", c.Inbound}, {"outbound_listen", c.OutboundListen}} {
		if _, _, err := net.SplitHostPort(a.v); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: want host:port: %w", a.name, a.v, err))
		}
	}
	if c.Password == "" || strings.ContainsAny(c.Password, " \t\r\n") {
		errs = append(errs, errors.New("password: must be non-empty without whitespace"))
	}
	if c.DefaultOriginateTimeout < 0 || c.CommandTimeout < 0 {
		errs = append(errs, errors.New("timeouts must not be negative"))
	}
	if c.DefaultOriginateTimeout == 0 {
		c.DefaultOriginateTimeout = DefaultOriginateTimeout
	}
	if c.CommandTimeout == 0 {
		c.CommandTimeout = DefaultCommandTimeout
	}
	if c.HoldMusic == "" {
		c.HoldMusic = DefaultHoldMusic
	}
	if err := checkMusic(c.HoldMusic); err != nil {
		errs = append(errs, fmt.Errorf("hold_music: %w", err))
	}
	if c.RecordDir == "" {
		c.RecordDir = DefaultRecordDir
	}
	if !filepath.IsAbs(c.RecordDir) {
		errs = append(errs, fmt.Errorf("record_dir %q: want an absolute path", c.RecordDir))
	} else if err := esl.CheckArg(c.RecordDir); err != nil {
		errs = append(errs, fmt.Errorf("record_dir: %w", err))
	}
	c.RecordDir = filepath.Clean(c.RecordDir)
	if c.Language == "" {
		c.Language = DefaultLanguage
	}
	if strings.Trim(c.Language, "abcdefghijklmnopqrstuvwxyz_") != "" {
		errs = append(errs, fmt.Errorf("language %q: want [a-z_]+", c.Language))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("freeswitch: config: %w", err)
	}
	return nil
}

// redialMax caps the inbound connection's redial back-off: a refused
// attempt costs FreeSWITCH next to nothing, and callers wait for the
// reconnect (docs/connection-loss.md).
const redialMax = 2 * time.Second

// inboundEvents are subscribed on the inbound connection; filters on
// Unique-ID (one per originated channel) and Job-UUID (one per originate)
// keep every other channel's events away.
var inboundEvents = []string{"CHANNEL_ANSWER", "CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE",
	"CHANNEL_EXECUTE_COMPLETE", "CHANNEL_BRIDGE", "CHANNEL_UNBRIDGE", "DTMF",
	"RECORD_START", "RECORD_STOP", "BACKGROUND_JOB"}

// sessionEvents are added to an outbound session's myevents, which lacks
// them.
var sessionEvents = []string{"RECORD_START", "RECORD_STOP"}

// sessionDropped are taken out of an outbound session's myevents
// (nixevent): the driver never waits for them, and they were 56 % of a
// call's events in a load run (per 50 calls: 398 CHANNEL_EXECUTE, 254
// CHANNEL_STATE, 62 CHANNEL_UNPARK, 41 CHANNEL_PARK of 1,351), each a few
// kilobytes of headers to read and parse. TestSessionEventsCoverDriver
// fails when the driver's source names one of them.
var sessionDropped = []string{"CHANNEL_EXECUTE", "CHANNEL_STATE", "CHANNEL_PARK", "CHANNEL_UNPARK"}

// Switch drives FreeSWITCH over ESL.
type Switch struct {
	cfg    Config
	log    *zap.Logger
	idle   string // Unique-ID of the placeholder filter
	faults atomic.Int64

	mu      sync.Mutex
	serving bool
	conn    *esl.Conn
	addr    net.Addr
	ready   chan struct{}    // closed once Serve is connected and listening
	ended   chan struct{}    // closed when Serve has returned
	calls   map[string]*call // originated and attached calls by Call.ID
	// sessions holds the Unique-IDs of the running outbound sessions
	// (adopt.go: Survivors leaves them out).
	sessions sync.Map

	// attaching admits one Attach at a time (capacity 1), so two never
	// watch and filter the same channel.
	attaching chan struct{}

	// reconnects is closed and replaced after every re-sync of a redialled
	// inbound connection (guarded by mu): originates whose
	// BACKGROUND_JOB may have been lost look their channel up then.
	reconnects chan struct{}
}

// New checks cfg and returns a driver; Serve connects it.
func New(cfg Config, log *zap.Logger) (*Switch, error) {
	if log == nil {
		log = zap.NewNop()
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Switch{cfg: cfg, log: log.With(zap.String("switch", "freeswitch")), idle: "callflow-idle-" + esl.NewUUID(),
		ready: make(chan struct{}), ended: make(chan struct{}),
		calls: map[string]*call{}, attaching: make(chan struct{}, 1), reconnects: make(chan struct{})}, nil
}

// Name is "freeswitch".
func (s *Switch) Name() string { return "freeswitch" }

// Ready is closed once Serve has its inbound connection and listens for
// outbound sessions.
func (s *Switch) Ready() <-chan struct{} { return s.ready }

// OutboundAddr is the address outbound sessions are accepted on ("" before
// Ready).
func (s *Switch) OutboundAddr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.addr == nil {
		return ""
	}
	return s.addr.String()
}

// Connected reports whether Serve has its inbound connection up and
// listens for outbound sessions: false before Ready, while the inbound
// connection redials (FreeSWITCH restarting) and after Serve ended.
func (s *Switch) Connected() bool {
	s.mu.Lock()
	conn := s.conn
	s.mu.Unlock()
	return conn != nil && conn.Connected()
}

// Faults counts session commands that timed out (each killed its call).
func (s *Switch) Faults() int64 { return s.faults.Load() }

// inbound waits for the inbound connection of a running Serve.
func (s *Switch) inbound(ctx context.Context) (*esl.Conn, error) {
	select {
	case <-s.ready:
	case <-s.ended:
		return nil, fmt.Errorf("freeswitch: %w", adapter.ErrClosed)
	case <-ctx.Done():
		return nil, fmt.Errorf("freeswitch: waiting for the inbound connection: %w", ctx.Err())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return nil, fmt.Errorf("freeswitch: %w", adapter.ErrClosed)
	}
	return s.conn, nil
}

// Serve dials the inbound connection (subscribe, placeholder filter),
// listens for outbound sessions and runs h for each on its own goroutine,
// until ctx ends or the inbound connection is gone for good. Serve runs
// once per Switch.
func (s *Switch) Serve(ctx context.Context, h adapter.Handler) error {
	if h == nil {
		return errors.New("freeswitch: serve: nil handler")
	}
	s.mu.Lock()
	if s.serving {
		s.mu.Unlock()
		return errors.New("freeswitch: serve: already serving")
	}
	s.serving = true
	s.mu.Unlock()
	defer close(s.ended)

	conn, err := esl.Dial(ctx, s.cfg.Inbound, s.cfg.Password, esl.Options{Logger: s.log,
		CommandTimeout: s.cfg.CommandTimeout, OnEvent: s.stray, OnReconnect: s.resync, RedialMax: redialMax})
	if err != nil {
		return fmt.Errorf("freeswitch: connect %s: %w: %w", s.cfg.Inbound, adapter.ErrClosed, err)
	}
	defer conn.Close() // no OnEvent (stray) call after it returns
	if err := conn.Subscribe(ctx, esl.FormatPlain, inboundEvents...); err != nil {
		return fmt.Errorf("freeswitch: subscribe: %w", err)
	}
	// With no filter FreeSWITCH sends every channel's events; one that
	// matches nothing leaves only our Unique-ID and Job-UUID filters.
	if err := conn.AddFilter(ctx, esl.Filter{Header: "Unique-ID", Value: s.idle}); err != nil {
		return fmt.Errorf("freeswitch: filter: %w", err)
	}
	lctx, stop := context.WithCancel(ctx)
	defer stop()
	srv, err := esl.Listen(lctx, s.cfg.OutboundListen, s.session(h),
		esl.ServerOptions{Logger: s.log, CommandTimeout: s.cfg.CommandTimeout})
	if err != nil {
		return fmt.Errorf("freeswitch: %w", err)
	}
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Wait() }() // ends when the listener stops (lctx) and sessions end
	s.mu.Lock()
	s.conn, s.addr = conn, srv.Addr()
	s.mu.Unlock()
	close(s.ready)
	s.log.Info("freeswitch connected", zap.String("inbound", s.cfg.Inbound), zap.Stringer("outbound", srv.Addr()))

	var result error
	select {
	case <-ctx.Done():
		result = ctx.Err()
	case <-conn.Done():
		result = fmt.Errorf("freeswitch: inbound connection: %w: %w", adapter.ErrClosed, conn.Err())
	case err := <-srvDone:
		srvDone <- err
		switch {
		case ctx.Err() != nil: // the listener stopped because ctx ended
			result = ctx.Err()
		case err != nil:
			result = fmt.Errorf("freeswitch: outbound listener: %w", err)
		default:
			result = errors.New("freeswitch: outbound listener stopped")
		}
	}
	stop()
	if err := <-srvDone; err != nil && ctx.Err() == nil {
		s.log.Error("outbound listener", zap.Error(err))
	}
	s.mu.Lock()
	s.conn = nil
	s.mu.Unlock()
	return result
}

// session runs one outbound-socket session: linger, myevents, the
// record events, then the handler; then hang up if still up (esl sends
// exit when this returns).
func (s *Switch) session(h adapter.Handler) esl.Handler {
	return func(ctx context.Context, sess *esl.Session) {
		id := sess.UUID()
		if err := esl.CheckArg(id); err != nil {
			s.log.Error("outbound session with a bad Unique-ID", zap.Error(err))
			return
		}
		d := sess.ChannelData()
		info := adapter.CallInfo{ID: id, Direction: adapter.Inbound,
			CallerNumber: d.Get("Caller-Caller-ID-Number"), CallerName: d.Get("Caller-Caller-ID-Name"),
			Dialed: d.Get("Caller-Destination-Number"), Args: splitArgs(d.Get("variable_callflow_args"))}
		c := s.newCall(info, sess, sess.Events(), d.Get("Answer-State") == "answered")
		s.sessions.Store(id, true)
		defer s.sessions.Delete(id)
		go c.dispatch() // ends when the session's event stream ends (socket closed)
		for _, cmd := range []esl.Command{esl.Linger{}, esl.MyEvents{}, esl.Events{Format: esl.FormatPlain, Names: sessionEvents},
			esl.NixEvent{Names: sessionDropped}} {
			if _, err := c.send(ctx, "session setup", cmd); err != nil {
				c.log.Error("session setup failed", zap.Error(err))
				c.finish()
				return
			}
		}
		c.log.Info("call arrived", zap.String("caller", info.CallerNumber), zap.String("dialed", info.Dialed))
		h(ctx, c)
		c.finish()
	}
}

// splitArgs reads the callflow_args channel variable: comma-separated.
func splitArgs(v string) []string {
	if v == "" {
		return nil
	}
	parts := strings.Split(v, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

// stray receives inbound-connection events no call watches (late events
// of a released channel, other clients' jobs).
func (s *Switch) stray(e *esl.Event) {
	s.log.Debug("esl event without a call", zap.String("event", e.Name()), zap.String("uuid", e.UniqueID()))
}

// resync runs after the inbound connection was redialled: originated
// channels FreeSWITCH no longer knows are marked hung up (cause normal:
// the real cause was lost with the connection).
func (s *Switch) resync(ctx context.Context) {
	s.mu.Lock()
	calls := make([]*call, 0, len(s.calls))
	for _, c := range s.calls {
		calls = append(calls, c)
	}
	conn := s.conn
	s.mu.Unlock()
	if conn == nil {
		return
	}
	for _, c := range calls {
		if c.originating.Load() {
			// Originate decides (its job result, a uuid_dump after this
			// re-sync, or its ring timer).
			continue
		}
		out, err := conn.API(ctx, esl.API{Cmd: "uuid_exists", Args: c.uuid})
		if err != nil {
			s.log.Warn("resync: uuid_exists", zap.String("call_id", c.id), zap.Error(err))
			continue
		}
		if strings.TrimSpace(out) == "false" {
			c.markGone(adapter.CauseNormal, "gone after reconnect")
			c.cleanup()
		}
	}
	s.mu.Lock()
	close(s.reconnects)
	s.reconnects = make(chan struct{})
	s.mu.Unlock()
	s.log.Info("freeswitch re-synced after reconnect", zap.Int("calls", len(calls)))
}

// reconnected returns a channel closed after the next re-sync of a
// redialled inbound connection.
func (s *Switch) reconnected() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reconnects
}

// trackNew tracks c unless a call with its id is tracked already.
func (s *Switch) trackNew(c *call) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.calls[c.id] != nil {
		return false
	}
	s.calls[c.id] = c
	return true
}

// forget stops tracking c (not a later call that took its id).
func (s *Switch) forget(c *call) {
	s.mu.Lock()
	if s.calls[c.id] == c {
		delete(s.calls, c.id)
	}
	s.mu.Unlock()
}

// recordingPath is where FreeSWITCH reads and writes recording name.
func (s *Switch) recordingPath(name, format string) string {
	return s.cfg.RecordDir + "/" + name + "." + format
}

// checkMusic validates a stream for "uuid_broadcast U STREAM aleg": one
// argument (esl.CheckArg) that uuid_broadcast cannot read as an
// application ("app::arg") or a hang-up ("!CAUSE").
func checkMusic(m string) error {
	if err := esl.CheckArg(m); err != nil {
		return err
	}
	if strings.Contains(m, "::") || strings.HasPrefix(m, "!") {
		return fmt.Errorf("%w: music %q: \"::\" and a leading \"!\" are uuid_broadcast syntax", esl.ErrInvalidValue, m)
	}
	return nil
}

// checkMusicClass validates a music class for local_stream://CLASS: a
// path of letters, digits and "_.-/" ("moh", "moh/8000").
func checkMusicClass(class string) error {
	for i := 0; i < len(class); i++ {
		c := class[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_.-/", c) >= 0) {
			return fmt.Errorf("%w: music class %q: want letters, digits and _.-/", esl.ErrInvalidValue, class)
		}
	}
	if strings.Contains(class, "..") {
		return fmt.Errorf("%w: music class %q: no \"..\"", esl.ErrInvalidValue, class)
	}
	return nil
}
