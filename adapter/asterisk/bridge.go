package asterisk

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"go.uber.org/zap"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/ari"
)

// bridge is an ARI bridge created by NewBridge.
type bridge struct {
	sw   *Switch
	id   string
	kind adapter.BridgeKind
	name string
}

// NewBridge creates a holding bridge with music on hold, or a mixing bridge.
func (s *Switch) NewBridge(ctx context.Context, opt adapter.BridgeOptions) (adapter.Bridge, error) {
	typ := ari.BridgeHolding
	switch opt.Kind {
	case adapter.Holding:
	case adapter.Mixing:
		typ = ari.BridgeMixing
	default:
		return nil, fmt.Errorf("asterisk: new bridge %q: unknown kind %d", opt.Name, int(opt.Kind))
	}
	id := ari.NewID(bridgeIDPrefix)
	// Owned before it exists, so its events never find it stale.
	s.ownBridge(id, true)
	if _, err := s.client.CreateBridge(ctx, id, typ, opt.Name); err != nil {
		s.ownBridge(id, false)
		return nil, fmt.Errorf("asterisk: new %s bridge %q: %w", typ, opt.Name, err)
	}
	b := &bridge{sw: s, id: id, kind: opt.Kind, name: opt.Name}
	if opt.Kind == adapter.Holding {
		class := opt.MusicClass
		if class == "" {
			class = "default"
		}
		if err := s.client.StartBridgeMOH(ctx, id, class); err != nil {
			dctx, cancel := detached(ctx)
			defer cancel()
			if derr := s.client.DestroyBridge(dctx, id); derr != nil && !errors.Is(derr, ari.ErrNotFound) {
				s.log.Warn("destroy bridge after failed moh", zap.String("bridge", id), zap.Error(derr))
			}
			return nil, fmt.Errorf("asterisk: new holding bridge %q: music class %q: %w", opt.Name, class, err)
		}
	}
	s.log.Debug("bridge created", zap.String("bridge", id), zap.Stringer("kind", opt.Kind), zap.String("name", opt.Name))
	return b, nil
}

func (b *bridge) ID() string { return b.id }

// Add moves the call into the bridge (ARI moves it out of any other bridge).
func (b *bridge) Add(ctx context.Context, c adapter.Call) error {
	if ac, ok := c.(*call); ok {
		if err := ac.errGone("add to bridge"); err != nil {
			return err
		}
	}
	err := b.sw.client.AddChannel(ctx, b.id, c.ID())
	if errors.Is(err, ari.ErrConflict) && b.leaveOtherBridge(ctx, c.ID()) {
		err = b.sw.client.AddChannel(ctx, b.id, c.ID())
	}
	if err == nil {
		return nil
	}
	if ac, ok := c.(*call); ok && (errors.Is(err, ari.ErrNotFound) || errors.Is(err, ari.ErrConflict) || errors.Is(err, ari.ErrUnprocessable)) {
		// 404 is also the answer for a gone bridge: tell them apart.
		if _, berr := b.sw.client.GetBridge(ctx, b.id); errors.Is(berr, ari.ErrNotFound) {
			return fmt.Errorf("asterisk: add %s to bridge %s: %w (%w)", c.ID(), b.id, adapter.ErrNotFound, err)
		}
		return ac.restErr(ctx, "add to bridge "+b.id, err)
	}
	return fmt.Errorf("asterisk: add %s to bridge %s: %w", c.ID(), b.id, err)
}

// leaveOtherBridge takes the channel out of another bridge it is in (for an
// Asterisk that refuses to move it); it reports whether it did.
func (b *bridge) leaveOtherBridge(ctx context.Context, channelID string) bool {
	bs, err := b.sw.client.ListBridges(ctx)
	if err != nil {
		return false
	}
	for _, other := range bs {
		if other.ID != b.id && slices.Contains(other.Channels, channelID) {
			err := b.sw.client.RemoveChannel(ctx, other.ID, channelID)
			return err == nil
		}
	}
	return false
}

// Remove takes the call out of the bridge; a call that is not in it, or is
// gone, is a no-op. A call whose StasisEnd or ChannelDestroyed was seen has
// left every bridge already: no request is made (a hung-up waiter would
// otherwise cost a refused removeChannel and a GET to tell why).
func (b *bridge) Remove(ctx context.Context, c adapter.Call) error {
	if ac, ok := c.(*call); ok && errors.Is(ac.errGone("remove from bridge"), adapter.ErrHangup) {
		return nil
	}
	err := b.sw.client.RemoveChannel(ctx, b.id, c.ID())
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ari.ErrNotFound), errors.Is(err, ari.ErrUnprocessable), errors.Is(err, ari.ErrConflict):
		return nil
	case errors.Is(err, ari.ErrBadRequest):
		// Asterisk 22 answers 400 "Channel not found" for a gone channel.
		if _, gerr := b.sw.client.GetChannel(ctx, c.ID()); errors.Is(gerr, ari.ErrNotFound) {
			return nil
		}
	}
	return fmt.Errorf("asterisk: remove %s from bridge %s: %w", c.ID(), b.id, err)
}

// Destroy removes the bridge; its calls stay up. Destroying a gone bridge
// is a no-op (Asterisk answers 404, or 409 "not in Stasis application"
// while an earlier destroy is still under way).
func (b *bridge) Destroy(ctx context.Context) error {
	err := b.sw.client.DestroyBridge(ctx, b.id)
	if err != nil && !errors.Is(err, ari.ErrNotFound) && !errors.Is(err, ari.ErrConflict) {
		return fmt.Errorf("asterisk: destroy bridge %s: %w", b.id, err)
	}
	b.sw.ownBridge(b.id, false)
	return nil
}

// bridgeIDPrefix starts the id of every bridge this driver creates.
const bridgeIDPrefix = "br-"

// ownBridge records whether this process owns the bridge id.
func (s *Switch) ownBridge(id string, owned bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !owned {
		delete(s.bridges, id)
		return
	}
	if s.bridges == nil {
		s.bridges = map[string]bool{}
	}
	s.bridges[id] = true
}
