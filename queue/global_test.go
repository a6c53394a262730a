package queue

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/callflow/callflow/adapter/sim"
	"github.com/callflow/callflow/flowvm"
	"github.com/callflow/callflow/store"
	"github.com/callflow/callflow/trace"
)

// fakeArbiter refuses the first refuse claims (another switch's caller
// comes first), then grants them, and records what the engine asks.
type fakeArbiter struct {
	mu       sync.Mutex
	refuse   int
	claims   []string // agent names, in order
	releases []string // "name@version"
}

func (f *fakeArbiter) ClaimAgent(_ context.Context, agent, _ string, _ store.Head) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.claims = append(f.claims, agent)
	if len(f.claims) <= f.refuse {
		return 0, store.ErrNotFirst
	}
	return 7, nil
}

func (f *fakeArbiter) ReleaseAgent(_ context.Context, agent string, ver int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.releases = append(f.releases, fmt.Sprintf("%s@%d", agent, ver))
	return nil
}

func (f *fakeArbiter) HoldAgent(context.Context, string, string) error { return nil }

func (f *fakeArbiter) PublishHead(context.Context, string, *store.Head) error { return nil }

func (f *fakeArbiter) AgentClaims(context.Context) ([]store.AgentClaim, error) { return nil, nil }

// TestArbiterDefersOffer: while the arbiter refuses the agent (another
// switch's caller is first), the caller is not offered; the engine asks
// again every claimRetry, offers once the claim is granted (by the
// agent's name), and releases that claim, with its version, after the
// conversation.
func TestArbiterDefersOffer(t *testing.T) {
	sc := &sim.Scenario{
		Callers: []sim.Caller{{At: 0, From: "+420601000001"}},
		Agents:  []sim.Party{{Endpoint: "PJSIP/agent1", Talk: 10 * time.Second}},
	}
	cfg := baseConfig("PJSIP/agent1")
	cfg.AgentNames = map[string]string{"PJSIP/agent1": "alice"}
	h := newHarness(t, cfg, sc, nil)
	arb := &fakeArbiter{refuse: 2}
	h.eng.arb = arb
	h.run(h.enter(nil, nil), 10*time.Minute)

	if r := h.result("caller-1"); r.err != nil || r.res.Outcome != flowvm.Connected {
		t.Fatalf("caller-1: %+v %v\n%s", r.res, r.err, h.dump())
	}
	joined, _ := h.mustFind("caller-1", "queue", "joined")
	offered, _ := h.mustFind("caller-1", "queue", "agent_offered")
	if n := len(h.lines(func(e trace.Event) bool { return e.Kind == "agent_offered" })); n != 1 {
		t.Errorf("%d agent_offered events, want 1 (a refused claim offers nothing)\n%s", n, h.dump())
	}
	if wait := offered.At.Sub(joined.At); wait < 2*claimRetry {
		t.Errorf("offered %v after joining, want at least two retries (%v)", wait, 2*claimRetry)
	}
	arb.mu.Lock()
	defer arb.mu.Unlock()
	if len(arb.claims) != 3 || arb.claims[0] != "alice" || arb.claims[2] != "alice" {
		t.Errorf("claims %v, want alice three times", arb.claims)
	}
	if len(arb.releases) != 1 || arb.releases[0] != "alice@7" {
		t.Errorf("releases %v, want alice's claim of version 7 once", arb.releases)
	}
}
