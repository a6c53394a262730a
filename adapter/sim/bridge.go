package sim

import (
	"context"
	"fmt"

	"github.com/callflow/callflow/adapter"
)

// bridge is a simulated bridge. Fields after opt are guarded by sw.mu.
type bridge struct {
	sw  *Switch
	id  string
	opt adapter.BridgeOptions

	members   []*call
	destroyed bool
}

var _ adapter.Bridge = (*bridge)(nil)

func (b *bridge) ID() string { return b.id }

func (b *bridge) own(op string, c adapter.Call) (*call, error) {
	cc, ok := c.(*call)
	if !ok || cc.sw != b.sw {
		return nil, fmt.Errorf("sim: bridge %s %s: call is not from this switch: %w", b.id, op, adapter.ErrNotFound)
	}
	if b.destroyed {
		return nil, fmt.Errorf("sim: bridge %s %s: destroyed: %w", b.id, op, adapter.ErrNotFound)
	}
	return cc, nil
}

// Add moves the call into the bridge (out of any other bridge).
func (b *bridge) Add(ctx context.Context, c adapter.Call) error {
	b.sw.mu.Lock()
	defer b.sw.mu.Unlock()
	cc, err := b.own("add", c)
	if err != nil {
		return err
	}
	if err := cc.goneErrLocked("bridge " + b.id + " add"); err != nil {
		return err
	}
	if cc.bridge == b {
		return nil
	}
	if cc.bridge != nil {
		cc.bridge.leaveLocked(cc, "moved")
	}
	cc.bridge = b
	b.members = append(b.members, cc)
	text := b.opt.Name + " " + b.opt.Kind.String()
	if b.opt.Kind == adapter.Holding {
		text += ", music on"
		if b.opt.MusicClass != "" {
			text += " (" + b.opt.MusicClass + ")"
		}
	}
	cc.emit("bridge-enter", text, nil)
	b.startTalkLocked()
	return nil
}

// startTalkLocked starts the talk timer of every answered party that now
// shares a mixing bridge with another call.
func (b *bridge) startTalkLocked() {
	if b.opt.Kind != adapter.Mixing || len(b.members) < 2 {
		return
	}
	for _, m := range b.members {
		if m.party == nil || m.talkStarted {
			continue
		}
		m.talkStarted = true
		m.timers = append(m.timers, b.sw.sched.AfterFunc(m.party.Talk, func() {
			b.sw.mu.Lock()
			defer b.sw.mu.Unlock()
			m.hangupLocked(adapter.CauseNormal, "callee")
		}))
	}
}

// Remove takes the call out; a call not in the bridge is a no-op.
func (b *bridge) Remove(ctx context.Context, c adapter.Call) error {
	b.sw.mu.Lock()
	defer b.sw.mu.Unlock()
	cc, err := b.own("remove", c)
	if err != nil {
		return err
	}
	if cc.bridge == b {
		b.leaveLocked(cc, "removed")
	}
	return nil
}

// Destroy empties and removes the bridge; its calls stay up.
func (b *bridge) Destroy(ctx context.Context) error {
	b.sw.mu.Lock()
	defer b.sw.mu.Unlock()
	if b.destroyed {
		return fmt.Errorf("sim: bridge %s destroy: %w", b.id, adapter.ErrNotFound)
	}
	for len(b.members) > 0 {
		b.leaveLocked(b.members[0], "destroyed")
	}
	b.destroyed = true
	return nil
}

func (b *bridge) leaveLocked(c *call, why string) {
	for i, m := range b.members {
		if m == c {
			b.members = append(b.members[:i], b.members[i+1:]...)
			break
		}
	}
	c.bridge = nil
	c.emit("bridge-leave", b.opt.Name+" "+why, nil)
}
