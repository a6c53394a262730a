package service

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/api"
	"github.com/callflow/callflow/config"
	"github.com/callflow/callflow/queue"
	"github.com/callflow/callflow/store"
)

// ErrLeaseLost ends Run when this node lost its switch lease to another
// node (or could not renew it within the lease time): the process must
// stop acting for the switch, leave its calls up and exit; the node that
// holds the lease re-adopts them.
var ErrLeaseLost = errors.New("service: switch lease lost")

// node is this process's part among several nodes sharing a PostgreSQL
// store (docs/nodes.md): it owns its switch connection only while it
// holds the switch's lease, and checks the lease's fencing token in the
// database before every dial.
type node struct {
	st      *store.DB
	id      string
	lease   string // the lease's name: the switch connection
	ttl     time.Duration
	log     *zap.Logger
	started time.Time

	mu    sync.Mutex
	held  bool
	token int64
	// validTill is the local bound of the lease: the start of the last
	// acquire or renewal that succeeded plus the lease time. The database
	// row may say later; never earlier.
	validTill time.Time

	lost     chan struct{} // closed once the lease is lost
	lostOnce sync.Once
	stop     chan struct{} // closed by release: the renewals end
	stopOnce sync.Once
	kept     chan struct{} // closed when the renewal loop has ended

	takeovers, acquired, losses, fenced atomic.Int64
}

// newNode returns nil for a single node (no node section).
func newNode(cfg *config.Config, st *store.DB, log *zap.Logger) *node {
	if cfg.Node.ID == "" {
		return nil
	}
	return &node{
		st: st, id: cfg.Node.ID, lease: leaseName(cfg), ttl: cfg.Node.LeaseTTL,
		log: log.With(zap.String("node", cfg.Node.ID)), started: time.Now(),
		lost: make(chan struct{}), stop: make(chan struct{}), kept: make(chan struct{}),
	}
}

// leaseName names the switch connection: nodes configured for the same
// switch (same address and application) compete for one lease.
func leaseName(cfg *config.Config) string {
	switch sw := cfg.Switch; {
	case sw.Type == config.Asterisk && sw.Asterisk != nil:
		return "asterisk " + sw.Asterisk.URL + " app " + sw.Asterisk.App
	case sw.Type == config.FreeSWITCH && sw.FreeSWITCH != nil:
		return "freeswitch " + sw.FreeSWITCH.Inbound
	default:
		return string(sw.Type)
	}
}

// standbyPoll is how often a standby node tries to take the lease: a
// fifth of the lease time, so a takeover follows the lease's expiry by at
// most that.
func (n *node) standbyPoll() time.Duration { return n.ttl / 5 }

// renewEvery is the renewal interval: a third of the lease time, so two
// renewals can fail before the lease expires.
func (n *node) renewEvery() time.Duration { return n.ttl / 3 }

// wait blocks until this node holds the lease (then it is the active node
// of its switch) or ctx ends. A standby writes its node row on every try,
// so GET /v1/nodes shows it alive.
func (n *node) wait(ctx context.Context) error {
	var waitingFor string
	for {
		err := n.acquire(ctx)
		if err == nil {
			return nil
		}
		var holder string
		if errors.Is(err, store.ErrLeaseHeld) {
			if cur, ok, lerr := n.st.Lease(ctx, n.lease); lerr == nil && ok {
				holder = cur.Holder
			}
			if holder != waitingFor {
				n.log.Info("standby: the switch lease is held by another node", zap.String("lease", n.lease), zap.String("holder", holder))
				waitingFor = holder
			}
		} else if ctx.Err() == nil {
			n.log.Warn("standby: cannot take the switch lease", zap.String("lease", n.lease), zap.Error(err))
		}
		if terr := n.st.TouchNode(ctx, n.id, n.started, time.Now(), 0); terr != nil && ctx.Err() == nil {
			n.log.Warn("standby: cannot write the node row", zap.Error(terr))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(n.standbyPoll()):
		}
	}
}

// acquire tries once to take the lease.
func (n *node) acquire(ctx context.Context) error {
	prev, hadPrev, err := n.st.Lease(ctx, n.lease)
	if err != nil {
		return err
	}
	at := time.Now()
	l, err := n.st.AcquireLease(ctx, n.lease, n.id, at, n.ttl)
	if err != nil {
		return err
	}
	takeover := hadPrev && prev.Holder != n.id
	n.mu.Lock()
	n.held, n.token, n.validTill = true, l.Token, at.Add(n.ttl)
	n.mu.Unlock()
	n.acquired.Add(1)
	var more int64
	kind := "lease_acquired"
	if takeover {
		more, kind = 1, "lease_takeover"
		n.takeovers.Add(1)
	}
	if err := n.st.TouchNode(ctx, n.id, n.started, at, more); err != nil {
		n.log.Warn("cannot write the node row", zap.Error(err))
	}
	detail := map[string]string{"node": n.id, "lease": n.lease, "token": strconv.FormatInt(l.Token, 10)}
	fields := []zap.Field{zap.String("lease", n.lease), zap.Int64("token", l.Token)}
	if takeover {
		detail["previous"] = prev.Holder
		detail["previous_expired_at"] = prev.Expires.UTC().Format(time.RFC3339Nano)
		fields = append(fields, zap.String("previous", prev.Holder), zap.Duration("after_expiry", at.Sub(prev.Expires)))
	}
	n.event(ctx, kind, detail)
	n.log.Info("switch lease taken: this node is active", fields...)
	return nil
}

// keep renews the lease every renewEvery until it is lost or released.
// A renewal refused by the database (another node has the lease, or it
// expired) loses it at once; renewals that fail for other reasons
// (database unreachable) lose it when the lease time has passed since the
// last good one, at that moment (not at the next tick). Ends with the
// loss or with release.
func (n *node) keep() {
	defer close(n.kept)
	next := time.Now().Add(n.renewEvery())
	for {
		n.mu.Lock()
		tok, till := n.token, n.validTill
		n.mu.Unlock()
		t := time.NewTimer(time.Until(next))
		expiry := time.NewTimer(time.Until(till))
		select {
		case <-n.stop:
			t.Stop()
			expiry.Stop()
			return
		case <-n.lost:
			t.Stop()
			expiry.Stop()
			return
		case <-expiry.C:
			t.Stop()
			n.lose(errors.New("no renewal within the lease time"))
			return
		case <-t.C:
			expiry.Stop()
		}
		next = time.Now().Add(n.renewEvery())
		at := time.Now()
		ctx, cancel := context.WithDeadline(context.Background(), till)
		_, err := n.st.RenewLease(ctx, n.lease, n.id, tok, at, n.ttl)
		cancel()
		switch {
		case err == nil:
			n.mu.Lock()
			n.validTill = at.Add(n.ttl)
			n.mu.Unlock()
			tctx, tcancel := context.WithTimeout(context.Background(), n.renewEvery())
			if err := n.st.TouchNode(tctx, n.id, n.started, at, 0); err != nil {
				n.log.Warn("cannot write the node row", zap.Error(err))
			}
			tcancel()
		case errors.Is(err, store.ErrLeaseLost):
			n.lose(err)
			return
		case !time.Now().Before(till):
			n.lose(fmt.Errorf("no renewal within the lease time: %w", err))
			return
		default:
			n.log.Warn("switch lease renewal failed; retrying", zap.Error(err), zap.Time("valid_till", till))
		}
	}
}

// lose marks the lease lost (once): nothing is dialled any more and Run
// returns ErrLeaseLost.
func (n *node) lose(cause error) {
	n.lostOnce.Do(func() {
		n.mu.Lock()
		n.held = false
		tok := n.token
		n.mu.Unlock()
		n.losses.Add(1)
		n.log.Error("switch lease lost: this node stops acting for the switch and leaves its calls up", zap.String("lease", n.lease), zap.Int64("token", tok), zap.Error(cause))
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		n.event(ctx, "lease_lost", map[string]string{"node": n.id, "lease": n.lease, "token": strconv.FormatInt(tok, 10), "reason": cause.Error()})
		close(n.lost)
	})
}

// check is the fence of a dial: the lease must be held with this node's
// token, locally (within the lease time of the last renewal) and in the
// database at this moment. A node cut from the database therefore dials
// nothing.
func (n *node) check(ctx context.Context) error {
	n.mu.Lock()
	held, tok, till := n.held, n.token, n.validTill
	n.mu.Unlock()
	now := time.Now()
	if !held || !now.Before(till) {
		return fmt.Errorf("%w: %s not held by %s (valid till %s)", store.ErrLeaseLost, n.lease, n.id, till.Format(time.RFC3339Nano))
	}
	// Not past the lease's local expiry: a database that does not answer
	// must not hold the dial (and the call waiting for it) longer.
	cctx, cancel := context.WithDeadline(ctx, till)
	defer cancel()
	err := n.st.CheckFence(cctx, store.Fence{Lease: n.lease, Token: tok}, n.id, now)
	if errors.Is(err, store.ErrLeaseLost) {
		n.lose(err)
	}
	return err
}

// fence is the fence the queue engine's callback claims carry: this
// node's lease with its token (token 0, which no lease has, while the
// lease is not held, so a claim then fails with ErrLeaseLost).
func (n *node) fence() store.Fence {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.held {
		return store.Fence{Lease: n.lease}
	}
	return store.Fence{Lease: n.lease, Token: n.token}
}

// holding tells whether this node is the active node of its switch.
func (n *node) holding() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.held
}

// release gives the lease up (after the drain, before the process exits)
// so a standby takes over at once instead of after the lease time.
func (n *node) release(ctx context.Context) {
	n.stopOnce.Do(func() { close(n.stop) })
	n.mu.Lock()
	held, tok := n.held, n.token
	n.held = false
	n.mu.Unlock()
	if !held {
		return
	}
	if err := n.st.ReleaseLease(ctx, n.lease, n.id, tok, time.Now()); err != nil {
		n.log.Warn("switch lease not released", zap.Error(err))
		return
	}
	n.event(ctx, "lease_released", map[string]string{"node": n.id, "lease": n.lease, "token": strconv.FormatInt(tok, 10)})
	n.log.Info("switch lease released", zap.String("lease", n.lease))
}

// event writes a node event into the event log (GET /v1/events).
func (n *node) event(ctx context.Context, kind string, detail map[string]string) {
	if err := n.st.AppendEvent(ctx, store.Event{At: time.Now(), Kind: kind, Detail: detail}); err != nil {
		n.log.Warn("node event not logged", zap.String("kind", kind), zap.Error(err))
	}
}

// view is GET /v1/nodes.
func (n *node) view(ctx context.Context) (api.Nodes, error) {
	nodes, err := n.st.Nodes(ctx)
	if err != nil {
		return api.Nodes{}, err
	}
	leases, err := n.st.Leases(ctx)
	if err != nil {
		return api.Nodes{}, err
	}
	now := time.Now()
	out := api.Nodes{Node: n.id, LeaseTTLMS: n.ttl.Milliseconds()}
	for _, nd := range nodes {
		info := api.NodeInfo{ID: nd.ID, StartedAt: nd.StartedAt, LastRenewal: nd.RenewedAt,
			Alive: now.Sub(nd.RenewedAt) < n.ttl, Takeovers: nd.Takeovers}
		for _, l := range leases {
			if l.Holder == nd.ID && l.Expires.After(now) {
				info.Leases = append(info.Leases, api.LeaseInfo{Name: l.Name, Token: l.Token, ExpiresAt: l.Expires})
			}
		}
		out.Nodes = append(out.Nodes, info)
	}
	return out, nil
}

// collectors are the node's metrics.
func (n *node) collectors() []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "callflow_node_lease_held",
			Help: "1 while this node holds its switch's lease (active), 0 on standby", ConstLabels: prometheus.Labels{"node": n.id}},
			func() float64 {
				if n.holding() {
					return 1
				}
				return 0
			}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "callflow_node_lease_acquisitions_total",
			Help: "switch leases this node took (a takeover counts here too)", ConstLabels: prometheus.Labels{"node": n.id}},
			func() float64 { return float64(n.acquired.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "callflow_node_takeovers_total",
			Help: "switch leases this node took from another node", ConstLabels: prometheus.Labels{"node": n.id}},
			func() float64 { return float64(n.takeovers.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "callflow_node_lease_losses_total",
			Help: "switch leases this node lost", ConstLabels: prometheus.Labels{"node": n.id}},
			func() float64 { return float64(n.losses.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "callflow_node_dials_fenced_total",
			Help: "dials refused because the lease's fencing token was no longer this node's", ConstLabels: prometheus.Labels{"node": n.id}},
			func() float64 { return float64(n.fenced.Load()) }),
	}
}

// fencedSwitch checks the node's fence before every Originate; the rest
// is the switch's.
type fencedSwitch struct {
	adapter.Switch
	n *node
}

// Originate dials only while the fence holds. A refused dial fails with
// adapter.ErrClosed: for this node the switch connection is gone.
func (f fencedSwitch) Originate(ctx context.Context, req adapter.OriginateRequest) (adapter.Call, error) {
	if err := f.n.check(ctx); err != nil {
		f.n.fenced.Add(1)
		f.n.log.Warn("not dialling: the switch lease is not this node's", zap.String("endpoint", req.Endpoint), zap.String("tag", req.Tag), zap.Error(err))
		return nil, fmt.Errorf("service: originate %s: %w (%w)", req.Endpoint, adapter.ErrClosed, err)
	}
	return f.Switch.Originate(ctx, req)
}

// fencedAttacher keeps the switch's Attacher (crash reconciliation).
type fencedAttacher struct {
	fencedSwitch
	att adapter.Attacher
}

func (f fencedAttacher) Attach(ctx context.Context, id string) (adapter.Call, error) {
	return f.att.Attach(ctx, id)
}

// fence wraps sw for a node (nil: sw unchanged).
func fence(sw adapter.Switch, n *node) adapter.Switch {
	if n == nil {
		return sw
	}
	f := fencedSwitch{Switch: sw, n: n}
	if att, ok := sw.(adapter.Attacher); ok {
		return fencedAttacher{fencedSwitch: f, att: att}
	}
	return f
}

// lostC is closed when a node loses its lease; nil (never) for a single
// node.
func (n *node) lostC() <-chan struct{} {
	if n == nil {
		return nil
	}
	return n.lost
}

// arbiter is the queue engine's view of the other switches' nodes: the
// store's line heads and agent claims, owned by this node's switch lease.
// Another switch counts while its lease is held or expired less than a
// lease time ago (its standby is taking over).
func (n *node) arbiter() queue.Arbiter { return arbiter{n} }

type arbiter struct{ n *node }

func (a arbiter) ClaimAgent(ctx context.Context, agent, queue string, h store.Head) (int64, error) {
	return a.n.st.ClaimAgent(ctx, a.n.lease, agent, queue, h, time.Now(), a.n.ttl)
}

func (a arbiter) ReleaseAgent(ctx context.Context, agent string, ver int64) error {
	return a.n.st.ReleaseAgent(ctx, a.n.lease, agent, ver)
}

func (a arbiter) HoldAgent(ctx context.Context, agent, queue string) error {
	return a.n.st.HoldAgent(ctx, a.n.lease, agent, queue, time.Now())
}

func (a arbiter) PublishHead(ctx context.Context, queue string, h *store.Head) error {
	return a.n.st.PublishHead(ctx, a.n.lease, queue, h, time.Now())
}

func (a arbiter) AgentClaims(ctx context.Context) ([]store.AgentClaim, error) {
	return a.n.st.AgentClaims(ctx, a.n.lease)
}
