package freeswitch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/esl"
)

var _ adapter.Adopter = (*Switch)(nil)

// InboundVar is the channel variable that marks a call handed to callflow
// by the dialplan (deploy/freeswitch/dialplan/callflow.xml sets it before
// "socket" and parks the call after it). A restarted process adopts the
// channels that carry it; a dialplan without it leaves nothing to adopt.
const InboundVar = "callflow_inbound"

// channelRow is one row of "show channels as json".
type channelRow struct {
	UUID string `json:"uuid"`
}

// Survivors implements adapter.Adopter: "show channels as json", then
// "uuid_dump" of every channel that no call or session of this process
// holds, keeping those whose InboundVar is true and that are not hanging
// up. Originated legs never carry InboundVar.
func (s *Switch) Survivors(ctx context.Context) ([]adapter.CallInfo, error) {
	conn, err := s.inbound(ctx)
	if err != nil {
		return nil, fmt.Errorf("freeswitch: survivors: %w", err)
	}
	actx, cancel := context.WithTimeout(ctx, s.cfg.CommandTimeout)
	out, err := conn.API(actx, esl.API{Cmd: "show", Args: "channels as json"})
	cancel()
	if err != nil {
		return nil, fmt.Errorf("freeswitch: survivors: show channels: %w", s.unreachable(ctx, err))
	}
	var list struct {
		Rows []channelRow `json:"rows"`
	}
	// With no channel FreeSWITCH answers {"row_count":0} (no rows).
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		return nil, fmt.Errorf("freeswitch: survivors: show channels: %w: %.200q", err, out)
	}
	var res []adapter.CallInfo
	for _, r := range list.Rows {
		if esl.CheckArg(r.UUID) != nil || checkCallID(r.UUID) != nil || s.holds(r.UUID) {
			continue
		}
		d, err := s.dump(ctx, conn, r.UUID)
		if errors.Is(err, adapter.ErrNotFound) {
			continue // hung up since the list
		}
		if err != nil {
			return nil, fmt.Errorf("freeswitch: survivors: %w", err)
		}
		if d.Get("variable_"+InboundVar) != "true" || d.Get("Answer-State") == "hangup" {
			continue
		}
		res = append(res, inboundInfo(r.UUID, d))
	}
	return res, nil
}

// holds reports whether this process runs uuid: an outbound session, or
// an originated, attached or adopted call.
func (s *Switch) holds(uuid string) bool {
	if _, ok := s.sessions.Load(uuid); ok {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.calls {
		if c.uuid == uuid {
			return true
		}
	}
	return false
}

// dump runs "api uuid_dump U" and parses it; a channel that is gone gives
// an error wrapping adapter.ErrNotFound.
func (s *Switch) dump(ctx context.Context, conn *esl.Conn, uuid string) (*esl.Event, error) {
	out, err := s.attachAPI(ctx, conn, "uuid_dump", uuid)
	var re *esl.ReplyError
	if errors.As(err, &re) && strings.Contains(strings.ToLower(re.Text), "no such channel") {
		return nil, fmt.Errorf("uuid_dump %s: %w", uuid, adapter.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	d, err := esl.ParsePlainEvent([]byte(out))
	if err != nil {
		return nil, fmt.Errorf("uuid_dump %s: %w", uuid, err)
	}
	return d, nil
}

// inboundInfo is an adopted call's CallInfo, read from its uuid_dump as
// the session's connect reply is read for a new call.
func inboundInfo(uuid string, d *esl.Event) adapter.CallInfo {
	return adapter.CallInfo{ID: uuid, Direction: adapter.Inbound,
		CallerNumber: d.Get("Caller-Caller-ID-Number"), CallerName: d.Get("Caller-Caller-ID-Name"),
		Dialed: d.Get("Caller-Destination-Number"), Args: splitArgs(d.Get("variable_callflow_args")),
		Endpoint: d.Get("Channel-Name")}
}

// Adopt implements adapter.Adopter: it takes control of an inbound call
// whose outbound-socket session ended with a previous process (the
// dialplan parked it) through the inbound connection, as Attach does for
// an originated leg: watch the channel and install "filter Unique-ID U",
// then read "uuid_dump U" (so a hang-up racing the adoption is seen),
// check InboundVar, and stop what the channel still plays for the old
// process ("uuid_break U all": the hold music or a prompt) so the new
// flow's commands run at once. h runs on its own goroutine; the call is
// hung up ("uuid_kill") when h returns, as a session's call is.
func (s *Switch) Adopt(ctx context.Context, id string, h adapter.Handler) error {
	if h == nil {
		return errors.New("freeswitch: adopt: nil handler")
	}
	if err := checkCallID(id); err != nil || channelUUID(id) != id {
		return fmt.Errorf("freeswitch: adopt %q: %w: not a channel Unique-ID", id, adapter.ErrNotFound)
	}
	select {
	case s.attaching <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("freeswitch: adopt %s: %w", id, ctx.Err())
	}
	c, err := s.adopt(ctx, id)
	<-s.attaching
	if err != nil {
		return err
	}
	c.log.Info("call adopted", zap.String("caller", c.info.CallerNumber), zap.String("dialed", c.info.Dialed),
		zap.Strings("args", c.info.Args), zap.String("channel", c.info.Endpoint))
	go func() { // ends when h returns
		defer c.finish()
		defer func() {
			if r := recover(); r != nil {
				c.log.Error("call handler panicked", zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
			}
		}()
		c.settle(ctx, "adopted call")
		h(ctx, c)
	}()
	return nil
}

// settleWait is how long the marker of settle may take to run before
// the channel's queue counts as blocked; settleTries bounds the breaks.
const (
	settleWait  = 750 * time.Millisecond
	settleTries = 4
)

// adoptBroken, when set (tests), runs after the adoption's "uuid_break
// all": a test starts there what a previous process queued too late for
// the break to stop.
var adoptBroken func(id string)

// settle makes sure nothing queued on the channel earlier still runs
// ahead of this process's next command. FreeSWITCH reads a few frames
// ("lead-frames", up to 10) after it takes a broadcast from the channel's
// queue and before the broadcast starts: a "uuid_break all" in that gap
// finds nothing to flush or stop, and the music starts after it (seen on
// 1.10.12: hold music a dropped session had broadcast began 280 ms after
// the adoption's break and played on; the new flow's prompts waited
// behind it for ever). The channel runs its queue one entry at a time, so
// a marker application ("set callflow_settled=true") sent now runs only
// after that broadcast: if it has not run within settleWait, something
// holds the queue, and execute's cancellation breaks it ("uuid_break
// all", which drops the marker too) before a new marker is sent. Best
// effort: after settleTries the next command is sent anyway.
func (c *call) settle(ctx context.Context, what string) {
	for try := 1; try <= settleTries; try++ {
		l := c.listen()
		tctx, cancel := context.WithTimeout(ctx, settleWait)
		_, err := c.execute(tctx, l, "settle", "set", "callflow_settled=true", nil)
		cancel()
		c.unlisten(l)
		if err == nil || c.isGone() || ctx.Err() != nil {
			return
		}
		c.log.Info(what+": something queued earlier held the channel; stopped it",
			zap.Int("try", try), zap.Error(err))
	}
	c.log.Warn(what + ": the channel's queue stayed blocked; going on anyway")
}

// adopt takes the channel; the caller holds s.attaching.
func (s *Switch) adopt(ctx context.Context, id string) (*call, error) {
	if s.holds(id) {
		return nil, fmt.Errorf("freeswitch: adopt %s: the call already runs in this process", id)
	}
	conn, err := s.inbound(ctx)
	if err != nil {
		return nil, fmt.Errorf("freeswitch: adopt %s: %w", id, err)
	}
	out, err := s.attachAPI(ctx, conn, "uuid_exists", id)
	if err != nil {
		return nil, fmt.Errorf("freeswitch: adopt %s: %w", id, err)
	}
	if strings.TrimSpace(out) != "true" {
		return nil, fmt.Errorf("freeswitch: adopt %s: uuid_exists: %s: %w", id, strings.TrimSpace(out), adapter.ErrNotFound)
	}
	c := s.newCall(adapter.CallInfo{ID: id, Direction: adapter.Inbound}, nil, nil, false)
	if !s.trackNew(c) {
		return nil, fmt.Errorf("freeswitch: adopt %s: the call already runs in this process", id)
	}
	c.events = conn.Watch(id)
	go c.dispatch() // ends when cleanup closes the stream or the connection ends
	fail := func(err error) (*call, error) {
		c.markGone(adapter.CauseUnknown, "adopt failed")
		c.cleanup()
		return nil, err
	}
	fctx, cancel := context.WithTimeout(ctx, s.cfg.CommandTimeout)
	err = conn.AddFilter(fctx, esl.Filter{Header: "Unique-ID", Value: id})
	cancel()
	if err != nil {
		return fail(fmt.Errorf("freeswitch: adopt %s: filter: %w", id, s.unreachable(ctx, err)))
	}
	d, err := s.dump(ctx, conn, id)
	if err != nil {
		return fail(fmt.Errorf("freeswitch: adopt %s: %w", id, err))
	}
	state := d.Get("Answer-State")
	switch {
	case state == "hangup":
		return fail(fmt.Errorf("freeswitch: adopt %s: hanging up: %w", id, adapter.ErrNotFound))
	case d.Get("variable_"+InboundVar) != "true":
		return fail(fmt.Errorf("freeswitch: adopt %s: channel has no %s=true: not a call the dialplan gave callflow", id, InboundVar))
	}
	c.info = inboundInfo(id, d)
	c.mu.Lock()
	c.answered = c.answered || state == "answered"
	c.mu.Unlock()
	c.breakMedia("adopted")
	if adoptBroken != nil {
		adoptBroken(id)
	}
	return c, nil
}
