package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// confNodes: node rows and the fence check, the same on both backends.
func confNodes(t *testing.T, open opener) {
	a, b := mustOpen(t, open), mustOpen(t, open) // two nodes
	ctx := context.Background()
	const ttl = 10 * time.Second
	if ns, err := a.Nodes(ctx); err != nil || len(ns) != 0 {
		t.Fatalf("nodes before any: %+v %v", ns, err)
	}
	if err := a.TouchNode(ctx, "node-a", t0, t0, 0); err != nil {
		t.Fatal(err)
	}
	if err := b.TouchNode(ctx, "node-b", t0.Add(time.Second), t0.Add(time.Second), 0); err != nil {
		t.Fatal(err)
	}
	if err := b.TouchNode(ctx, "node-b", t0.Add(time.Second), t0.Add(5*time.Second), 1); err != nil {
		t.Fatal(err)
	}
	if err := b.TouchNode(ctx, "node-b", t0.Add(time.Second), t0.Add(6*time.Second), 1); err != nil {
		t.Fatal(err)
	}
	if err := a.TouchNode(ctx, "", t0, t0, 0); err == nil {
		t.Fatal("a node without an id was written")
	}
	ns, err := a.Nodes(ctx)
	if err != nil || len(ns) != 2 {
		t.Fatalf("nodes %+v %v", ns, err)
	}
	if n := ns[0]; n.ID != "node-a" || !n.StartedAt.Equal(t0) || !n.RenewedAt.Equal(t0) || n.Takeovers != 0 {
		t.Errorf("node-a: %+v", n)
	}
	if n := ns[1]; n.ID != "node-b" || !n.StartedAt.Equal(t0.Add(time.Second)) || !n.RenewedAt.Equal(t0.Add(6*time.Second)) || n.Takeovers != 2 {
		t.Errorf("node-b: %+v", n)
	}

	la, err := a.AcquireLease(ctx, "switch-1", "node-a", t0, ttl)
	if err != nil {
		t.Fatal(err)
	}
	fa := Fence{Lease: "switch-1", Token: la.Token}
	checks := []struct {
		name    string
		store   *DB
		f       Fence
		holder  string
		at      time.Time
		wantErr error
	}{
		{"holder with its token", b, fa, "node-a", t0.Add(time.Second), nil},
		{"another holder", b, fa, "node-b", t0.Add(time.Second), ErrLeaseLost},
		{"stale token", a, Fence{Lease: "switch-1", Token: la.Token - 1}, "node-a", t0.Add(time.Second), ErrLeaseLost},
		{"expired", a, fa, "node-a", t0.Add(ttl), ErrLeaseLost},
		{"no such lease", a, Fence{Lease: "switch-2", Token: 1}, "node-a", t0, ErrLeaseLost},
	}
	for _, c := range checks {
		if err := c.store.CheckFence(ctx, c.f, c.holder, c.at); !errors.Is(err, c.wantErr) || (c.wantErr == nil) != (err == nil) {
			t.Errorf("%s: %v, want %v", c.name, err, c.wantErr)
		}
	}
	if _, err := b.AcquireLease(ctx, "switch-1", "node-b", t0.Add(ttl), ttl); err != nil {
		t.Fatal(err)
	}
	if err := a.CheckFence(ctx, fa, "node-a", t0.Add(ttl+time.Second)); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("after the takeover: %v, want ErrLeaseLost", err)
	}
}
