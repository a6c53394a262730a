package asterisk

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/ari"
)

var _ adapter.Attacher = (*Switch)(nil)

// orphan is an originated channel that answered (StasisStart with
// OriginateMarker) while no Originate or Attach waited for it: its leg was
// placed by a process that has since restarted. It is kept for
// Config.OrphanGrace so the queue engine's reconciliation can attach it,
// then hung up: nobody else can drive it, and a new, logged attempt may
// call again.
type orphan struct {
	in   *ari.Incoming
	stop func() bool // stops the grace timer
}

// parkOrphan keeps an unclaimed originated channel for Attach. Called from
// Serve's loop only.
func (s *Switch) parkOrphan(ctx context.Context, in *ari.Incoming) {
	id := in.Start.Channel.ID
	s.mu.Lock()
	if _, attached := s.calls[id]; attached {
		// Attach took the channel between its StasisStart and now; the
		// attached call has a subscription of its own.
		s.mu.Unlock()
		in.Sub.Close()
		return
	}
	if old := s.orphans[id]; old != nil {
		old.stop()
		old.in.Sub.Close()
	}
	o := &orphan{in: in}
	// The timer's function ends after one hang-up request; Serve's end
	// stops every pending timer (dropOrphans).
	t := time.AfterFunc(s.cfg.OrphanGrace, func() { s.expireOrphan(ctx, id, o) })
	o.stop = t.Stop
	s.orphans[id] = o
	s.mu.Unlock()
	s.log.Info("originated channel answered with no originate waiting; kept for attach", zap.String("call_id", id), zap.Duration("grace", s.cfg.OrphanGrace))
}

// expireOrphan hangs up an orphan nobody attached in time.
func (s *Switch) expireOrphan(ctx context.Context, id string, o *orphan) {
	s.mu.Lock()
	if s.orphans[id] != o {
		s.mu.Unlock()
		return
	}
	delete(s.orphans, id)
	s.mu.Unlock()
	o.in.Sub.Close()
	s.log.Warn("orphan originated channel not attached; hanging it up", zap.String("call_id", id))
	hctx, cancel := detached(ctx)
	defer cancel()
	if err := s.client.Hangup(hctx, id, "normal"); err != nil && !errors.Is(err, ari.ErrNotFound) {
		s.log.Warn("hang up orphan channel", zap.String("call_id", id), zap.Error(err))
	}
}

// takeOrphanLocked removes and returns the parked orphan with that id.
func (s *Switch) takeOrphanLocked(id string) *orphan {
	o := s.orphans[id]
	if o == nil {
		return nil
	}
	delete(s.orphans, id)
	o.stop()
	return o
}

// dropOrphans forgets the parked orphans when Serve ends; their channels
// stay on Asterisk for the next process to attach.
func (s *Switch) dropOrphans() {
	s.mu.Lock()
	os := s.orphans
	s.orphans = make(map[string]*orphan)
	s.mu.Unlock()
	for _, o := range os {
		o.stop()
		o.in.Sub.Close()
	}
}

// Attach implements adapter.Attacher. It waits for the event connection
// (so it may be called before Serve connects), subscribes to the channel's
// events, then asks Asterisk for the channel: events from before the
// answer are thus never missed. A channel parked as an orphan is taken over
// with its subscription. The call is answered when the channel is Up,
// ringing otherwise; its StasisStart on answer reaches the call, not the
// orphan handling.
func (s *Switch) Attach(ctx context.Context, id string) (adapter.Call, error) {
	if err := checkID(id); err != nil {
		return nil, fmt.Errorf("asterisk: attach: %w: %w", adapter.ErrNotFound, err)
	}
	s.mu.Lock()
	if c := s.calls[id]; c != nil && c.errGone("attach") == nil {
		s.mu.Unlock()
		return c, nil
	}
	s.mu.Unlock()
	if err := s.WaitConnected(ctx); err != nil {
		return nil, fmt.Errorf("asterisk: attach %s: %w", id, err)
	}
	sub := s.client.Subscribe(ari.ChannelKey(id))
	ch, err := s.client.GetChannel(ctx, id)
	if err != nil {
		sub.Close()
		switch {
		case errors.Is(err, ari.ErrNotFound):
			return nil, fmt.Errorf("asterisk: attach %s: %w", id, adapter.ErrNotFound)
		case errors.Is(err, ari.ErrClosed):
			return nil, fmt.Errorf("asterisk: attach %s: %w (%w)", id, adapter.ErrClosed, err)
		}
		return nil, fmt.Errorf("asterisk: attach %s: %w", id, err)
	}
	info := adapter.CallInfo{
		ID:           id,
		Direction:    adapter.Outbound,
		CallerNumber: ch.Caller.Number,
		CallerName:   ch.Caller.Name,
		Dialed:       dialedOf(ch.Name),
		Endpoint:     endpointOf(ch.Name),
	}
	answered := ch.State == "Up"
	s.mu.Lock()
	if c := s.calls[id]; c != nil && c.errGone("attach") == nil {
		// Attached concurrently.
		s.mu.Unlock()
		sub.Close()
		return c, nil
	}
	if o := s.takeOrphanLocked(id); o != nil {
		// Its subscription holds every event since the StasisStart, which
		// came before ours was made.
		sub.Close()
		sub, answered = o.in.Sub, true
		info.Args = append([]string(nil), o.in.Start.Args...)
	}
	c := s.newCallLocked(info, sub, answered)
	s.mu.Unlock()
	c.log.Info("call attached", zap.String("state", ch.State), zap.String("channel", ch.Name))
	return c, nil
}

// endpointOf turns a channel name ("PJSIP/agent1-0000002a") into the
// endpoint it was dialled as ("PJSIP/agent1"), as far as the name tells.
func endpointOf(name string) string {
	if i := strings.LastIndexByte(name, '-'); i > strings.IndexByte(name, '/') {
		return name[:i]
	}
	return name
}

// dialedOf is the resource of a channel's endpoint without the technology
// and host ("PJSIP/+420601111222@customer-0000001" → "+420601111222").
func dialedOf(name string) string {
	_, res, _ := strings.Cut(endpointOf(name), "/")
	res, _, _ = strings.Cut(res, "@")
	return res
}

// checkID accepts the call ids the port allows: 1..64 characters of
// [A-Za-z0-9._-].
func checkID(id string) error {
	if id == "" || len(id) > 64 {
		return fmt.Errorf("asterisk: call id %q: want 1 to 64 characters", id)
	}
	for _, r := range id {
		if !isASCIIAlnum(r) && r != '.' && r != '_' && r != '-' {
			return fmt.Errorf("asterisk: call id %q: contains %q", id, r)
		}
	}
	return nil
}
