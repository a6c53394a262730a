package ari

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/zap"
)

// State is the websocket connection state.
type State int

const (
	// Disconnected: not connected; Run waits before the next attempt.
	Disconnected State = iota
	// Connecting: dialing the websocket and re-syncing.
	Connecting
	// Connected: events flow.
	Connected
	// Stopped: Run has returned.
	Stopped
)

func (s State) String() string {
	switch s {
	case Connecting:
		return "connecting"
	case Connected:
		return "connected"
	case Stopped:
		return "stopped"
	}
	return "disconnected"
}

// State returns the current connection state.
func (c *Client) State() State {
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	return c.state
}

// WaitState blocks until the connection state is want (nil), Run has
// stopped (ErrClosed, unless want is Stopped) or ctx ends.
func (c *Client) WaitState(ctx context.Context, want State) error {
	for {
		c.stateMu.Lock()
		st, ch := c.state, c.stateCh
		c.stateMu.Unlock()
		if st == want {
			return nil
		}
		if st == Stopped {
			return ErrClosed
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("ari: wait for state %s (now %s): %w", want, st, context.Cause(ctx))
		}
	}
}

func (c *Client) setState(s State) {
	c.stateMu.Lock()
	old := c.state
	if old == s {
		c.stateMu.Unlock()
		return
	}
	c.state = s
	close(c.stateCh)
	c.stateCh = make(chan struct{})
	c.stateMu.Unlock()
	c.log.Info("ari connection state", zap.Stringer("from", old), zap.Stringer("to", s))
	if c.cfg.OnStateChange != nil {
		c.cfg.OnStateChange(old, s)
	}
}

// Run connects the event websocket and is the single reader that decodes and
// routes every event. It reconnects with capped exponential backoff and
// jitter and, after every connection, delivers a *Resynced to AllKey and
// TypeKey("Resynced") subscribers. It returns when ctx ends (with ctx's
// cause) and then closes every subscription after its backlog. Run may be
// called only once.
func (c *Client) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("ari: Run called twice")
	}
	defer func() {
		c.router.shutdown()
		c.setState(Stopped)
	}()
	connectedOnce := false
	failures := 0
	for {
		c.setState(Connecting)
		err := c.session(ctx, &connectedOnce, &failures)
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		c.stats.disconnects.Add(1)
		c.setState(Disconnected)
		delay := backoff(c.cfg.ReconnectMin, c.cfg.ReconnectMax, failures)
		failures++
		c.log.Warn("ari websocket down", zap.Error(err), zap.Duration("retry_in", delay))
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return context.Cause(ctx)
		}
	}
}

// backoff is min·2^n capped at max, with "equal jitter": half fixed, half
// random, so reconnecting clients spread out but never retry at once.
func backoff(minD, maxD time.Duration, n int) time.Duration {
	d := minD
	for i := 0; i < n && d < maxD; i++ {
		d *= 2
	}
	d = min(d, maxD)
	half := d / 2
	return half + rand.N(half+1)
}

// session runs one websocket connection until it fails or ctx ends.
func (c *Client) session(ctx context.Context, connectedOnce *bool, failures *int) error {
	hdr := http.Header{}
	hdr.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(c.cfg.User+":"+c.cfg.Pass)))
	dctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	conn, resp, err := websocket.Dial(dctx, c.wsURL, &websocket.DialOptions{HTTPClient: c.http, HTTPHeader: hdr})
	cancel()
	if err != nil {
		if resp != nil {
			return fmt.Errorf("ari: websocket dial: status %d: %w", resp.StatusCode, err)
		}
		return fmt.Errorf("ari: websocket dial: %w", err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(c.cfg.MaxMessageBytes)

	// These requests run while the state is Connecting: a retry would
	// wait for Connected, which they precede.
	rctx := withoutRetry(ctx)
	// The filter first: the application exists once the websocket is up,
	// and a reconnect after an Asterisk restart starts with no filter.
	if len(c.cfg.EventTypes) > 0 {
		if _, err := c.SetEventFilter(rctx, c.cfg.EventTypes); err != nil {
			return fmt.Errorf("ari: event filter: %w", err)
		}
	}
	// Re-sync before reading: events that arrive meanwhile wait in the
	// socket and are routed after the Resynced.
	rs, err := c.resync(rctx, *connectedOnce)
	if err != nil {
		return err
	}
	*connectedOnce = true
	*failures = 0
	c.stats.connects.Add(1)
	c.router.route(rs)
	c.setState(Connected)

	sctx, stop := context.WithCancel(ctx)
	defer stop()
	// The pinger ends when the session ends (stop) or a ping fails, which
	// closes the connection and so ends the read loop too.
	go c.pinger(sctx, conn)
	for {
		typ, data, err := conn.Read(sctx)
		if err != nil {
			return fmt.Errorf("ari: websocket read: %w", err)
		}
		if typ != websocket.MessageText {
			c.stats.malformed.Add(1)
			c.log.Debug("ari binary websocket message ignored", zap.Int("bytes", len(data)))
			continue
		}
		c.dispatch(data)
	}
}

func (c *Client) pinger(ctx context.Context, conn *websocket.Conn) {
	t := time.NewTicker(c.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, c.cfg.PingInterval)
		err := conn.Ping(pctx)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				c.log.Warn("ari websocket ping failed", zap.Error(err))
				conn.CloseNow()
			}
			return
		}
	}
}

// dispatch decodes one message and routes it.
func (c *Client) dispatch(data []byte) {
	ev, err := DecodeEvent(data)
	if err != nil {
		c.stats.malformed.Add(1)
		c.log.Debug("ari malformed event skipped", zap.Error(err), zap.ByteString("raw", truncate(data, 512)))
		return
	}
	c.stats.events.Add(1)
	if u, ok := ev.(*UnknownEvent); ok {
		if u.Err != nil {
			c.stats.invalid.Add(1)
			c.log.Warn("ari event fields did not decode; delivered as unknown", zap.String("type", u.Type), zap.Error(u.Err))
		} else {
			c.stats.unknown.Add(1)
			c.log.Debug("ari unknown event type", zap.String("type", u.Type))
		}
	}
	c.router.route(ev)
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// resync lists channels and bridges for the Resynced event.
func (c *Client) resync(ctx context.Context, reconnect bool) (*Resynced, error) {
	chs, err := c.ListChannels(ctx)
	if err != nil {
		return nil, fmt.Errorf("ari: resync: %w", err)
	}
	brs, err := c.ListBridges(ctx)
	if err != nil {
		return nil, fmt.Errorf("ari: resync: %w", err)
	}
	c.log.Info("ari resynced", zap.Bool("reconnect", reconnect), zap.Int("channels", len(chs)), zap.Int("bridges", len(brs)))
	return &Resynced{
		EventBase: EventBase{Type: "Resynced", Application: c.cfg.App, Timestamp: Time{time.Now().UTC()}},
		Reconnect: reconnect,
		Channels:  chs,
		Bridges:   brs,
	}, nil
}
