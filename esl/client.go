package esl

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Options configure an inbound Conn.
type Options struct {
	Logger *zap.Logger // nil: no logging
	// CommandTimeout bounds the wait for each command's reply (default
	// 5 s). A command without a reply by then closes the connection,
	// which is redialled (re-auth, re-subscribe, re-filter).
	CommandTimeout time.Duration
	// RedialMin/RedialMax bound the redial back-off (default 100 ms / 5 s).
	RedialMin, RedialMax time.Duration
	// OnEvent receives events that no Stream watches, serially per
	// Unique-ID (events without one share a queue), in wire order. It may
	// block; the queue grows meanwhile (a logged fault past SlowConsumer).
	OnEvent func(*Event)
	// OnReconnect runs after a redial has re-subscribed; events of the
	// gap are lost, so the caller re-syncs (lists channels) here.
	OnReconnect func(ctx context.Context)
	// SlowConsumer is the queue length logged as a slow consumer
	// (default DefaultSlowConsumer).
	SlowConsumer int
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.CommandTimeout <= 0 {
		o.CommandTimeout = 5 * time.Second
	}
	if o.RedialMin <= 0 {
		o.RedialMin = 100 * time.Millisecond
	}
	if o.RedialMax < o.RedialMin {
		o.RedialMax = 5 * time.Second
	}
}

// Conn is an inbound ESL connection (we dial FreeSWITCH:8021). Safe for
// concurrent use. It owns a supervisor goroutine that redials after a
// timeout or a broken socket and ends on Close or a disconnect-notice.
type Conn struct {
	addr, password string
	opts           Options
	log            *zap.Logger
	disp           *dispatcher

	mu       sync.Mutex
	cur      *link
	ready    chan struct{} // closed when cur is usable; replaced on redial
	subs     []Events      // subscriptions to replay, in order
	filters  []Filter      // active filters to replay
	jobs     map[string]chan *Event
	jobEvent bool // BACKGROUND_JOB is subscribed

	closing   chan struct{}
	closeOnce sync.Once
	done      chan struct{} // closed when the supervisor has ended
	err       error         // why the Conn ended
}

// Dial connects and authenticates; ctx bounds both. The Conn lives until
// Close, a disconnect-notice, or a redial that cannot authenticate.
func Dial(ctx context.Context, addr, password string, opts Options) (*Conn, error) {
	opts.defaults()
	if err := checkToken("password", password); err != nil {
		return nil, err
	}
	c := &Conn{addr: addr, password: password, opts: opts, log: opts.Logger.With(zap.String("esl", addr)),
		ready: make(chan struct{}), jobs: map[string]chan *Event{},
		closing: make(chan struct{}), done: make(chan struct{})}
	c.disp = newDispatcher(c.log, opts.SlowConsumer, opts.OnEvent)
	l, err := c.connect(ctx)
	if err != nil {
		return nil, err
	}
	c.cur = l
	close(c.ready)
	go c.supervise(l) // ends on Close or disconnect (see supervise)
	return c, nil
}

// connect dials, authenticates and replays subscriptions and filters.
func (c *Conn) connect(ctx context.Context) (*link, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return nil, fmt.Errorf("esl: dial %s: %w", c.addr, err)
	}
	l := newLink(nc, c.log)
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	f, err := l.rd.ReadFrame()
	stop()
	if err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("esl: %s: read auth/request: %w", c.addr, errors.Join(err, ctx.Err()))
	}
	_ = nc.SetDeadline(time.Time{})
	if ct := f.ContentType(); ct != TypeAuthRequest {
		_ = nc.Close()
		return nil, fmt.Errorf("%w: %s: first frame is %q, want auth/request", ErrProtocol, c.addr, ct)
	}
	l.onEvent = c.route
	l.start()
	if _, err := l.send(ctx, Auth{Password: c.password}, c.opts.CommandTimeout); err != nil {
		l.close(ErrClosed)
		return nil, fmt.Errorf("esl: %s: auth: %w", c.addr, err)
	}
	c.mu.Lock()
	subs := append([]Events(nil), c.subs...)
	filters := append([]Filter(nil), c.filters...)
	c.mu.Unlock()
	for _, s := range subs {
		if _, err := l.send(ctx, s, c.opts.CommandTimeout); err != nil {
			l.close(ErrClosed)
			return nil, fmt.Errorf("esl: %s: re-subscribe: %w", c.addr, err)
		}
	}
	for _, fl := range filters {
		if _, err := l.send(ctx, fl, c.opts.CommandTimeout); err != nil {
			l.close(ErrClosed)
			return nil, fmt.Errorf("esl: %s: re-filter: %w", c.addr, err)
		}
	}
	return l, nil
}

// supervise waits for the link to die and redials, until Close or a
// disconnect-notice; then it ends every stream and closes done. It waits
// for a dead link's reader before going on, so every event read from the
// link is routed before the dispatcher ends (and none after).
func (c *Conn) supervise(l *link) {
	defer close(c.done)
	for {
		select {
		case <-l.dead:
			<-l.readDone
		case <-c.closing:
			l.close(ErrClosed)
			c.finish(ErrClosed)
			return
		}
		if errors.Is(l.err, ErrDisconnected) || errors.Is(l.err, ErrClosed) {
			c.finish(l.err)
			return
		}
		c.log.Warn("esl connection lost, redialling", zap.Error(l.err))
		c.mu.Lock()
		c.ready = make(chan struct{})
		c.mu.Unlock()
		nl, ok := c.redial()
		if !ok {
			c.finish(ErrClosed)
			return
		}
		c.mu.Lock()
		c.cur = nl
		close(c.ready)
		c.mu.Unlock()
		c.log.Info("esl reconnected")
		if c.opts.OnReconnect != nil {
			ctx, cancel := context.WithCancel(context.Background())
			go func() { // ends when Close is called or the callback returns
				select {
				case <-c.closing:
				case <-ctx.Done():
				}
				cancel()
			}()
			c.opts.OnReconnect(ctx)
			cancel()
		}
		l = nl
	}
}

func (c *Conn) redial() (*link, bool) {
	wait := c.opts.RedialMin
	for {
		ctx, cancel := context.WithTimeout(context.Background(), c.opts.CommandTimeout*2)
		go func() { // ends with ctx (attempt over) or Close
			select {
			case <-c.closing:
				cancel()
			case <-ctx.Done():
			}
		}()
		l, err := c.connect(ctx)
		cancel()
		if err == nil {
			return l, true
		}
		c.log.Warn("esl redial failed", zap.Error(err), zap.Duration("retry_in", wait))
		t := time.NewTimer(wait)
		select {
		case <-c.closing:
			t.Stop()
			return nil, false
		case <-t.C:
		}
		wait = min(wait*2, c.opts.RedialMax)
	}
}

func (c *Conn) finish(err error) {
	c.mu.Lock()
	c.err = err
	for id, ch := range c.jobs {
		close(ch)
		delete(c.jobs, id)
	}
	c.mu.Unlock()
	c.disp.end(err)
}

// Close ends the connection (sending nothing: use Exit for a goodbye) and
// waits for the supervisor and the event handlers to finish.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() { close(c.closing) })
	<-c.done
	return nil
}

// Done is closed when the Conn has ended; Err then says why.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err is why the Conn ended (ErrClosed, ErrDisconnected), nil while alive.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Connected reports whether the connection is usable now: false while it
// redials after a loss and once it has ended.
func (c *Conn) Connected() bool {
	select {
	case <-c.done:
		return false
	default:
	}
	c.mu.Lock()
	ready := c.ready
	c.mu.Unlock()
	select {
	case <-ready:
		return true
	default:
		return false
	}
}

// Faults is the number of slow-consumer faults logged so far.
func (c *Conn) Faults() int64 { return c.disp.faults.Load() }

// Dropped is the number of events that had no consumer (no Stream and
// no OnEvent), each logged at debug level.
func (c *Conn) Dropped() int64 { return c.disp.dropped.Load() }

// link waits for a usable link.
func (c *Conn) link(ctx context.Context) (*link, error) {
	for {
		c.mu.Lock()
		ready, l, err := c.ready, c.cur, c.err
		c.mu.Unlock()
		if err != nil {
			return nil, err
		}
		select {
		case <-ready:
		case <-c.done:
			return nil, c.Err()
		case <-ctx.Done():
			return nil, fmt.Errorf("esl: waiting for connection: %w", ctx.Err())
		}
		select {
		case <-l.dead:
			// Lost, and the supervisor has not yet begun the redial (it
			// first waits for the reader): wait for it rather than fail
			// on a link known to be dead.
			t := time.NewTimer(deadLinkPoll)
			select {
			case <-t.C:
			case <-c.done:
				t.Stop()
				return nil, c.Err()
			case <-ctx.Done():
				t.Stop()
				return nil, fmt.Errorf("esl: waiting for connection: %w", ctx.Err())
			}
		default:
			return l, nil
		}
	}
}

// deadLinkPoll is how often link looks again while the current link is
// dead and its replacement not yet begun.
const deadLinkPoll = 5 * time.Millisecond

// Send sends any command and returns its reply frame. A -ERR reply is a
// *ReplyError (with the frame). A reply timeout closes the connection
// (it is redialled) and returns ErrTimeout.
func (c *Conn) Send(ctx context.Context, cmd Command) (*Frame, error) {
	l, err := c.link(ctx)
	if err != nil {
		return nil, err
	}
	f, err := l.send(ctx, cmd, c.opts.CommandTimeout)
	if errors.Is(err, ErrTimeout) {
		c.log.Error("esl command timed out, closing connection", zap.Error(err))
		l.kill(fmt.Errorf("%w: %v", ErrConnLost, err))
	}
	return f, err
}

// API runs a blocking api command and returns its output. An output
// starting with -ERR or -USAGE is also returned as a *ReplyError.
func (c *Conn) API(ctx context.Context, cmd API) (string, error) {
	f, err := c.Send(ctx, cmd)
	if f == nil {
		return "", err
	}
	return string(f.Body), err
}

// Subscribe sends "event <format> <names…>" and remembers it for redials.
func (c *Conn) Subscribe(ctx context.Context, format string, names ...string) error {
	ev := Events{Format: format, Names: names}
	if _, err := c.Send(ctx, ev); err != nil {
		return err
	}
	c.mu.Lock()
	c.subs = append(c.subs, ev)
	for _, n := range names {
		if n == "ALL" || n == "BACKGROUND_JOB" {
			c.jobEvent = true
		}
	}
	c.mu.Unlock()
	return nil
}

// AddFilter sends "filter <header> <value>" and remembers it for redials.
func (c *Conn) AddFilter(ctx context.Context, f Filter) error {
	if _, err := c.Send(ctx, f); err != nil {
		return err
	}
	c.mu.Lock()
	c.filters = append(c.filters, f)
	c.mu.Unlock()
	return nil
}

// DeleteFilter sends "filter delete <header> [<value>]" and forgets the
// matching filters (all of the header's when value is "").
func (c *Conn) DeleteFilter(ctx context.Context, f FilterDelete) error {
	if _, err := c.Send(ctx, f); err != nil {
		return err
	}
	c.mu.Lock()
	kept := c.filters[:0]
	for _, x := range c.filters {
		if !strings.EqualFold(x.Header, f.Header) || f.Value != "" && x.Value != f.Value {
			kept = append(kept, x)
		}
	}
	c.filters = kept
	c.mu.Unlock()
	return nil
}

// Watch opens the ordered, lossless event stream of one channel. Open it
// before the command that makes the events (subscribe, then execute).
func (c *Conn) Watch(uuid string) *Stream { return c.disp.watch(uuid) }

func (c *Conn) route(e *Event) {
	if e.Name() == "BACKGROUND_JOB" {
		c.mu.Lock()
		ch := c.jobs[e.JobUUID()]
		delete(c.jobs, e.JobUUID())
		c.mu.Unlock()
		if ch != nil {
			ch <- e // buffered 1, sent once
			return
		}
	}
	c.disp.route(e)
}

// NewUUID returns a random (version 4) UUID, for Job-UUIDs, Event-UUIDs
// and origination_uuid.
func NewUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand contract)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
