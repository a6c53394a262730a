package service

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the test writes the lease row as an intruder would
	"go.uber.org/zap/zaptest"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/config"
	"github.com/callflow/callflow/internal/pgtest"
	"github.com/callflow/callflow/store"
)

// countingSwitch counts the dials that reach the switch.
type countingSwitch struct {
	adapter.Switch
	dials int
}

func (c *countingSwitch) Originate(context.Context, adapter.OriginateRequest) (adapter.Call, error) {
	c.dials++
	return nil, adapter.ErrNoAnswer
}

func testNode(t *testing.T, dsn, id string, ttl time.Duration) (*node, *store.DB) {
	t.Helper()
	st, err := store.OpenPostgres(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := &config.Config{
		Switch: config.SwitchConfig{Type: config.Asterisk, Asterisk: &config.AsteriskConfig{URL: "http://127.0.0.1:8088/ari", App: "callflow"}},
		Node:   config.NodeConfig{ID: id, LeaseTTL: ttl},
	}
	return newNode(cfg, st, zaptest.NewLogger(t)), st
}

// TestNodeLease runs two nodes' lease handling on a real PostgreSQL: one
// active, one standby; the fence lets the active node dial; a stolen
// lease stops the next dial and loses the lease; the standby takes over
// after the expiry; a release hands over at once.
func TestNodeLease(t *testing.T) {
	pg, dsn := pgtest.RequirePrivate(t)
	const ttl = 3 * time.Second
	a, st := testNode(t, dsn, "a", ttl)
	b, _ := testNode(t, dsn, "b", ttl)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if got := a.lease; got != "asterisk http://127.0.0.1:8088/ari app callflow" {
		t.Fatalf("lease name %q", got)
	}
	if err := a.wait(ctx); err != nil {
		t.Fatal(err)
	}
	go a.keep()
	bctx, bcancel := context.WithTimeout(ctx, 2*time.Second)
	if err := b.wait(bctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("b took a held lease: %v", err)
	}
	bcancel()

	sw := &countingSwitch{}
	dial := fence(sw, a)
	if _, ok := dial.(adapter.Attacher); ok {
		t.Fatal("the fenced switch claims Attach its switch lacks")
	}
	if _, err := dial.Originate(ctx, adapter.OriginateRequest{Endpoint: "PJSIP/agent1"}); !errors.Is(err, adapter.ErrNoAnswer) || sw.dials != 1 {
		t.Fatalf("holder's dial: %v, %d dials", err, sw.dials)
	}
	time.Sleep(ttl) // renewals keep it past the first lease time
	if _, err := dial.Originate(ctx, adapter.OriginateRequest{Endpoint: "PJSIP/agent1"}); !errors.Is(err, adapter.ErrNoAnswer) || sw.dials != 2 {
		t.Fatalf("dial after renewals: %v, %d dials", err, sw.dials)
	}

	// The lease row is taken by someone else: the next dial is refused.
	if err := forceLease(ctx, dsn, a.lease, "intruder"); err != nil {
		t.Fatal(err)
	}
	if _, err := dial.Originate(ctx, adapter.OriginateRequest{Endpoint: "PJSIP/agent1"}); !errors.Is(err, adapter.ErrClosed) || !errors.Is(err, store.ErrLeaseLost) || sw.dials != 2 {
		t.Fatalf("dial with a stolen lease: %v, %d dials", err, sw.dials)
	}
	select {
	case <-a.lostC():
	default:
		t.Fatal("a refused dial did not lose the lease")
	}
	if a.holding() || a.losses.Load() != 1 || a.fenced.Load() != 1 {
		t.Fatalf("after the loss: holding %v, losses %d, fenced %d", a.holding(), a.losses.Load(), a.fenced.Load())
	}

	// The intruder's lease expires: b takes over.
	if err := forceExpiry(ctx, dsn, a.lease); err != nil {
		t.Fatal(err)
	}
	if err := b.wait(ctx); err != nil {
		t.Fatal(err)
	}
	go b.keep()
	if b.takeovers.Load() != 1 {
		t.Fatalf("b's takeovers %d", b.takeovers.Load())
	}
	v, err := b.view(ctx)
	if err != nil || v.Node != "b" || len(v.Nodes) != 2 || v.Nodes[1].ID != "b" || len(v.Nodes[1].Leases) != 1 || v.Nodes[1].Takeovers != 1 || len(v.Nodes[0].Leases) != 0 {
		t.Fatalf("view %+v %v", v, err)
	}
	page, err := st.QueryEvents(ctx, store.EventFilter{Kinds: []string{"lease_acquired", "lease_takeover", "lease_lost"}})
	evs := page.Events
	if err != nil || len(evs) != 3 || evs[0].Kind != "lease_acquired" || evs[1].Kind != "lease_lost" || evs[2].Kind != "lease_takeover" || evs[2].Detail["previous"] != "intruder" {
		t.Fatalf("events %+v %v", evs, err)
	}

	// b releases (the end of a drain): c takes over at once.
	cn, _ := testNode(t, dsn, "c", ttl)
	b.release(ctx)
	took := time.Now()
	if err := cn.wait(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(took); d > ttl/2 || cn.takeovers.Load() != 1 {
		t.Fatalf("c took the released lease after %v with %d takeovers", d, cn.takeovers.Load())
	}
	go cn.keep()

	// A node cut from PostgreSQL dials nothing.
	pg.Crash()
	csw := &countingSwitch{}
	if _, err := fence(csw, cn).Originate(ctx, adapter.OriginateRequest{Endpoint: "PJSIP/agent1"}); err == nil || csw.dials != 0 {
		t.Fatalf("dial without the database: %v, %d dials", err, csw.dials)
	}
	select {
	case <-cn.lostC():
	case <-time.After(2 * ttl):
		t.Fatal("c kept its lease without reaching the database for twice the lease time")
	}
}

// forceLease gives the lease to holder with a new token for an hour, as
// an operator or a confused node writing the row would.
func forceLease(ctx context.Context, dsn, name, holder string) error {
	return execPG(ctx, dsn, `UPDATE leases SET holder = $1, token = token + 1, expires_at = now() + interval '1 hour' WHERE name = $2`, holder, name)
}

// forceExpiry ends the lease now.
func forceExpiry(ctx context.Context, dsn, name string) error {
	return execPG(ctx, dsn, `UPDATE leases SET expires_at = now() - interval '1 second' WHERE name = $1`, name)
}

func execPG(ctx context.Context, dsn, q string, args ...any) error {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, q, args...)
	return err
}
