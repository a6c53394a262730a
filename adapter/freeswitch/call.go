package freeswitch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/esl"
)

var _ adapter.Call = (*call)(nil)

// listener is the unbounded, ordered event queue of one running
// operation. The dispatcher pushes without blocking; nothing is dropped.
type listener struct {
	mu   sync.Mutex
	q    []*esl.Event
	wake chan struct{} // capacity 1
}

func (l *listener) push(e *esl.Event) {
	l.mu.Lock()
	l.q = append(l.q, e)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// pop takes the oldest queued event.
func (l *listener) pop() (*esl.Event, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.q) == 0 {
		return nil, false
	}
	e := l.q[0]
	l.q[0] = nil
	l.q = l.q[1:]
	return e, true
}

// call is one FreeSWITCH channel: an inbound call on an outbound-socket
// session (sess set), or a channel we originated, controlled through the
// inbound connection (sess nil). One dispatcher goroutine reads the
// channel's ordered event stream, tracks answer and hang-up, and hands the
// events to the running operation's listener.
type call struct {
	sw *Switch
	id string // Call.ID: the id the engine chose, or uuid
	// uuid is the channel's Unique-ID on FreeSWITCH, used in every
	// command: id itself, or a UUID derived from it (see channelUUID).
	uuid   string
	info   adapter.CallInfo
	log    *zap.Logger
	sess   *esl.Session
	events *esl.Stream

	gone     chan struct{} // closed at hang-up
	goneOnce sync.Once
	done     chan struct{} // closed when the dispatcher has ended
	release  sync.Once

	mu        sync.Mutex
	answered  bool
	cause     adapter.Cause
	listeners []*listener
	vars      map[string]string // channel variables we set (cache)
	holding   *bridge           // holding bridge the call is in
	mixing    *bridge           // mixing bridge the call is in
	music     bool              // hold music is playing
	musicAt   time.Time         // when the hold music was last broadcast

	// originating is set while Originate waits for the channel's answer:
	// the re-sync after a redial leaves such a call to Originate, whose
	// channel may not exist yet (its bgapi sent on the new connection).
	originating atomic.Bool
}

func (s *Switch) newCall(info adapter.CallInfo, sess *esl.Session, events *esl.Stream, answered bool) *call {
	return &call{sw: s, id: info.ID, uuid: info.ID, info: info, sess: sess, events: events, answered: answered,
		log:  s.log.With(zap.String("call_id", info.ID), zap.String("direction", info.Direction.String())),
		gone: make(chan struct{}), done: make(chan struct{}), vars: map[string]string{}}
}

func (c *call) ID() string             { return c.id }
func (c *call) Info() adapter.CallInfo { return c.info }

// Cause is why the call ended, CauseUnknown while it is up.
func (c *call) Cause() adapter.Cause {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cause
}

// dispatch reads the event stream until it ends: for a session when the
// socket closes (after exit), for an originated call when release closes
// the stream after CHANNEL_HANGUP_COMPLETE or the inbound connection ends.
func (c *call) dispatch() {
	defer close(c.done)
	for {
		e, err := c.events.Next(context.Background())
		if err != nil {
			c.markGone(adapter.CauseNormal, "event stream ended: "+err.Error())
			c.cleanup()
			return
		}
		c.handle(e)
	}
}

func (c *call) handle(e *esl.Event) {
	name := e.Name()
	c.mu.Lock()
	if name == "CHANNEL_ANSWER" {
		c.answered = true
	}
	ls := c.listeners
	c.mu.Unlock()
	for _, l := range ls {
		l.push(e)
	}
	if len(ls) == 0 && name == "DTMF" {
		c.log.Debug("dtmf discarded: no operation collects digits", zap.String("digit", e.Get("DTMF-Digit")))
	}
	switch name {
	case "CHANNEL_HANGUP":
		c.markGone(eventCause(e), "")
	case "CHANNEL_HANGUP_COMPLETE":
		c.markGone(eventCause(e), "")
		if c.sess == nil {
			c.cleanup()
		}
	}
}

// markGone records the hang-up once.
func (c *call) markGone(cause adapter.Cause, why string) {
	c.goneOnce.Do(func() {
		c.mu.Lock()
		c.cause = cause
		c.music = false
		h, m := c.holding, c.mixing
		c.holding, c.mixing = nil, nil
		c.mu.Unlock()
		for _, b := range []*bridge{h, m} {
			if b != nil {
				b.forget(c)
			}
		}
		close(c.gone)
		if why != "" {
			c.log.Info("call ended", zap.Stringer("cause", cause), zap.String("why", why))
		} else {
			c.log.Info("call ended", zap.Stringer("cause", cause))
		}
	})
}

// cleanup releases an originated call's resources on the inbound
// connection (its Unique-ID filter and event stream); for a session the
// stream ends with the socket.
func (c *call) cleanup() {
	if c.sess != nil {
		return
	}
	c.release.Do(func() {
		c.sw.forget(c)
		ctx, cancel := context.WithTimeout(context.Background(), c.sw.cfg.CommandTimeout)
		defer cancel()
		if conn, err := c.sw.inbound(ctx); err == nil {
			if err := conn.DeleteFilter(ctx, esl.FilterDelete{Header: "Unique-ID", Value: c.uuid}); err != nil {
				c.log.Warn("remove channel filter", zap.Error(err))
			}
		}
		c.events.Close()
	})
}

func (c *call) isGone() bool {
	select {
	case <-c.gone:
		return true
	default:
		return false
	}
}

func (c *call) errGone(op string) error {
	if c.isGone() {
		return fmt.Errorf("freeswitch: %s %s: %w (%v)", op, c.id, adapter.ErrHangup, c.Cause())
	}
	return nil
}

func (c *call) ctxErr(ctx context.Context, op string) error {
	return fmt.Errorf("freeswitch: %s %s: %w", op, c.id, ctx.Err())
}

func (c *call) listen() *listener {
	l := &listener{wake: make(chan struct{}, 1)}
	c.mu.Lock()
	c.listeners = append(c.listeners[:len(c.listeners):len(c.listeners)], l)
	c.mu.Unlock()
	return l
}

func (c *call) unlisten(l *listener) {
	c.mu.Lock()
	defer c.mu.Unlock()
	kept := make([]*listener, 0, len(c.listeners))
	for _, x := range c.listeners {
		if x != l {
			kept = append(kept, x)
		}
	}
	c.listeners = kept
}

// send sends cmd on the call's own socket: the session for an inbound
// call, the inbound connection for an originated one. A command that times
// out on a session is a fault: the channel is killed through the inbound
// connection and the error wraps adapter.ErrHangup.
func (c *call) send(ctx context.Context, op string, cmd esl.Command) (*esl.Frame, error) {
	var f *esl.Frame
	var err error
	if c.sess != nil {
		f, err = c.sess.Send(ctx, cmd)
	} else {
		var conn *esl.Conn
		if conn, err = c.sw.inbound(ctx); err == nil {
			f, err = conn.Send(ctx, cmd)
		}
	}
	if err == nil {
		return f, nil
	}
	if c.sess != nil && errors.Is(err, esl.ErrTimeout) {
		c.fault(op, err)
		return f, fmt.Errorf("freeswitch: %s %s: %w; call killed: %w", op, c.id, err, adapter.ErrHangup)
	}
	return f, c.wireErr(op, err)
}

// wireErr classifies a failed command.
func (c *call) wireErr(op string, err error) error {
	var re *esl.ReplyError
	switch {
	case errors.As(err, &re) && (strings.Contains(re.Text, "No such channel") || strings.Contains(re.Text, "invalid session id")):
		return fmt.Errorf("freeswitch: %s %s: %w: %w", op, c.id, adapter.ErrHangup, err)
	case c.isGone():
		return fmt.Errorf("freeswitch: %s %s: %w: %w", op, c.id, adapter.ErrHangup, err)
	case c.sess != nil && (errors.Is(err, esl.ErrDisconnected) || errors.Is(err, esl.ErrConnLost) || errors.Is(err, esl.ErrClosed)):
		// The session is gone: the channel is out of this process's
		// control (the dialplan parks it for the next process).
		return fmt.Errorf("freeswitch: %s %s: %w: %w", op, c.id, adapter.ErrHangup, err)
	case errors.Is(err, esl.ErrDisconnected) || errors.Is(err, esl.ErrConnLost) || errors.Is(err, esl.ErrClosed):
		return fmt.Errorf("freeswitch: %s %s: %w: %w", op, c.id, adapter.ErrClosed, err)
	}
	return fmt.Errorf("freeswitch: %s %s: %w", op, c.id, err)
}

// fault handles a timed-out session command: log it, count it, and hang
// the channel up through the inbound connection (closing the session
// socket instead would drop the call without a cause).
func (c *call) fault(op string, err error) {
	c.sw.faults.Add(1)
	c.log.Error("esl session command timed out, killing the call", zap.String("op", op), zap.Error(err))
	ctx, cancel := context.WithTimeout(context.Background(), c.sw.cfg.CommandTimeout)
	defer cancel()
	conn, cerr := c.sw.inbound(ctx)
	if cerr == nil {
		_, cerr = conn.API(ctx, esl.API{Cmd: "uuid_kill", Args: c.uuid + " NORMAL_TEMPORARY_FAILURE"})
	}
	if cerr != nil {
		c.log.Error("uuid_kill after session timeout failed", zap.Error(cerr))
	}
	c.markGone(adapter.CauseFailure, "session command timed out")
}

// api runs an api command about the call on its own socket.
func (c *call) api(ctx context.Context, op, cmd string, args ...string) (string, error) {
	line, err := esl.JoinArgs(append([]string{c.uuid}, args...)...)
	if err != nil {
		return "", fmt.Errorf("freeswitch: %s %s: %w", op, c.id, err)
	}
	f, err := c.send(ctx, op, esl.API{Cmd: cmd, Args: line})
	if err != nil {
		return "", err
	}
	return string(f.Body), nil
}

// setVar sets a channel variable unless it already has that value.
func (c *call) setVar(ctx context.Context, op, name, value string) error {
	c.mu.Lock()
	same := c.vars[name] == value
	c.mu.Unlock()
	if same {
		return nil
	}
	if _, err := c.api(ctx, op, "uuid_setvar", name, value); err != nil {
		return err
	}
	c.mu.Lock()
	c.vars[name] = value
	c.mu.Unlock()
	return nil
}

// execute runs an application with event-lock and our own Event-UUID and
// waits for its CHANNEL_EXECUTE_COMPLETE (Application-UUID = Event-UUID).
// After a hang-up it returns the completion if it came, and an error
// wrapping adapter.ErrHangup.
// Other events go to onEvent in order. l must be listening before the
// command is sent (subscribe first, then execute, then wait).
func (c *call) execute(ctx context.Context, l *listener, op, app, arg string, onEvent func(*esl.Event)) (*esl.Event, error) {
	id := esl.NewUUID()
	msg := esl.SendMsg{CallCommand: "execute", AppName: app, AppArg: arg, EventLock: true, EventUUID: id}
	if c.sess == nil {
		msg.UUID = c.uuid
	}
	if _, err := c.send(ctx, op, msg); err != nil {
		return nil, err
	}
	// An application that completes after the channel's CHANNEL_HANGUP
	// was cut short by the hang-up: its completion comes with ErrHangup.
	hungUp := false
	drain := func() (*esl.Event, error) {
		for {
			e, ok := l.pop()
			if !ok {
				return nil, nil
			}
			if e.Name() == "CHANNEL_EXECUTE_COMPLETE" && e.Get("Application-UUID") == id {
				if hungUp {
					return e, c.errGone(op)
				}
				return e, nil
			}
			hungUp = hungUp || e.Name() == "CHANNEL_HANGUP"
			if onEvent != nil {
				onEvent(e)
			}
		}
	}
	for {
		if e, err := drain(); e != nil {
			return e, err
		}
		select {
		case <-l.wake:
		case <-c.gone:
			if e, err := drain(); e != nil {
				return e, err
			}
			return nil, c.errGone(op)
		case <-ctx.Done():
			c.breakMedia("cancelled " + op)
			return nil, c.ctxErr(ctx, op)
		}
	}
}

// breakMedia stops whatever the channel plays or records (uuid_break
// all), best effort, outside the caller's context.
func (c *call) breakMedia(why string) {
	if c.isGone() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.sw.cfg.CommandTimeout)
	defer cancel()
	if _, err := c.api(ctx, "break", "uuid_break", "all"); err != nil && !errors.Is(err, adapter.ErrHangup) {
		c.log.Warn("uuid_break failed", zap.String("why", why), zap.Error(err))
	}
}

// Answer answers an inbound call (execute answer); answered calls are a
// no-op.
func (c *call) Answer(ctx context.Context) error {
	if err := c.errGone("answer"); err != nil {
		return err
	}
	c.mu.Lock()
	answered := c.answered
	c.mu.Unlock()
	if answered {
		return nil
	}
	l := c.listen()
	defer c.unlisten(l)
	if c.sess == nil {
		if _, err := c.api(ctx, "answer", "uuid_answer"); err != nil {
			return err
		}
	} else if _, err := c.execute(ctx, l, "answer", "answer", "", nil); err != nil {
		return err
	}
	c.mu.Lock()
	c.answered = true
	c.mu.Unlock()
	return nil
}

// Wait waits d (d <= 0: until ctx ends) while watching for the hang-up.
// The channel stays parked meanwhile (FreeSWITCH consumes its DTMF).
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

// Hangup hangs the call up with cause (sendmsg call-command hangup on a
// session, uuid_kill for an originated call) and waits for FreeSWITCH's
// CHANNEL_HANGUP, at most the command timeout.
func (c *call) Hangup(ctx context.Context, cause adapter.Cause) error {
	if c.isGone() {
		return nil
	}
	name, ok := CauseName(cause)
	if !ok {
		c.log.Debug("hang-up cause without a FreeSWITCH name, sending NORMAL_CLEARING", zap.Stringer("cause", cause))
	}
	var err error
	if c.sess != nil {
		_, err = c.send(ctx, "hangup", esl.SendMsg{CallCommand: "hangup", HangupCause: name})
	} else {
		_, err = c.api(ctx, "hangup", "uuid_kill", name)
	}
	if err != nil {
		if errors.Is(err, adapter.ErrHangup) {
			return nil
		}
		return err
	}
	t := time.NewTimer(c.sw.cfg.CommandTimeout)
	defer t.Stop()
	// A socket session's hangup message waits in the channel's queue until
	// the running application reads it; endless hold music may not for a
	// long while. uuid_kill ends the channel at once.
	kill := time.NewTimer(hangupKillAfter)
	defer kill.Stop()
	if c.sess == nil {
		kill.Stop()
	}
	for {
		select {
		case <-c.gone:
			return nil
		case <-ctx.Done():
			return c.ctxErr(ctx, "hangup")
		case <-kill.C:
			c.log.Debug("hangup message not taken yet, sending uuid_kill")
			if _, err := c.api(ctx, "hangup", "uuid_kill", name); err != nil && !errors.Is(err, adapter.ErrHangup) {
				return err
			}
		case <-t.C:
			return fmt.Errorf("freeswitch: hangup %s: no CHANNEL_HANGUP within %v", c.id, c.sw.cfg.CommandTimeout)
		}
	}
}

// hangupKillAfter is how long a socket session's hangup message may wait
// in the channel's queue before Hangup sends uuid_kill.
const hangupKillAfter = time.Second

// finish runs after an inbound call's handler returned: hang up if the
// call is still up.
func (c *call) finish() {
	if c.isGone() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*c.sw.cfg.CommandTimeout)
	defer cancel()
	if err := c.Hangup(ctx, adapter.CauseNormal); err != nil {
		c.log.Warn("hang-up after handler", zap.Error(err))
	}
}

// pauseMusic stops the hold music of a call in a holding bridge for an
// operation; the returned func restarts it if the call is still there.
func (c *call) pauseMusic(ctx context.Context) func() {
	c.mu.Lock()
	b, playing := c.holding, c.music
	c.music = false
	c.mu.Unlock()
	if b == nil || !playing {
		return func() {}
	}
	c.stopMusic(ctx, "operation on a holding call")
	return func() {
		c.mu.Lock()
		still := c.holding == b && !c.music
		c.mu.Unlock()
		if still && !c.isGone() {
			c.startMusic(context.WithoutCancel(ctx), b)
		}
	}
}

// stopMusic stops the hold music (uuid_break all). A broadcast younger
// than musicLateWindow may not have started yet: it would start after the
// break and hold every later command of the channel behind it, so the
// channel is settled too.
func (c *call) stopMusic(ctx context.Context, why string) {
	c.breakMedia(why)
	c.mu.Lock()
	recent := time.Since(c.musicAt) < musicLateWindow
	c.mu.Unlock()
	if recent {
		c.settle(ctx, why+": hold music stopped right after it started")
	}
}

// startMusic broadcasts the bridge's music to the call (uuid_broadcast
// … aleg: the stream plays until uuid_break).
func (c *call) startMusic(ctx context.Context, b *bridge) {
	ctx, cancel := context.WithTimeout(ctx, c.sw.cfg.CommandTimeout)
	defer cancel()
	if _, err := c.api(ctx, "hold music", "uuid_broadcast", b.music, "aleg"); err != nil {
		if !errors.Is(err, adapter.ErrHangup) {
			c.log.Warn("start hold music", zap.String("bridge", b.id), zap.Error(err))
		}
		return
	}
	c.mu.Lock()
	c.music = c.holding == b
	c.musicAt = time.Now()
	c.mu.Unlock()
}

// musicLateWindow: a hold music broadcast younger than this may still be
// on its way to start when an operation pauses it (see settle).
const musicLateWindow = time.Second
