package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func confLeaseSteps(t *testing.T, open opener) {
	a, b := mustOpen(t, open), mustOpen(t, open) // two nodes
	ctx := context.Background()
	const ttl = 10 * time.Second
	if _, ok, err := a.Lease(ctx, "switch-1"); err != nil || ok {
		t.Fatalf("lease before any acquire: %v %v", ok, err)
	}
	type step struct {
		name      string
		do        func() (Lease, error)
		wantErr   error
		wantOwner string
		wantToken int64
		wantExp   time.Time
	}
	var tokA int64 = 1
	steps := []step{
		{name: "a takes a free lease", do: func() (Lease, error) { return a.AcquireLease(ctx, "switch-1", "node-a", t0, ttl) },
			wantOwner: "node-a", wantToken: 1, wantExp: t0.Add(ttl)},
		{name: "b cannot take it before it expires", do: func() (Lease, error) {
			return b.AcquireLease(ctx, "switch-1", "node-b", t0.Add(9*time.Second), ttl)
		}, wantErr: ErrLeaseHeld, wantOwner: "node-a", wantToken: 1, wantExp: t0.Add(ttl)},
		{name: "a renews with its token", do: func() (Lease, error) {
			return a.RenewLease(ctx, "switch-1", "node-a", tokA, t0.Add(5*time.Second), ttl)
		}, wantOwner: "node-a", wantToken: 1, wantExp: t0.Add(15 * time.Second)},
		{name: "a acquiring again keeps its token", do: func() (Lease, error) {
			return a.AcquireLease(ctx, "switch-1", "node-a", t0.Add(6*time.Second), ttl)
		}, wantOwner: "node-a", wantToken: 1, wantExp: t0.Add(16 * time.Second)},
		{name: "b takes it once expired, token rises", do: func() (Lease, error) {
			return b.AcquireLease(ctx, "switch-1", "node-b", t0.Add(16*time.Second), ttl)
		}, wantOwner: "node-b", wantToken: 2, wantExp: t0.Add(26 * time.Second)},
		{name: "a cannot renew a lease it lost", do: func() (Lease, error) {
			return a.RenewLease(ctx, "switch-1", "node-a", tokA, t0.Add(17*time.Second), ttl)
		}, wantErr: ErrLeaseLost, wantOwner: "node-b", wantToken: 2, wantExp: t0.Add(26 * time.Second)},
		{name: "b cannot renew with a stale token", do: func() (Lease, error) {
			return b.RenewLease(ctx, "switch-1", "node-b", 1, t0.Add(17*time.Second), ttl)
		}, wantErr: ErrLeaseLost, wantOwner: "node-b", wantToken: 2, wantExp: t0.Add(26 * time.Second)},
		{name: "b releases", do: func() (Lease, error) {
			return Lease{}, b.ReleaseLease(ctx, "switch-1", "node-b", 2, t0.Add(18*time.Second))
		}, wantOwner: "node-b", wantToken: 2, wantExp: t0.Add(18 * time.Second)},
		{name: "b cannot renew after releasing", do: func() (Lease, error) {
			return b.RenewLease(ctx, "switch-1", "node-b", 2, t0.Add(18*time.Second), ttl)
		}, wantErr: ErrLeaseLost, wantOwner: "node-b", wantToken: 2, wantExp: t0.Add(18 * time.Second)},
		{name: "a takes it at once after the release", do: func() (Lease, error) {
			return a.AcquireLease(ctx, "switch-1", "node-a", t0.Add(18*time.Second), ttl)
		}, wantOwner: "node-a", wantToken: 3, wantExp: t0.Add(28 * time.Second)},
		{name: "a renewing after its expiry has lost it even if nobody took it", do: func() (Lease, error) {
			return a.RenewLease(ctx, "switch-1", "node-a", 3, t0.Add(28*time.Second), ttl)
		}, wantErr: ErrLeaseLost, wantOwner: "node-a", wantToken: 3, wantExp: t0.Add(28 * time.Second)},
	}
	for _, st := range steps {
		_, err := st.do()
		if !errors.Is(err, st.wantErr) {
			t.Fatalf("%s: err %v, want %v", st.name, err, st.wantErr)
		}
		l, ok, err := b.Lease(ctx, "switch-1")
		if err != nil || !ok || l.Holder != st.wantOwner || l.Token != st.wantToken || !l.Expires.Equal(st.wantExp) {
			t.Fatalf("%s: lease %+v (ok %v, err %v), want %s token %d until %s", st.name, l, ok, err, st.wantOwner, st.wantToken, st.wantExp)
		}
	}
	if _, err := a.AcquireLease(ctx, "switch-2", "node-a", t0, ttl); err != nil {
		t.Fatal(err)
	}
	ls, err := b.Leases(ctx)
	if err != nil || len(ls) != 2 || ls[0].Name != "switch-1" || ls[1].Name != "switch-2" || ls[1].Token != 1 {
		t.Fatalf("leases %+v %v", ls, err)
	}
	if _, err := a.AcquireLease(ctx, "", "node-a", t0, ttl); err == nil {
		t.Fatal("a lease without a name was taken")
	}
}

func confLeaseRace(t *testing.T, open opener) {
	nodes := []*DB{mustOpen(t, open), mustOpen(t, open)}
	ctx := context.Background()
	var mu sync.Mutex
	winners := map[string]int64{}
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			holder := string(rune('a'+i)) + "-node"
			l, err := nodes[i%2].AcquireLease(ctx, "switch-1", holder, t0, time.Minute)
			switch {
			case err == nil:
				mu.Lock()
				winners[holder] = l.Token
				mu.Unlock()
			case !errors.Is(err, ErrLeaseHeld):
				t.Errorf("acquire: %v", err)
			}
		}()
	}
	wg.Wait()
	if len(winners) != 1 {
		t.Fatalf("winners %v, want exactly one", winners)
	}
	for h, tok := range winners {
		l, _, err := nodes[0].Lease(ctx, "switch-1")
		if err != nil || l.Holder != h || l.Token != tok || tok != 1 {
			t.Fatalf("lease %+v (err %v), want %s with token 1", l, err, h)
		}
	}
}

// confFencedClaim: a node claims callbacks only while it holds its lease
// with its token; once another node took the lease over, the first one's
// claims take nothing and say why.
func confFencedClaim(t *testing.T, open opener) {
	a, b := mustOpen(t, open), mustOpen(t, open)
	ctx := context.Background()
	for i := range 3 {
		if _, _, err := a.Register(ctx, newCB("sales", "+42060900000"+string(rune('1'+i)), int64(i)), false); err != nil {
			t.Fatal(err)
		}
	}
	la, err := a.AcquireLease(ctx, "switch-1", "node-a", t0, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	fa := Fence{Lease: "switch-1", Token: la.Token}
	if _, ok, err := a.ClaimNext(ctx, "sales", t0.Add(time.Second), fa); err != nil || !ok {
		t.Fatalf("claim under a held lease: %v %v", ok, err)
	}
	// The lease expires; node b takes it over.
	lb, err := b.AcquireLease(ctx, "switch-1", "node-b", t0.Add(11*time.Second), 10*time.Second)
	if err != nil || lb.Token != la.Token+1 {
		t.Fatalf("takeover: %+v %v", lb, err)
	}
	if _, ok, err := a.ClaimNext(ctx, "sales", t0.Add(12*time.Second), fa); !errors.Is(err, ErrLeaseLost) || ok {
		t.Fatalf("claim with the old token: %v %v, want ErrLeaseLost", ok, err)
	}
	// Expired but not taken over is lost too.
	if _, ok, err := b.ClaimNext(ctx, "sales", t0.Add(30*time.Second), Fence{Lease: "switch-1", Token: lb.Token}); !errors.Is(err, ErrLeaseLost) || ok {
		t.Fatalf("claim after the lease expired: %v %v, want ErrLeaseLost", ok, err)
	}
	fb := Fence{Lease: "switch-1", Token: lb.Token}
	var got int
	for {
		_, ok, err := b.ClaimNext(ctx, "sales", t0.Add(13*time.Second), fb)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		got++
	}
	if got != 2 {
		t.Fatalf("node b claimed %d, want the 2 left", got)
	}
	if _, ok, err := a.ClaimNext(ctx, "sales", t0.Add(13*time.Second), Fence{Lease: "nope", Token: 1}); !errors.Is(err, ErrLeaseLost) || ok {
		t.Fatalf("claim fenced by a lease never taken: %v %v", ok, err)
	}
}

// confFencedTransition: a fenced transition changes the callback only
// while the lease is held with the fence's token; otherwise it says
// ErrLeaseLost and leaves the row as it was (a conflict still says
// ErrConflict).
func confFencedTransition(t *testing.T, open opener) {
	a, b := mustOpen(t, open), mustOpen(t, open)
	ctx := context.Background()
	var ids []int64
	for i := range 3 {
		cb, _, err := a.Register(ctx, newCB("sales", "+42060900001"+string(rune('1'+i)), int64(i)), false)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, cb.ID)
	}
	la, err := a.AcquireLease(ctx, "switch-1", "node-a", t0, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	fa := Fence{Lease: "switch-1", Token: la.Token}
	if cb, err := a.Transition(ctx, ids[0], Registered, Dialing, Change{At: t0.Add(time.Second), Fence: fa}); err != nil || cb.State != Dialing {
		t.Fatalf("fenced transition under a held lease: %+v %v", cb, err)
	}
	if _, err := a.Transition(ctx, ids[0], Registered, Dialing, Change{At: t0.Add(time.Second), Fence: fa}); !errors.Is(err, ErrConflict) {
		t.Fatalf("fenced transition from the wrong state: %v, want ErrConflict", err)
	}
	lb, err := b.AcquireLease(ctx, "switch-1", "node-b", t0.Add(11*time.Second), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Transition(ctx, ids[1], Registered, Dialing, Change{At: t0.Add(12 * time.Second), Fence: fa}); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("transition with the old token: %v, want ErrLeaseLost", err)
	}
	if _, err := b.Transition(ctx, ids[1], Registered, Dialing, Change{At: t0.Add(30 * time.Second), Fence: Fence{Lease: "switch-1", Token: lb.Token}}); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("transition after the lease expired: %v, want ErrLeaseLost", err)
	}
	if cb, err := b.Get(ctx, ids[1]); err != nil || cb.State != Registered {
		t.Fatalf("after refused transitions the callback is %+v (%v), want registered", cb, err)
	}
	if cb, err := b.Transition(ctx, ids[2], Registered, Dialing, Change{At: t0.Add(13 * time.Second), Fence: Fence{Lease: "switch-1", Token: lb.Token}}); err != nil || cb.State != Dialing {
		t.Fatalf("the new holder's fenced transition: %+v %v", cb, err)
	}
}
