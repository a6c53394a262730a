package asterisk

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/ari"
)

// call is one channel under our control.
type call struct {
	sw   *Switch
	id   string
	info adapter.CallInfo
	sub  *ari.Subscription
	log  *zap.Logger

	gone  chan struct{} // closed once the call is hung up or the client closed
	ended chan struct{} // closed when the dispatcher has returned

	mu        sync.Mutex
	listeners []*listener
	goneErr   error         // adapter.ErrHangup or adapter.ErrClosed, once gone
	cause     adapter.Cause // final cause once hung up
	ourCause  bool          // cause was set by our own Hangup
	hangingUp adapter.Cause // our Hangup's cause while its request runs
	reqCause  int           // Q.850 cause of the last ChannelHangupRequest
	hangupReq bool          // a ChannelHangupRequest arrived
	answered  bool
	recN      int
}

// listener receives the channel's events while an operation runs.
type listener struct {
	ch     chan ari.Event
	resync chan struct{} // cap 1: the websocket reconnected
	done   chan struct{}
}

func (s *Switch) newCall(info adapter.CallInfo, sub *ari.Subscription, answered bool) *call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.newCallLocked(info, sub, answered)
}

// newCallLocked is newCall with s.mu held.
func (s *Switch) newCallLocked(info adapter.CallInfo, sub *ari.Subscription, answered bool) *call {
	c := &call{
		sw:       s,
		id:       info.ID,
		info:     info,
		sub:      sub,
		log:      s.log.With(zap.String("call_id", info.ID)),
		gone:     make(chan struct{}),
		ended:    make(chan struct{}),
		answered: answered,
	}
	s.calls[c.id] = c
	// The dispatcher ends linger after the hang-up, or when the client
	// shuts down (the subscription closes).
	go c.dispatch()
	return c
}

func (c *call) ID() string             { return c.id }
func (c *call) Info() adapter.CallInfo { return c.info }

// Cause is why the call ended; CauseUnknown while it is up.
func (c *call) Cause() adapter.Cause {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.goneErr == nil {
		return adapter.CauseUnknown
	}
	return c.cause
}

// causeOf maps an ARI cause: 0 is what Asterisk reports for a plain BYE,
// i.e. normal clearing.
func causeOf(code int) adapter.Cause {
	if code <= 0 {
		return adapter.CauseNormal
	}
	return adapter.CauseFromQ850(code)
}

// dispatch reads the channel's events in order until linger after the
// hang-up, or until the client closes the subscription.
func (c *call) dispatch() {
	defer close(c.ended)
	defer c.sw.unregister(c)
	defer c.sub.Close()
	goneC := c.gone
	var lingerC <-chan time.Time
	for {
		select {
		case ev, ok := <-c.sub.C():
			if !ok {
				c.markGone(adapter.ErrClosed, adapter.CauseUnknown, false)
				return
			}
			c.handle(ev)
		case <-goneC:
			goneC = nil
			t := time.NewTimer(linger)
			defer t.Stop()
			lingerC = t.C
		case <-lingerC:
			return
		}
	}
}

func (c *call) handle(ev ari.Event) {
	switch e := ev.(type) {
	case *ari.ChannelHangupRequest:
		c.mu.Lock()
		c.hangupReq = true
		// A soft hang-up request reports flags, not a Q.850 cause.
		if e.Cause > 0 && !e.Soft {
			c.reqCause = e.Cause
		}
		c.mu.Unlock()
	case *ari.StasisEnd:
		c.mu.Lock()
		code := c.reqCause
		c.mu.Unlock()
		c.markGone(adapter.ErrHangup, causeOf(code), false)
	case *ari.ChannelDestroyed:
		c.markGone(adapter.ErrHangup, causeOf(e.Cause), true)
	case *ari.ChannelStateChange:
		if e.Channel.State == "Up" {
			c.mu.Lock()
			c.answered = true
			c.mu.Unlock()
		}
	}
	c.mu.Lock()
	ls := append([]*listener(nil), c.listeners...)
	c.mu.Unlock()
	if len(ls) == 0 {
		if d, ok := ev.(*ari.ChannelDtmfReceived); ok {
			c.log.Debug("dtmf discarded: nothing collects", zap.String("digit", d.Digit))
		}
		return
	}
	for _, l := range ls {
		select {
		case l.ch <- ev:
		case <-l.done:
		}
	}
}

// markGone records the end of the call. final marks an authoritative cause
// (ChannelDestroyed), which replaces an earlier guess unless the cause was
// our own Hangup's.
func (c *call) markGone(why error, cause adapter.Cause, final bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.goneErr != nil {
		if final && c.goneErr == adapter.ErrHangup && !c.ourCause {
			c.cause = cause
		}
		return
	}
	if why == adapter.ErrHangup && c.hangingUp != adapter.CauseUnknown {
		// The events of our own Hangup can beat its HTTP answer.
		cause, c.ourCause = c.hangingUp, true
	}
	c.goneErr, c.cause = why, cause
	close(c.gone)
	if why == adapter.ErrHangup {
		c.log.Debug("call ended", zap.Stringer("cause", cause))
	}
}

// errGone returns the error of an operation on a gone call, or nil.
func (c *call) errGone(op string) error {
	select {
	case <-c.gone:
	default:
		return nil
	}
	c.mu.Lock()
	why := c.goneErr
	c.mu.Unlock()
	return fmt.Errorf("asterisk: %s %s: %w", op, c.id, why)
}

// endingErr tells whether a media operation that failed or ended on its own
// did so because the call is hanging up: Asterisk reports the playback or
// recording end before StasisEnd. It waits up to wait for the hang-up to
// complete, and returns the operation's error wrapping adapter.ErrHangup,
// or nil when the call is not hanging up.
func (c *call) endingErr(op string, wait time.Duration) error {
	if err := c.errGone(op); err != nil {
		return err
	}
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-c.gone:
			return c.errGone(op)
		case <-t.C:
		}
	}
	if c.hangupRequested() {
		return fmt.Errorf("asterisk: %s %s: %w", op, c.id, adapter.ErrHangup)
	}
	return nil
}

func (c *call) hangupRequested() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hangupReq
}

func (c *call) hungUp() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.goneErr == adapter.ErrHangup
}

func (c *call) listen() *listener {
	l := &listener{ch: make(chan ari.Event, 16), resync: make(chan struct{}, 1), done: make(chan struct{})}
	c.mu.Lock()
	c.listeners = append(c.listeners, l)
	c.mu.Unlock()
	return l
}

func (c *call) unlisten(l *listener) {
	c.mu.Lock()
	for i, x := range c.listeners {
		if x == l {
			c.listeners = append(c.listeners[:i:i], c.listeners[i+1:]...)
			break
		}
	}
	c.mu.Unlock()
	close(l.done)
}

// resync tells running operations that events may have been lost.
func (c *call) resync() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range c.listeners {
		select {
		case l.resync <- struct{}{}:
		default:
		}
	}
}

// restErr turns a failed request on the channel into the port's errors: a
// channel that is gone (404, or 409 "not in Stasis") means ErrHangup.
func (c *call) restErr(ctx context.Context, op string, err error) error {
	if gerr := c.errGone(op); gerr != nil {
		return fmt.Errorf("%w (%w)", gerr, err)
	}
	if errors.Is(err, ari.ErrClosed) {
		return fmt.Errorf("asterisk: %s %s: %w (%w)", op, c.id, adapter.ErrClosed, err)
	}
	if errors.Is(err, ari.ErrNotFound) || errors.Is(err, ari.ErrConflict) {
		gctx, cancel := detached(ctx)
		defer cancel()
		if _, gerr := c.sw.client.GetChannel(gctx, c.id); errors.Is(gerr, ari.ErrNotFound) {
			c.markGone(adapter.ErrHangup, adapter.CauseNormal, false)
			return fmt.Errorf("asterisk: %s %s: %w (%w)", op, c.id, adapter.ErrHangup, err)
		}
	}
	return fmt.Errorf("asterisk: %s %s: %w", op, c.id, err)
}

// ctxErr is the error of an operation whose context ended.
func (c *call) ctxErr(ctx context.Context, op string) error {
	return fmt.Errorf("asterisk: %s %s: %w", op, c.id, context.Cause(ctx))
}

// Answer answers the channel; answering an answered call is a no-op.
func (c *call) Answer(ctx context.Context) error {
	if err := c.errGone("answer"); err != nil {
		return err
	}
	c.mu.Lock()
	done := c.answered
	c.mu.Unlock()
	if done {
		return nil
	}
	if err := c.sw.client.Answer(ctx, c.id); err != nil {
		return c.restErr(ctx, "answer", err)
	}
	c.mu.Lock()
	c.answered = true
	c.mu.Unlock()
	return nil
}

// Wait waits d (d <= 0: until ctx ends), the hang-up, or ctx.
func (c *call) Wait(ctx context.Context, d time.Duration) error {
	if err := c.errGone("wait"); err != nil {
		return err
	}
	var tc <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		tc = t.C
	}
	select {
	case <-tc:
		return nil
	case <-c.gone:
		return c.errGone("wait")
	case <-ctx.Done():
		return c.ctxErr(ctx, "wait")
	}
}

// hangupReasons maps causes to ARI's hang-up reason names; other causes are
// sent as reason_code.
var hangupReasons = map[adapter.Cause]string{
	adapter.CauseUnknown:     "normal",
	adapter.CauseNormal:      "normal",
	adapter.CauseBusy:        "busy",
	adapter.CauseNoAnswer:    "no_answer",
	adapter.CauseRejected:    "rejected",
	adapter.CauseUnallocated: "unallocated",
	adapter.CauseCongestion:  "congestion",
	adapter.CauseFailure:     "failure",
}

// Hangup ends the call with cause; hanging up a gone call is a no-op.
func (c *call) Hangup(ctx context.Context, cause adapter.Cause) error {
	if c.hungUp() {
		return nil
	}
	if cause == adapter.CauseUnknown {
		cause = adapter.CauseNormal
	}
	c.mu.Lock()
	c.hangingUp = cause
	c.mu.Unlock()
	var err error
	if reason, ok := hangupReasons[cause]; ok {
		err = c.sw.client.Hangup(ctx, c.id, reason)
	} else {
		err = c.sw.client.HangupCode(ctx, c.id, cause.Q850())
	}
	if err != nil && !errors.Is(err, ari.ErrNotFound) {
		c.mu.Lock()
		c.hangingUp = adapter.CauseUnknown
		c.mu.Unlock()
		return fmt.Errorf("asterisk: hangup %s (%s): %w", c.id, cause, err)
	}
	c.markGone(adapter.ErrHangup, cause, false)
	return nil
}

// finish hangs the call up after its handler returned.
func (c *call) finish(ctx context.Context) {
	if c.hungUp() {
		return
	}
	hctx, cancel := detached(ctx)
	defer cancel()
	if err := c.Hangup(hctx, adapter.CauseNormal); err != nil {
		c.log.Warn("hang up after handler", zap.Error(err))
	}
}
