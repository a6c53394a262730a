package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// confDispatch: two switches' nodes on one database share an agent and a
// queue's line order through heads and agent claims.
func confDispatch(t *testing.T, open opener) {
	a, b := mustOpen(t, open), mustOpen(t, open) // the nodes of switches A and B
	ctx := context.Background()
	const ttl, grace = 10 * time.Second, 10 * time.Second
	for _, l := range []struct {
		s          *DB
		name, node string
	}{{a, "switch-A", "a"}, {b, "switch-B", "b"}} {
		if _, err := l.s.AcquireLease(ctx, l.name, l.node, t0, ttl); err != nil {
			t.Fatal(err)
		}
	}
	early := Head{JoinedAt: t0.Add(time.Second), Seq: 7}
	late := Head{JoinedAt: t0.Add(2 * time.Second), Seq: 1}
	now := t0.Add(3 * time.Second)

	// A's caller joined first: B may not take the agent for its later one.
	if err := a.PublishHead(ctx, "switch-A", "sales", &early, now); err != nil {
		t.Fatal(err)
	}
	if err := b.PublishHead(ctx, "switch-B", "sales", &late, now); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ClaimAgent(ctx, "switch-B", "alice", "sales", late, now, grace); !errors.Is(err, ErrNotFirst) {
		t.Fatalf("B's claim behind A's head: %v, want ErrNotFirst", err)
	}
	// Another queue's head is not in the way.
	if _, err := b.ClaimAgent(ctx, "switch-B", "bob", "billing", late, now, grace); err != nil {
		t.Fatalf("B's claim in another queue: %v", err)
	}
	verA, err := a.ClaimAgent(ctx, "switch-A", "alice", "sales", early, now, grace)
	if err != nil {
		t.Fatalf("A's claim for its first caller: %v", err)
	}
	// A's caller is served: its next head is later than B's; still the
	// agent is A's until released.
	if err := a.PublishHead(ctx, "switch-A", "sales", nil, now); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ClaimAgent(ctx, "switch-B", "alice", "sales", late, now, grace); !errors.Is(err, ErrAgentBusy) {
		t.Fatalf("B's claim of A's agent: %v, want ErrAgentBusy", err)
	}
	// A release of another claim version leaves the claim alone.
	if err := a.ReleaseAgent(ctx, "switch-A", "alice", verA+1); err != nil {
		t.Fatal(err)
	}
	if cs, err := a.AgentClaims(ctx, "switch-A"); err != nil || len(cs) != 1 || cs[0].Agent != "alice" || cs[0].Ver != verA || cs[0].Queue != "sales" {
		t.Fatalf("A's claims %+v %v, want alice at version %d", cs, err, verA)
	}
	if err := a.ReleaseAgent(ctx, "switch-A", "alice", verA); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ClaimAgent(ctx, "switch-B", "alice", "sales", late, now, grace); err != nil {
		t.Fatalf("B's claim once A released: %v", err)
	}
	if cs, err := a.AgentClaims(ctx, "switch-A"); err != nil || len(cs) != 0 {
		t.Fatalf("A's claims after release %+v %v", cs, err)
	}

	// Ties: the same priority and time go to the owner named first;
	// priority beats time.
	if err := b.ReleaseAgent(ctx, "switch-B", "alice", 0); err != nil {
		t.Fatal(err)
	}
	if err := a.PublishHead(ctx, "switch-A", "sales", &late, now); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ClaimAgent(ctx, "switch-B", "alice", "sales", late, now, grace); !errors.Is(err, ErrNotFirst) {
		t.Fatalf("a tie claimed by switch-B: %v, want ErrNotFirst (switch-A sorts first)", err)
	}
	vip := Head{Priority: 5, JoinedAt: t0.Add(2 * time.Second)}
	if _, err := b.ClaimAgent(ctx, "switch-B", "alice", "sales", vip, now, grace); err != nil {
		t.Fatalf("a higher priority claim: %v", err)
	}
	if err := b.ReleaseAgent(ctx, "switch-B", "alice", 0); err != nil {
		t.Fatal(err)
	}

	// A switch whose lease expired more than the grace ago counts no
	// more: neither its head nor its claims.
	if _, err := a.ClaimAgent(ctx, "switch-A", "carol", "sales", late, now, grace); err != nil {
		t.Fatal(err)
	}
	later := t0.Add(ttl + grace + time.Second)
	if _, err := b.AcquireLease(ctx, "switch-B", "b", later, ttl); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ClaimAgent(ctx, "switch-B", "alice", "sales", Head{JoinedAt: later}, later, grace); err != nil {
		t.Fatalf("behind a dead switch's head: %v", err)
	}
	if _, err := b.ClaimAgent(ctx, "switch-B", "carol", "sales", Head{JoinedAt: later}, later, grace); err != nil {
		t.Fatalf("an agent held by a dead switch: %v", err)
	}
	// Within the grace the dead switch still counts (a standby takes over).
	within := t0.Add(ttl + grace/2)
	if err := b.HoldAgent(ctx, "switch-B", "dave", "sales", within); err != nil {
		t.Fatal(err)
	}
	if _, err := a.ClaimAgent(ctx, "switch-A", "dave", "sales", early, within, grace); !errors.Is(err, ErrAgentBusy) {
		t.Fatalf("claim of an agent B holds: %v, want ErrAgentBusy", err)
	}

	// Racing claims of one agent by two live switches: exactly one wins.
	if _, err := a.AcquireLease(ctx, "switch-A", "a", later, ttl); err != nil {
		t.Fatal(err)
	}
	for round := range 5 {
		agent := "erin" + string(rune('0'+round))
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := map[string]int{}
		for _, n := range []struct {
			s     *DB
			owner string
		}{{a, "switch-A"}, {b, "switch-B"}} {
			for range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := n.s.ClaimAgent(ctx, n.owner, agent, "racing", Head{JoinedAt: later}, later, grace); err == nil {
						mu.Lock()
						wins[n.owner]++
						mu.Unlock()
					} else if !errors.Is(err, ErrAgentBusy) {
						t.Error(err)
					}
				}()
			}
		}
		wg.Wait()
		if len(wins) != 1 {
			t.Fatalf("round %d: agent claimed by %v, want one owner", round, wins)
		}
	}
	if _, err := a.ClaimAgent(ctx, "", "x", "sales", early, now, grace); err == nil {
		t.Error("a claim without an owner was accepted")
	}
}
