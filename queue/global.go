package queue

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/callflow/callflow/store"
)

// Nodes that serve different switches on one database keep one line per
// queue and one call at a time per agent across them (docs/nodes.md,
// "Several switches"). Each engine keeps its own switch's line; the
// Arbiter shares the rest:
//
//   - the head of each queue's line (its first entry an agent may take) is
//     published for the other switches when it changed, at once after each
//     dispatch round and every headsEvery;
//   - an agent is offered only after Arbiter.ClaimAgent took it, which
//     refuses while another switch holds the agent or has a head that
//     comes first; the engine then tries again after claimRetry;
//   - the claim is released when the agent is free again (after wrap-up),
//     and claims this engine holds for agents it no longer uses are
//     released every headsEvery (a release that failed while the database
//     was away).

// Arbiter is the engine's view of the other switches' nodes: the store's
// heads and agent claims with this switch as owner.
type Arbiter interface {
	// ClaimAgent takes agent (by name) for an entry of queue with line
	// key h: store.ErrAgentBusy or store.ErrNotFirst when it may not.
	ClaimAgent(ctx context.Context, agent, queue string, h store.Head) (int64, error)
	// ReleaseAgent frees the claim of version ver (0: whatever version).
	ReleaseAgent(ctx context.Context, agent string, ver int64) error
	// HoldAgent takes agent whatever holds it: it talks on this switch.
	HoldAgent(ctx context.Context, agent, queue string) error
	// PublishHead writes this switch's head of queue (nil: none).
	PublishHead(ctx context.Context, queue string, h *store.Head) error
	// AgentClaims lists the claims this switch holds.
	AgentClaims(ctx context.Context) ([]store.AgentClaim, error)
}

const (
	// claimRetry is how soon an agent another switch holds, or that waits
	// for another switch's caller, is tried again.
	claimRetry = 300 * time.Millisecond
	// headsEvery is the period of the heads' and claims' upkeep.
	headsEvery = time.Second
)

// headKey is the line key an entry is published and claimed with.
func headKey(en *entry) store.Head {
	return store.Head{Priority: en.priority, JoinedAt: en.joined, Seq: en.seq}
}

// claimAgent runs before an offer planned by kick: it takes the agent in
// the database for en. When it may not, the entry and the agent are put
// back, the agent is skipped for claimRetry here (so the line waits for it
// and plans again then), and false is returned.
func (e *Engine) claimAgent(en *entry, ag *agent) bool {
	if e.arb == nil {
		return true
	}
	ctx, ok := e.running()
	if !ok {
		e.mu.Lock()
		delete(e.claiming, en)
		e.mu.Unlock()
		return false
	}
	e.mu.Lock()
	key, queue := headKey(en), en.q.cfg.Name
	e.mu.Unlock()
	ver, err := e.arb.ClaimAgent(ctx, ag.name, queue, key)
	e.mu.Lock()
	delete(e.claiming, en)
	if err == nil {
		ag.claimed, ag.claimVer = true, ver
		e.mu.Unlock()
		return true
	}
	e.mu.Unlock()
	switch {
	case errors.Is(err, store.ErrAgentBusy), errors.Is(err, store.ErrNotFirst):
		e.log.Debug("agent not offered", zap.String("queue", queue), zap.String("agent", ag.name), zap.Error(err))
	default:
		e.log.Warn("claim agent", zap.String("queue", queue), zap.String("agent", ag.name), zap.Error(err))
	}
	e.mu.Lock()
	en.busy = false
	en.touch()
	ag.state = agentFree
	ag.skipUntil = e.clk.Now().Add(claimRetry)
	e.mu.Unlock()
	e.kick()
	return false
}

// releaseClaim frees the agent's claim before the agent is free here, so
// this engine's next claim of it is never undone by this release.
func (e *Engine) releaseClaim(a *agent) {
	if e.arb == nil {
		return
	}
	e.mu.Lock()
	claimed, ver := a.claimed, a.claimVer
	a.claimed, a.claimVer = false, 0
	e.mu.Unlock()
	if !claimed {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.arb.ReleaseAgent(ctx, a.name, ver); err != nil {
		// The upkeep releases it once the database answers.
		e.log.Warn("release agent", zap.String("agent", a.name), zap.Error(err))
	}
}

// holdClaimLocked takes the claim of an agent found busy on this switch (a
// conversation or a dispatch being reconciled after a restart or takeover).
// e.mu is held.
func (e *Engine) holdClaimLocked(a *agent, queue string) {
	if e.arb == nil {
		return
	}
	a.claimed, a.claimVer = true, 0
	e.clk.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := e.arb.HoldAgent(ctx, a.name, queue); err != nil {
			e.log.Warn("hold agent", zap.String("agent", a.name), zap.Error(err))
		}
	})
}

// publishHeads keeps this switch's heads and claims in the database until
// ctx ends: after each dispatch round (e.headsKick) and every headsEvery.
func (e *Engine) publishHeads(ctx context.Context) {
	// published holds what the database has for each queue (nil: no head);
	// a queue missing from it is unknown, so the first round writes every
	// queue's head, clearing any a crashed predecessor on this switch left.
	published := map[string]*store.Head{}
	tick := time.NewTicker(headsEvery)
	defer tick.Stop()
	upkeep := true // the claims' upkeep runs at start and on the tick
	for {
		e.mu.Lock()
		now := e.clk.Now()
		want := make([]*store.Head, len(e.order))
		for i, q := range e.order {
			head := q.line.first(now, q.cfg.Callback.Window.Open(now))
			for en := range e.claiming {
				if en.q == q && (head == nil || less(en, head)) {
					head = en
				}
			}
			if head != nil {
				h := headKey(head)
				want[i] = &h
			}
		}
		e.mu.Unlock()
		for i, q := range e.order {
			name, h := q.cfg.Name, want[i]
			if p, ok := published[name]; ok && sameHead(p, h) {
				continue
			}
			if err := e.arb.PublishHead(ctx, name, h); err != nil {
				e.log.Warn("publish line head", zap.String("queue", name), zap.Error(err))
				continue
			}
			published[name] = h
		}
		if upkeep {
			e.releaseUnused(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-e.headsKick:
			upkeep = false
		case <-tick.C:
			upkeep = true
		}
	}
}

// sameHead compares two heads, nil meaning none.
func sameHead(a, b *store.Head) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Priority == b.Priority && a.JoinedAt.Equal(b.JoinedAt) && a.Seq == b.Seq
}

// releaseUnused frees the claims this switch holds for agents that are free
// here and not being claimed: a release that failed, or claims a crashed
// predecessor on this switch held. A claim taken after the list was read
// has another version and is left alone.
func (e *Engine) releaseUnused(ctx context.Context) {
	claims, err := e.arb.AgentClaims(ctx)
	if err != nil {
		e.log.Warn("list agent claims", zap.Error(err))
		return
	}
	for _, c := range claims {
		e.mu.Lock()
		a := e.byName[c.Agent]
		unused := a == nil || (a.state == agentFree && !a.claimed)
		e.mu.Unlock()
		if !unused {
			continue
		}
		if err := e.arb.ReleaseAgent(ctx, c.Agent, c.Ver); err != nil {
			e.log.Warn("release agent", zap.String("agent", c.Agent), zap.Error(err))
		}
	}
}
