package asterisk

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"

	"go.uber.org/zap"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/ari"
)

var _ adapter.Adopter = (*Switch)(nil)

// stasisArgs returns the Stasis arguments of a channel that is in this
// client's application (dialplan application Stasis, first argument the
// application name), and whether it is.
func (s *Switch) stasisArgs(ch ari.Channel) ([]string, bool) {
	if !strings.EqualFold(ch.Dialplan.AppName, "Stasis") {
		return nil, false
	}
	parts := strings.Split(ch.Dialplan.AppData, ",")
	if len(parts) == 0 || strings.TrimSpace(parts[0]) != s.client.App() {
		return nil, false
	}
	args := parts[1:]
	for i := range args {
		args[i] = strings.TrimSpace(args[i])
	}
	return args, true
}

// Survivors implements adapter.Adopter: GET /channels, keeping the
// channels in callflow's Stasis application that were handed over inbound
// (not originated by callflow) and that no handler of this process runs.
func (s *Switch) Survivors(ctx context.Context) ([]adapter.CallInfo, error) {
	if err := s.WaitConnected(ctx); err != nil {
		return nil, fmt.Errorf("asterisk: survivors: %w", err)
	}
	chs, err := s.client.ListChannels(ctx)
	if err != nil {
		return nil, fmt.Errorf("asterisk: survivors: %w", err)
	}
	var out []adapter.CallInfo
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ch := range chs {
		args, ok := s.stasisArgs(ch)
		if !ok || (len(args) > 0 && args[0] == OriginateMarker) {
			continue
		}
		if _, running := s.calls[ch.ID]; running {
			continue
		}
		out = append(out, adapter.CallInfo{
			ID: ch.ID, Direction: adapter.Inbound, CallerNumber: ch.Caller.Number, CallerName: ch.Caller.Name,
			Dialed: ch.Dialplan.Exten, Args: args,
		})
	}
	return out, nil
}

// Adopt implements adapter.Adopter. Like Attach it subscribes to the
// channel's events before it asks Asterisk for the channel, so a hang-up
// racing the adoption is seen.
func (s *Switch) Adopt(ctx context.Context, id string, h adapter.Handler) error {
	if h == nil {
		return errors.New("asterisk: adopt: nil handler")
	}
	if err := checkID(id); err != nil {
		return fmt.Errorf("asterisk: adopt: %w: %w", adapter.ErrNotFound, err)
	}
	if !s.running.Load() {
		return fmt.Errorf("asterisk: adopt %s: serve is not running: %w", id, adapter.ErrClosed)
	}
	if err := s.WaitConnected(ctx); err != nil {
		return fmt.Errorf("asterisk: adopt %s: %w", id, err)
	}
	sub := s.client.Subscribe(ari.ChannelKey(id))
	ch, err := s.client.GetChannel(ctx, id)
	if err != nil {
		sub.Close()
		if errors.Is(err, ari.ErrNotFound) {
			return fmt.Errorf("asterisk: adopt %s: %w", id, adapter.ErrNotFound)
		}
		return fmt.Errorf("asterisk: adopt %s: %w", id, err)
	}
	args, ok := s.stasisArgs(ch)
	if !ok {
		sub.Close()
		return fmt.Errorf("asterisk: adopt %s: channel is not in application %s", id, s.client.App())
	}
	info := adapter.CallInfo{
		ID: id, Direction: adapter.Inbound, CallerNumber: ch.Caller.Number, CallerName: ch.Caller.Name,
		Dialed: ch.Dialplan.Exten, Args: args,
	}
	s.mu.Lock()
	if c := s.calls[id]; c != nil && c.errGone("adopt") == nil {
		s.mu.Unlock()
		sub.Close()
		return fmt.Errorf("asterisk: adopt %s: the call already runs in this process", id)
	}
	c := s.newCallLocked(info, sub, ch.State == "Up")
	s.handlers.Add(1)
	s.mu.Unlock()
	c.log.Info("call adopted", zap.String("caller", info.CallerNumber), zap.String("dialed", info.Dialed), zap.Strings("args", args))
	// Ends when h returns, as for a new inbound call (incoming).
	go func() {
		defer s.handlers.Done()
		defer c.finish(ctx)
		defer func() {
			if r := recover(); r != nil {
				c.log.Error("call handler panicked", zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
			}
		}()
		h(ctx, c)
	}()
	return nil
}
