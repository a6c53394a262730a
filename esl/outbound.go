package esl

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Handler runs one outbound-socket session (one call). ctx ends when the
// server stops. When the handler returns, the server sends "exit" if the
// socket is still open (a bare "linger" never closes by itself) and
// closes it.
type Handler func(ctx context.Context, s *Session)

// ServerOptions configure Listen.
type ServerOptions struct {
	Logger *zap.Logger
	// CommandTimeout bounds each command's reply (default 5 s). A timeout
	// is returned as ErrTimeout; the socket stays open (closing it would
	// drop the call), and the caller hangs the channel up through an
	// inbound connection (uuid_kill).
	CommandTimeout time.Duration
	// SlowConsumer: queue length logged as a slow consumer.
	SlowConsumer int
}

// Server accepts FreeSWITCH's outbound-socket connections
// ("socket host:port async full" in the dialplan).
type Server struct {
	ln      net.Listener
	handler Handler
	opts    ServerOptions
	log     *zap.Logger
	wg      sync.WaitGroup
	done    chan struct{}
	err     error
}

// Listen binds addr and serves sessions until ctx ends; Wait returns after
// every session has ended.
func Listen(ctx context.Context, addr string, handler Handler, opts ServerOptions) (*Server, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("esl: listen %s: %w", addr, err)
	}
	return Serve(ctx, ln, handler, opts), nil
}

// Serve serves sessions on ln until ctx ends (then ln is closed).
func Serve(ctx context.Context, ln net.Listener, handler Handler, opts ServerOptions) *Server {
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.CommandTimeout <= 0 {
		opts.CommandTimeout = 5 * time.Second
	}
	s := &Server{ln: ln, handler: handler, opts: opts, log: opts.Logger, done: make(chan struct{})}
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	go func() { // ends when ln is closed (ctx done) and sessions are over
		defer close(s.done)
		defer stop()
		for {
			nc, err := ln.Accept()
			if err != nil {
				if ctx.Err() == nil {
					s.err = fmt.Errorf("esl: accept: %w", err)
					s.log.Error("esl outbound accept", zap.Error(err))
				}
				break
			}
			s.wg.Add(1)
			go func() { // ends when the session does
				defer s.wg.Done()
				s.serveConn(ctx, nc)
			}()
		}
		s.wg.Wait()
	}()
	return s
}

// Addr is the listening address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Wait blocks until the server has stopped and every session has ended;
// it returns the accept error that stopped it, if any.
func (s *Server) Wait() error {
	<-s.done
	return s.err
}

func (s *Server) serveConn(ctx context.Context, nc net.Conn) {
	sess, err := newSession(ctx, nc, s.opts)
	if err != nil {
		s.log.Error("esl outbound session setup", zap.Error(err))
		_ = nc.Close()
		return
	}
	defer sess.finish()
	s.handler(sess.ctx, sess)
}

// Session is one outbound-socket connection: one channel.
type Session struct {
	l      *link
	log    *zap.Logger
	opts   ServerOptions
	data   *Event
	events *Stream
	ctx    context.Context
	cancel context.CancelCauseFunc

	mu      sync.Mutex
	waiters map[string]chan *Event // Application-UUID → EXECUTE_COMPLETE
	hungup  chan struct{}          // closed on the first disconnect-notice
	hupOnce sync.Once
	notice  *Frame
}

func newSession(ctx context.Context, nc net.Conn, opts ServerOptions) (*Session, error) {
	l := newLink(nc, opts.Logger)
	b, _ := Connect{}.Render()
	_ = nc.SetDeadline(time.Now().Add(opts.CommandTimeout))
	if _, err := nc.Write(b); err != nil {
		return nil, fmt.Errorf("esl: outbound connect: %w", err)
	}
	f, err := l.rd.ReadFrame()
	if err != nil {
		return nil, fmt.Errorf("esl: outbound connect reply: %w", err)
	}
	_ = nc.SetDeadline(time.Time{})
	if !f.IsConnectReply() {
		return nil, fmt.Errorf("%w: outbound connect reply without channel data (%q)", ErrProtocol, f.ContentType())
	}
	if rerr := replyError(b, f.ReplyText()); rerr != nil {
		return nil, rerr
	}
	data := &Event{Format: FormatPlain, Headers: f.Header}
	// The linger notice carries the channel name raw (see Reader).
	l.rd.channelName = data.Get("Channel-Name")
	uuid := data.UniqueID()
	log := opts.Logger.With(zap.String("uuid", uuid))
	s := &Session{l: l, log: log, opts: opts, data: data,
		waiters: map[string]chan *Event{}, hungup: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancelCause(ctx)
	s.events = newStream(uuid, log, opts.SlowConsumer, nil)
	l.log = log
	l.onEvent = s.route
	l.onNotice = s.onNotice
	l.start()
	go func() { // ends when the socket does and its reader has stopped
		<-l.readDone
		s.events.end(l.err)
		s.cancel(l.err)
		s.mu.Lock()
		for id, ch := range s.waiters {
			close(ch)
			delete(s.waiters, id)
		}
		s.mu.Unlock()
	}()
	return s, nil
}

// ChannelData is the channel's data from the connect reply (decoded).
func (s *Session) ChannelData() *Event { return s.data }

// UUID is the channel's Unique-ID.
func (s *Session) UUID() string { return s.data.UniqueID() }

// Events is the session's ordered, lossless event stream (after
// MyEvents / Subscribe). Events consumed by Execute are delivered here too.
func (s *Session) Events() *Stream { return s.events }

// Context ends when the socket closes (cause: ErrDisconnected or
// ErrConnLost) or the server stops.
func (s *Session) Context() context.Context { return s.ctx }

// HungUp is closed when FreeSWITCH sends its first disconnect-notice
// (linger or disconnect): the channel has hung up.
func (s *Session) HungUp() <-chan struct{} { return s.hungup }

// Notice is the first disconnect-notice, nil before.
func (s *Session) Notice() *Frame {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.notice
}

func (s *Session) onNotice(f *Frame) {
	s.mu.Lock()
	if s.notice == nil {
		s.notice = f
	}
	s.mu.Unlock()
	s.hupOnce.Do(func() { close(s.hungup) })
}

func (s *Session) route(e *Event) {
	if e.Name() == "CHANNEL_EXECUTE_COMPLETE" {
		if id := e.Get("Application-UUID"); id != "" {
			s.mu.Lock()
			ch := s.waiters[id]
			delete(s.waiters, id)
			s.mu.Unlock()
			if ch != nil {
				ch <- e // buffered 1, sent once
			}
		}
	}
	s.events.push(e)
}

// Send sends a command on the session. A timeout is ErrTimeout and the
// socket stays open (see ServerOptions.CommandTimeout).
func (s *Session) Send(ctx context.Context, cmd Command) (*Frame, error) {
	f, err := s.l.send(ctx, cmd, s.opts.CommandTimeout)
	if errors.Is(err, ErrTimeout) {
		s.log.Error("esl outbound command timed out", zap.Error(err))
	}
	return f, err
}

// MyEvents subscribes to the session's own events (plain).
func (s *Session) MyEvents(ctx context.Context) error {
	_, err := s.Send(ctx, MyEvents{})
	return err
}

// Subscribe adds events to the session ("event plain PLAYBACK_START …";
// myevents does not include PLAYBACK_*/RECORD_*).
func (s *Session) Subscribe(ctx context.Context, names ...string) error {
	_, err := s.Send(ctx, Events{Format: FormatPlain, Names: names})
	return err
}

// Linger asks FreeSWITCH to keep the socket open after hang-up (0 = until
// we exit).
func (s *Session) Linger(ctx context.Context, seconds int) error {
	_, err := s.Send(ctx, Linger{Seconds: seconds})
	return err
}

// DivertEvents turns divert_events on.
func (s *Session) DivertEvents(ctx context.Context) error {
	_, err := s.Send(ctx, DivertEvents{})
	return err
}

// API runs an api command over the session socket.
func (s *Session) API(ctx context.Context, cmd API) (string, error) {
	f, err := s.Send(ctx, cmd)
	if f == nil {
		return "", err
	}
	return string(f.Body), err
}

// Execute runs an application with event-lock and waits for its
// CHANNEL_EXECUTE_COMPLETE (matched by Application-UUID = our Event-UUID;
// needs MyEvents). The waiter is registered before sending. ctx bounds the
// whole wait; the reply itself is bounded by the command timeout.
func (s *Session) Execute(ctx context.Context, app, arg string) (*Event, error) {
	id := NewUUID()
	ch := make(chan *Event, 1)
	s.mu.Lock()
	s.waiters[id] = ch
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.waiters, id)
		s.mu.Unlock()
	}()
	if _, err := s.Send(ctx, SendMsg{CallCommand: "execute", AppName: app, AppArg: arg, EventLock: true, EventUUID: id}); err != nil {
		return nil, err
	}
	select {
	case e, ok := <-ch:
		if !ok {
			return nil, fmt.Errorf("esl: execute %s: %w", app, context.Cause(s.ctx))
		}
		return e, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("esl: execute %s: %w", app, ctx.Err())
	}
}

// Hangup sends "sendmsg" call-command hangup with a FreeSWITCH cause name
// (NORMAL_CLEARING when empty).
func (s *Session) Hangup(ctx context.Context, cause string) error {
	if cause == "" {
		cause = "NORMAL_CLEARING"
	}
	_, err := s.Send(ctx, SendMsg{CallCommand: "hangup", HangupCause: cause})
	return err
}

// Exit sends "exit" and waits for FreeSWITCH to close the socket.
func (s *Session) Exit(ctx context.Context) error {
	if _, err := s.Send(ctx, Exit{}); err != nil {
		return err
	}
	select {
	case <-s.l.dead:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("esl: exit: waiting for close: %w", ctx.Err())
	}
}

// Close closes the socket without exit (FreeSWITCH hangs the call up
// when an async full socket closes).
func (s *Session) Close() { s.l.kill(ErrClosed) }

// finish ends the session after its handler returned: exit if still open.
func (s *Session) finish() {
	select {
	case <-s.l.dead:
		return
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.CommandTimeout)
	defer cancel()
	if err := s.Exit(ctx); err != nil && !errors.Is(err, ErrDisconnected) && !errors.Is(err, ErrConnLost) {
		s.log.Warn("esl outbound exit", zap.Error(err))
	}
	s.l.kill(ErrClosed)
}
