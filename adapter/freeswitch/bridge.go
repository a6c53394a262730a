package freeswitch

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.uber.org/zap"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/esl"
)

var _ adapter.Bridge = (*bridge)(nil)

// bridge is a FreeSWITCH "bridge" made of channel operations: a holding
// bridge is a set of parked channels, each hearing the hold music through
// uuid_broadcast; a mixing bridge joins two channels with uuid_bridge.
// FreeSWITCH has no bridge object of its own, so the bridge lives here.
type bridge struct {
	sw    *Switch
	id    string
	kind  adapter.BridgeKind
	name  string
	music string // holding: the stream members hear
	log   *zap.Logger

	mu        sync.Mutex
	members   []*call
	bridged   bool // mixing: uuid_bridge joined the two members
	destroyed bool
}

// NewBridge creates a bridge; FreeSWITCH is told nothing until calls are
// added.
func (s *Switch) NewBridge(ctx context.Context, opt adapter.BridgeOptions) (adapter.Bridge, error) {
	b := &bridge{sw: s, id: esl.NewUUID(), kind: opt.Kind, name: opt.Name}
	if opt.Kind == adapter.Holding {
		b.music = s.cfg.HoldMusic
		if opt.MusicClass != "" && opt.MusicClass != "default" {
			if err := checkMusicClass(opt.MusicClass); err != nil {
				return nil, fmt.Errorf("freeswitch: bridge %s: %w", opt.Name, err)
			}
			b.music = "local_stream://" + opt.MusicClass
		}
		if err := checkMusic(b.music); err != nil {
			return nil, fmt.Errorf("freeswitch: bridge %s: music class: %w", opt.Name, err)
		}
	}
	b.log = s.log.With(zap.String("bridge", b.id), zap.String("bridge_name", opt.Name), zap.Stringer("kind", opt.Kind))
	return b, nil
}

func (b *bridge) ID() string { return b.id }

func (b *bridge) callOf(ac adapter.Call) (*call, error) {
	c, ok := ac.(*call)
	if !ok || c.sw != b.sw {
		return nil, fmt.Errorf("freeswitch: bridge %s: call %s is not a call of this switch: %w", b.id, ac.ID(), adapter.ErrNotFound)
	}
	return c, nil
}

func (b *bridge) has(c *call) bool {
	for _, m := range b.members {
		if m == c {
			return true
		}
	}
	return false
}

// forget drops c from the members without telling FreeSWITCH (c hung up).
func (b *bridge) forget(c *call) {
	b.mu.Lock()
	defer b.mu.Unlock()
	kept := b.members[:0]
	for _, m := range b.members {
		if m != c {
			kept = append(kept, m)
		}
	}
	b.members = kept
	if b.kind == adapter.Mixing && len(kept) < 2 {
		b.bridged = false
	}
}

// Add moves c into the bridge, out of any other. Holding: the call stays
// parked and hears the music. Mixing: both legs get
// hangup_after_bridge=false and park_after_bridge=true, and the second
// call added is joined to the first with uuid_bridge. A mixing bridge
// holds two calls.
func (b *bridge) Add(ctx context.Context, ac adapter.Call) error {
	c, err := b.callOf(ac)
	if err != nil {
		return err
	}
	if err := c.errGone("bridge add"); err != nil {
		return err
	}
	b.mu.Lock()
	switch {
	case b.destroyed:
		b.mu.Unlock()
		return fmt.Errorf("freeswitch: bridge %s: %w (destroyed)", b.id, adapter.ErrNotFound)
	case b.has(c):
		b.mu.Unlock()
		return nil
	case b.kind == adapter.Mixing && len(b.members) >= 2:
		b.mu.Unlock()
		return fmt.Errorf("freeswitch: bridge %s: a mixing bridge joins two calls (uuid_bridge)", b.id)
	}
	b.mu.Unlock()
	if err := c.leaveBridges(ctx, b); err != nil {
		return err
	}
	if b.kind == adapter.Holding {
		return b.addHolding(ctx, c)
	}
	return b.addMixing(ctx, c)
}

func (b *bridge) addHolding(ctx context.Context, c *call) error {
	b.mu.Lock()
	b.members = append(b.members, c)
	b.mu.Unlock()
	c.mu.Lock()
	c.holding = b
	c.mu.Unlock()
	c.startMusic(ctx, b)
	b.log.Debug("call joined holding bridge", zap.String("call_id", c.id))
	return nil
}

func (b *bridge) addMixing(ctx context.Context, c *call) error {
	for _, v := range [][2]string{{"hangup_after_bridge", "false"}, {"park_after_bridge", "true"}} {
		if err := c.setVar(ctx, "bridge add", v[0], v[1]); err != nil {
			return err
		}
	}
	b.mu.Lock()
	if b.destroyed || len(b.members) >= 2 {
		b.mu.Unlock()
		return fmt.Errorf("freeswitch: bridge %s: changed while adding %s", b.id, c.id)
	}
	b.members = append(b.members, c)
	var peer *call
	if len(b.members) == 2 {
		peer = b.members[0]
	}
	b.mu.Unlock()
	c.mu.Lock()
	c.mixing = b
	c.mu.Unlock()
	if peer == nil {
		return nil
	}
	if _, err := peer.api(ctx, "bridge", "uuid_bridge", c.uuid); err != nil {
		b.forget(c)
		c.mu.Lock()
		c.mixing = nil
		c.mu.Unlock()
		return err
	}
	b.mu.Lock()
	b.bridged = true
	b.mu.Unlock()
	b.log.Info("calls bridged", zap.String("a", peer.id), zap.String("b", c.id))
	return nil
}

// leaveBridges takes c out of its bridges other than keep.
func (c *call) leaveBridges(ctx context.Context, keep *bridge) error {
	c.mu.Lock()
	h, m := c.holding, c.mixing
	c.mu.Unlock()
	for _, x := range []*bridge{h, m} {
		if x != nil && x != keep {
			if err := x.Remove(ctx, c); err != nil {
				return err
			}
		}
	}
	return nil
}

// Remove takes c out of the bridge: holding stops the music (stopMusic),
// mixing parks c (uuid_park), which ends the uuid_bridge; the peer parks
// too (park_after_bridge). Removing a call that is not in the bridge or
// has hung up is a no-op.
func (b *bridge) Remove(ctx context.Context, ac adapter.Call) error {
	c, err := b.callOf(ac)
	if err != nil {
		return err
	}
	b.mu.Lock()
	if !b.has(c) {
		b.mu.Unlock()
		return nil
	}
	bridged := b.bridged
	b.mu.Unlock()
	b.forget(c)
	c.mu.Lock()
	music := false
	if b.kind == adapter.Holding && c.holding == b {
		c.holding, music, c.music = nil, c.music, false
	}
	if b.kind == adapter.Mixing && c.mixing == b {
		c.mixing = nil
	}
	c.mu.Unlock()
	if c.isGone() {
		return nil
	}
	switch {
	case b.kind == adapter.Holding && music:
		c.stopMusic(ctx, "left holding bridge")
	case b.kind == adapter.Mixing && bridged:
		if _, err := c.api(ctx, "bridge remove", "uuid_park"); err != nil && !errors.Is(err, adapter.ErrHangup) {
			return err
		}
	}
	b.log.Debug("call left bridge", zap.String("call_id", c.id))
	return nil
}

// Destroy removes every member (their calls stay up) and ends the bridge.
func (b *bridge) Destroy(ctx context.Context) error {
	b.mu.Lock()
	b.destroyed = true
	members := append([]*call(nil), b.members...)
	b.mu.Unlock()
	var errs []error
	for _, c := range members {
		if err := b.Remove(ctx, c); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("freeswitch: destroy bridge %s: %w", b.id, err)
	}
	return nil
}
