package queue

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/adapter/sim"
	"github.com/callflow/callflow/flowvm"
	"github.com/callflow/callflow/store"
	"github.com/callflow/callflow/trace"
)

func TestRegisterOutcomes(t *testing.T) {
	type reg struct {
		number string
		want   flowvm.RegisterOutcome
		wantID string
	}
	tests := []struct {
		name  string
		steps map[string][]reg // per caller, in order
	}{
		{name: "invalid number leaves the reservation open", steps: map[string][]reg{
			"caller-1": {{number: "123", want: flowvm.Invalid}, {number: "+420601000001", want: flowvm.Registered, wantID: "1"}},
		}},
		{name: "premium rate refused by the default policy", steps: map[string][]reg{
			"caller-1": {{number: "+420900123456", want: flowvm.Invalid}, {number: "601000001", want: flowvm.Registered, wantID: "1"}},
		}},
		{name: "dedupe returns the existing id", steps: map[string][]reg{
			"caller-1": {{number: "+420601000001", want: flowvm.Registered, wantID: "1"}},
			"caller-2": {{number: "601 000 001", want: flowvm.Duplicate, wantID: "1"}, {number: "+420601000002", want: flowvm.Registered, wantID: "2"}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sc := &sim.Scenario{Callers: []sim.Caller{{At: 0, From: "+420601000001"}, {At: time.Second, From: "+420601000002"}}}
			h := newHarness(t, baseConfig(), sc, nil) // no agents: callbacks stay registered
			flows := map[string]func(context.Context, adapter.Call) error{}
			for id, steps := range tc.steps {
				flows[id] = func(ctx context.Context, c adapter.Call) error {
					if err := h.eng.StartCallback(ctx, c, ""); err != nil {
						return err
					}
					for _, st := range steps {
						res, err := h.eng.RegisterCallback(ctx, c, flowvm.CallbackRequest{Number: st.number})
						if err != nil || res.Outcome != st.want || res.ID != st.wantID {
							t.Errorf("%s register %q: %+v %v, want %v id %q", id, st.number, res, err, st.want, st.wantID)
						}
						if res.Outcome == flowvm.Invalid && res.Reason == "" {
							t.Errorf("invalid without a reason")
						}
						if st.want != flowvm.Registered {
							if s, ok := h.eng.Status(c); !ok || !s.Reserved {
								t.Errorf("%s: reservation closed after %v: %+v", id, st.want, s)
							}
						}
					}
					return nil
				}
			}
			h.run(h.enter(flows, nil), 10*time.Minute)
			for id := range tc.steps {
				if r := h.result(id); r.err != nil || r.res.Outcome != flowvm.Callback {
					t.Fatalf("%s: %+v %v\n%s", id, r.res, r.err, h.dump())
				}
			}
		})
	}
}

func TestWindowExpiry(t *testing.T) {
	sc := &sim.Scenario{
		Callers:   []sim.Caller{{At: 0, From: "+420601000001"}},
		Agents:    []sim.Party{{Endpoint: "PJSIP/agent1", Behaviour: sim.Busy, Schedule: []sim.Step{{At: 5 * time.Minute, Behaviour: sim.Answer}}}},
		Customers: []sim.Party{{Number: "+420601000001"}},
	}
	cfg := baseConfig("PJSIP/agent1")
	cfg.Queues[0].AgentRetry = time.Minute
	h := newHarness(t, cfg, sc, nil)
	h.run(h.enter(map[string]func(context.Context, adapter.Call) error{
		"caller-1": func(ctx context.Context, c adapter.Call) error {
			if err := h.eng.StartCallback(ctx, c, ""); err != nil {
				return err
			}
			_, err := h.eng.RegisterCallback(ctx, c, flowvm.CallbackRequest{
				NotBefore: simStart.Add(30 * time.Second), NotAfter: simStart.Add(3 * time.Minute),
			})
			return err
		},
	}, nil), time.Hour)
	exp, _ := h.mustFind("cb-1", trace.Callback, "expired")
	if !exp.At.Equal(simStart.Add(3 * time.Minute)) {
		t.Fatalf("expired at %v, want at not_after", exp.At)
	}
	// Not dialled before NotBefore, and the busy agent never reached the customer.
	first, _ := h.mustFind("cb-1", trace.Callback, "dialing_agent")
	if first.At.Before(simStart.Add(30 * time.Second)) {
		t.Fatalf("dialled at %v, before not_before", first.At)
	}
	if _, _, ok := h.find("cb-1", trace.Callback, "dialing_customer"); ok {
		t.Fatalf("customer dialled\n%s", h.dump())
	}
	if cb := h.callback(1); cb.State != store.Expired || cb.Attempts != 0 {
		t.Fatalf("stored %s attempts %d, want expired 0", cb.State, cb.Attempts)
	}
}

// maxConcurrentDialing counts the most callbacks between dialing_agent and
// their end (requeued, retry_wait, completed, failed) at once.
func maxConcurrentDialing(events []trace.Event) int {
	open, most := map[string]bool{}, 0
	for _, e := range events {
		if e.Source != trace.Callback {
			continue
		}
		switch e.Kind {
		case "dialing_agent":
			open[e.Call] = true
		case "requeued", "retry_wait", "completed", "failed", "expired":
			delete(open, e.Call)
		}
		most = max(most, len(open))
	}
	return most
}

func TestCallbacksNeverExceedFreeAgents(t *testing.T) {
	tests := []struct {
		name   string
		agents []string
	}{
		{name: "one agent", agents: []string{"PJSIP/agent1"}},
		{name: "two agents", agents: []string{"PJSIP/agent1", "PJSIP/agent2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sc := &sim.Scenario{}
			flows := map[string]func(context.Context, adapter.Call) error{}
			for i := 1; i <= 4; i++ {
				num := fmt.Sprintf("+42060100000%d", i)
				sc.Callers = append(sc.Callers, sim.Caller{At: time.Duration(i) * time.Second, From: num})
				sc.Customers = append(sc.Customers, sim.Party{Number: num, Talk: 20 * time.Second})
			}
			for _, a := range tc.agents {
				// Agents come on duty after every callback is registered.
				sc.Agents = append(sc.Agents, sim.Party{Endpoint: a, Behaviour: sim.Busy, Schedule: []sim.Step{{At: 10 * time.Second, Behaviour: sim.Answer}}})
			}
			h := newHarness(t, baseConfig(tc.agents...), sc, nil)
			for i := 1; i <= 4; i++ {
				flows[fmt.Sprintf("caller-%d", i)] = register(h, fmt.Sprintf("+42060100000%d", i))
			}
			h.run(h.enter(flows, nil), time.Hour)
			evs := h.rec.Events()
			if got := maxConcurrentDialing(evs); got != len(tc.agents) {
				t.Fatalf("at most %d callbacks dialing at once, want %d\n%s", got, len(tc.agents), h.dump())
			}
			// Served in line order.
			var order []string
			for _, e := range evs {
				if e.Source == trace.Callback && e.Kind == "completed" {
					order = append(order, e.Call)
				}
			}
			if len(order) != 4 || (len(tc.agents) == 1 && !slices.Equal(order, []string{"cb-1", "cb-2", "cb-3", "cb-4"})) {
				t.Fatalf("completed %v\n%s", order, h.dump())
			}
		})
	}
}

func TestCustomerFirst(t *testing.T) {
	sc := &sim.Scenario{
		Callers: []sim.Caller{{At: 0, From: "+420601000001"}},
		// The agent is offered to the live caller first; the caller's
		// reservation withdraws that offer, and the agent takes the callback.
		Agents:    []sim.Party{{Endpoint: "PJSIP/agent1", AnswerAfter: 3 * time.Second, Behaviour: sim.Answer}},
		Customers: []sim.Party{{Number: "+420601000001", AnswerAfter: 2 * time.Second, Talk: 10 * time.Second}},
	}
	cfg := baseConfig("PJSIP/agent1")
	cfg.Queues[0].Callback.Mode = CustomerFirst
	cfg.Queues[0].AgentRetry = 10 * time.Second
	h := newHarness(t, cfg, sc, nil)
	h.run(h.enter(map[string]func(context.Context, adapter.Call) error{"caller-1": register(h, "+420601000001", "recording:vm")}, nil), time.Hour)
	var kinds []string
	for _, e := range h.rec.Events() {
		if e.Call == "cb-1" {
			kinds = append(kinds, e.Kind)
		}
	}
	want := []string{"agent_assigned", "dialing_customer", "customer_answered", "dialing_agent", "agent_answered", "media_to_agent", "connected", "completed"}
	if !slices.Equal(kinds, want) {
		t.Fatalf("kinds %v, want %v\n%s", kinds, want, h.dump())
	}
	cust := h.leg(1, "dialing_customer", 0)
	orig, _ := h.mustFind(cust, trace.Switch, "originate")
	if orig.Attrs["ani"] != queueANI {
		t.Fatalf("customer ANI %q", orig.Attrs["ani"])
	}
	play, _ := h.mustFind(cust, trace.Switch, "play")
	if play.Text != string(HoldPrompt) {
		t.Fatalf("customer heard %q, want the hold prompt", play.Text)
	}
	if cb := h.callback(1); cb.State != store.Completed || cb.Attempts != 1 {
		t.Fatalf("stored %s attempts %d", cb.State, cb.Attempts)
	}
}

func TestOnCallIn(t *testing.T) {
	tests := []struct {
		name      string
		policy    CallIn
		wantState store.State
		wantOrder []string // connected callers
	}{
		{name: "keep", policy: CallInKeep, wantState: store.Registered},
		{name: "cancel", policy: CallInCancel, wantState: store.Cancelled, wantOrder: []string{"caller-2", "caller-3"}},
		{name: "merge takes the callback's place", policy: CallInMerge, wantState: store.Cancelled, wantOrder: []string{"caller-3", "caller-2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sc := &sim.Scenario{
				Callers: []sim.Caller{
					{ID: "caller-1", At: 0, From: "+420601000001"},
					{ID: "caller-2", At: time.Second, From: "+420601000002"},
					{ID: "caller-3", At: 5 * time.Second, From: "+420601000001"}, // calls in again
				},
				Agents: []sim.Party{{Endpoint: "PJSIP/agent1", Behaviour: sim.Busy, Talk: 5 * time.Second, Schedule: []sim.Step{{At: 10 * time.Second, Behaviour: sim.Answer}}}},
				// The customer never answers: a kept callback stays open.
				Customers: []sim.Party{{Number: "+420601000001", Behaviour: sim.Fail}},
			}
			cfg := baseConfig("PJSIP/agent1")
			cfg.Queues[0].Callback.OnCallIn = tc.policy
			cfg.Queues[0].Callback.RetryInterval = time.Hour
			h := newHarness(t, cfg, sc, nil)
			h.run(h.enter(map[string]func(context.Context, adapter.Call) error{"caller-1": register(h, "+420601000001")}, nil), 30*time.Minute)
			cb := h.callback(1)
			if tc.policy == CallInKeep {
				if !cb.State.Open() {
					t.Fatalf("kept callback is %s", cb.State)
				}
				return
			}
			if cb.State != tc.wantState {
				t.Fatalf("callback %s, want %s\n%s", cb.State, tc.wantState, h.dump())
			}
			if got := connectedOrder(h); !slices.Equal(got, tc.wantOrder) {
				t.Fatalf("connected %v, want %v\n%s", got, tc.wantOrder, h.dump())
			}
		})
	}
}

func TestRestartRecovery(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/cb.db"
	st := openStore(t, path)
	mk := func(num string, joined time.Duration, seq int64, to ...store.State) store.Callback {
		cb, _, err := st.Register(ctx, store.Callback{Queue: "sales", Number: num, ANI: queueANI, JoinedAt: simStart.Add(-joined), Seq: seq, CreatedAt: simStart.Add(-joined)}, true)
		if err != nil {
			t.Fatal(err)
		}
		cur := store.Registered
		for _, s := range to {
			if cb, err = st.Transition(ctx, cb.ID, cur, s, store.Change{At: simStart.Add(-time.Minute)}); err != nil {
				t.Fatal(err)
			}
			cur = s
		}
		if cur == store.Dialing || cur == store.Connected {
			if _, err := st.StartAttempt(ctx, store.Attempt{CallbackID: cb.ID, N: 1, Leg: store.LegAgent, Endpoint: "PJSIP/agent1", StartedAt: simStart.Add(-time.Minute)}); err != nil {
				t.Fatal(err)
			}
		}
		return cb
	}
	registered := mk("+420601000001", time.Minute, 3)                                  // joined last
	dialing := mk("+420601000002", 3*time.Minute, 1, store.Dialing)                    // joined first: interrupted
	connected := mk("+420601000003", 2*time.Minute, 2, store.Dialing, store.Connected) // closed as completed
	st.Close()

	st2 := openStore(t, path)
	sc := &sim.Scenario{
		Agents: []sim.Party{{Endpoint: "PJSIP/agent1", Talk: 10 * time.Second}},
		Customers: []sim.Party{
			{Number: "+420601000001", Talk: 10 * time.Second},
			{Number: "+420601000002", Talk: 10 * time.Second},
		},
	}
	h := newHarness(t, baseConfig("PJSIP/agent1"), sc, st2)
	h.run(func(context.Context, adapter.Call) {}, time.Hour)

	if cb := h.callback(connected.ID); cb.State != store.Completed {
		t.Fatalf("connected callback after restart: %s", cb.State)
	}
	atts, err := st2.Attempts(ctx, dialing.ID)
	if err != nil || len(atts) < 1 || atts[0].Outcome != "interrupted" {
		t.Fatalf("interrupted attempt: %+v %v", atts, err)
	}
	var order []string
	for _, e := range h.rec.Events() {
		if e.Source == trace.Callback && e.Kind == "completed" && !strings.Contains(e.Text, "restart") {
			order = append(order, e.Call)
		}
	}
	want := []string{cbName(dialing.ID), cbName(registered.ID)}
	if !slices.Equal(order, want) {
		t.Fatalf("completed after restart %v, want %v (original places)\n%s", order, want, h.dump())
	}
	for _, id := range []int64{dialing.ID, registered.ID} {
		// The interrupted attempt did not use up a retry.
		if cb := h.callback(id); cb.State != store.Completed || cb.Attempts != 1 {
			t.Fatalf("callback %d: %s attempts %d, want completed 1", id, cb.State, cb.Attempts)
		}
	}
}

func TestSnapshot(t *testing.T) {
	sc := &sim.Scenario{
		Callers: []sim.Caller{
			{ID: "caller-1", At: 0, From: "+420601000001"},
			{ID: "caller-2", At: time.Second, From: "+420601000002"},
			{ID: "caller-3", At: 2 * time.Second, From: "+420601000003"},
		},
		Agents: []sim.Party{{Endpoint: "PJSIP/agent1", Behaviour: sim.Busy}},
	}
	cfg := baseConfig("PJSIP/agent1")
	cfg.Queues[0].AgentRetry = time.Hour
	h := newHarness(t, cfg, sc, nil)
	var snap QueueSnapshot
	h.run(h.enter(map[string]func(context.Context, adapter.Call) error{
		"caller-1": register(h, "+420601000001"),
		"caller-3": func(ctx context.Context, c adapter.Call) error {
			if err := h.eng.StartCallback(ctx, c, ""); err != nil {
				return err
			}
			snap, _ = h.eng.Snapshot("sales")
			return h.eng.DeclineCallback(ctx, c, flowvm.DeclineOptions{})
		},
	}, nil), 10*time.Minute)
	type row struct {
		pos         int
		kind, state string
		ewt         time.Duration
	}
	var got []row
	for _, e := range snap.Entries {
		got = append(got, row{e.Position, e.Kind, e.State, e.EWT})
	}
	want := []row{
		{1, "callback", "registered", 2 * time.Minute},
		{2, "live", "live", 4 * time.Minute},
		{3, "reserved", "reserved", 6 * time.Minute},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("entries %+v, want %+v\n%s", got, want, h.dump())
	}
	if len(snap.Agents) != 1 || snap.Agents[0].State != "skipped" || snap.MeanHandle != 2*time.Minute {
		t.Fatalf("agents %+v mean %v", snap.Agents, snap.MeanHandle)
	}
	if _, ok := h.eng.Snapshot("nope"); ok {
		t.Fatal("snapshot of an unknown queue")
	}
}

// TestUnplayableAgentMedia: a callback whose media the switch refuses (here
// number:abc, created through the engine, which does not check media as the
// API and the flow loader do, as a row stored before those checks would be)
// must not be redialled without end. Each playback failure to the agent
// counts as a failed attempt and skips the agent for agent_retry, so the
// callback ends failed after max_attempts, in both dispatch modes. Before
// the fix the agent was redialled at once, without an attempt counted; the
// run is stopped once the dials pass a bound so such a loop fails quickly.
func TestUnplayableAgentMedia(t *testing.T) {
	for _, tc := range []struct {
		mode   Mode
		stored bool // a row in the store before the engine starts (recovered), else created through the engine
	}{{AgentFirst, false}, {CustomerFirst, false}, {AgentFirst, true}, {CustomerFirst, true}} {
		name := string(tc.mode)
		if tc.stored {
			name += "/stored"
		}
		mode := tc.mode
		t.Run(name, func(t *testing.T) {
			sc := &sim.Scenario{
				Callers:   []sim.Caller{{At: 0, From: "+420601000009"}},
				Agents:    []sim.Party{{Endpoint: "PJSIP/agent1", AnswerAfter: time.Second, Talk: 10 * time.Second}},
				Customers: []sim.Party{{Number: "+420601000001", AnswerAfter: time.Second, Talk: 5 * time.Second}},
			}
			cfg := baseConfig("PJSIP/agent1")
			cfg.Queues[0].Callback.Mode = mode
			cfg.Queues[0].Callback.RetryInterval = 5 * time.Second
			cfg.Queues[0].AgentRetry = 30 * time.Second
			var st *store.SQLite
			if tc.stored {
				st = openStore(t, filepath.Join(t.TempDir(), "cb.db"))
				at := simStart.Add(-time.Minute)
				if _, _, err := st.Register(context.Background(), store.Callback{Queue: "sales", Number: "+420601000001", ANI: queueANI,
					Media: []string{"number:abc"}, JoinedAt: at, Seq: 1, CreatedAt: at}, true); err != nil {
					t.Fatal(err)
				}
			}
			h := newHarness(t, cfg, sc, st)
			create := func(ctx context.Context, c adapter.Call) {
				if !tc.stored {
					res, err := h.eng.CreateCallback(ctx, CreateRequest{Queue: "sales", Number: "+420601000001", Media: []adapter.Prompt{"number:abc"}})
					if err != nil || res.Outcome != flowvm.Registered {
						t.Errorf("create: %+v %v", res, err)
					}
				}
				_ = c.Hangup(ctx, adapter.CauseNormal)
			}
			count := func(kind string) []time.Time {
				var at []time.Time
				for _, e := range h.rec.Events() {
					if e.Call == "cb-1" && e.Source == trace.Callback && e.Kind == kind {
						at = append(at, e.At)
					}
				}
				return at
			}
			// Bound the run: a redial loop is stopped after 20 agent dials.
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			defer func() { cancel(); <-done }()
			go func() { // ends when the run ends (cancel) or the bound is passed
				defer close(done)
				for ctx.Err() == nil {
					if n := len(count("dialing_agent")); n > 20 {
						t.Errorf("%d agent dials and counting: the callback is redialled without end", n)
						cancel()
						return
					}
					time.Sleep(20 * time.Millisecond)
				}
			}()
			h.runCtx(ctx, create, 10*time.Minute)
			agentDials, failures, custDials := count("dialing_agent"), count("agent_media_failed"), count("dialing_customer")
			cb := h.callback(1)
			if cb.State != store.Failed || cb.Attempts != 2 {
				t.Fatalf("stored %s attempts %d after %d agent dials, want failed after 2 attempts\n%s", cb.State, cb.Attempts, len(agentDials), h.dump())
			}
			if len(agentDials) != 2 || len(failures) != 2 {
				t.Fatalf("%d agent dials, %d media failures, want 2 and 2\n%s", len(agentDials), len(failures), h.dump())
			}
			wantCust := 0 // agent-first never reaches the customer
			if mode == CustomerFirst {
				wantCust = 2
			}
			if len(custDials) != wantCust {
				t.Fatalf("%d customer dials, want %d\n%s", len(custDials), wantCust, h.dump())
			}
			// The agent was skipped for agent_retry after the first failure.
			if gap := agentDials[1].Sub(failures[0]); gap < cfg.Queues[0].AgentRetry {
				t.Fatalf("agent dialled again %s after the media failure, want at least agent_retry %s\n%s", gap, cfg.Queues[0].AgentRetry, h.dump())
			}
			atts, err := h.st.Attempts(context.Background(), 1)
			if err != nil {
				t.Fatal(err)
			}
			agentLegs := 0
			for _, a := range atts {
				if a.Leg == store.LegAgent {
					agentLegs++
					if a.Outcome != "media_failed" {
						t.Fatalf("agent leg %+v, want outcome media_failed", a)
					}
				}
			}
			if agentLegs != 2 {
				t.Fatalf("%d agent legs logged, want 2: %+v", agentLegs, atts)
			}
		})
	}
}

// TestRegisterAgainFromSameCall: a caller whose flow runs again after a
// restart reaches register_callback a second time with the same call id.
// The first registration, committed just before the old process died, may
// already be completed (dedupe, which looks at open callbacks only, would
// let a second one through and the customer would be called twice), and
// the queue may not dedupe at all.
func TestRegisterAgainFromSameCall(t *testing.T) {
	for _, dedupe := range []bool{true, false} {
		t.Run(fmt.Sprintf("dedupe %v", dedupe), func(t *testing.T) {
			sc := &sim.Scenario{Callers: []sim.Caller{{At: 0, From: "+420601000001"}}}
			cfg := baseConfig()
			cfg.Queues[0].Callback.Dedupe = dedupe
			h := newHarness(t, cfg, sc, nil) // no agents: the engine dials nothing
			// The caller takes a place in the queue without waiting in it
			// (as the callback-only flow does), each time it registers.
			register := func(ctx context.Context, c adapter.Call, number string) flowvm.RegisterResult {
				t.Helper()
				if err := h.eng.StartCallback(ctx, c, cfg.Queues[0].Name); err != nil {
					t.Errorf("start callback: %v", err)
					return flowvm.RegisterResult{}
				}
				res, err := h.eng.RegisterCallback(ctx, c, flowvm.CallbackRequest{Number: number})
				if err != nil {
					t.Errorf("register %s: %v", number, err)
				}
				return res
			}
			h.run(h.enter(map[string]func(context.Context, adapter.Call) error{
				"caller-1": func(ctx context.Context, c adapter.Call) error {
					if res := register(ctx, c, "+420601000001"); res.Outcome != flowvm.Registered || res.ID != "1" {
						return fmt.Errorf("first register: %+v", res)
					}
					// As if the callback was dialled and completed meanwhile.
					for _, st := range []store.State{store.Dialing, store.Connected, store.Completed} {
						cb := h.callback(1)
						if _, err := h.st.Transition(ctx, 1, cb.State, st, store.Change{At: simStart}); err != nil {
							return err
						}
					}
					if res := register(ctx, c, "601 000 001"); res.Outcome != flowvm.Duplicate || res.ID != "1" {
						t.Errorf("same call, same number again: %+v, want duplicate of 1", res)
					}
					if err := h.eng.DeclineCallback(ctx, c, flowvm.DeclineOptions{}); err != nil {
						return err
					}
					if res := register(ctx, c, "+420601000002"); res.Outcome != flowvm.Registered || res.ID != "2" {
						t.Errorf("same call, another number: %+v, want registered as 2", res)
					}
					return nil
				},
			}, nil), 10*time.Minute)
			all, err := h.st.ListAll(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(all) != 2 {
				t.Fatalf("stored %d callbacks, want 2: %+v", len(all), all)
			}
		})
	}
}

// TestFencedClaim: on a node, a callback is claimed only while the node's
// lease is held with its token (checked in the claim's statement); with a
// token that is no longer the lease's nothing is dialled and the callback
// stays registered for the node that holds the lease.
func TestFencedClaim(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stale bool
	}{{"lease held", false}, {"lease taken over", true}} {
		t.Run(tc.name, func(t *testing.T) {
			sc := &sim.Scenario{
				Callers:   []sim.Caller{{At: 0, From: "+420601000001"}},
				Agents:    []sim.Party{{Endpoint: "PJSIP/agent1", AnswerAfter: 2 * time.Second, Behaviour: sim.Busy, Schedule: []sim.Step{{At: 5 * time.Second, Behaviour: sim.Answer}}}},
				Customers: []sim.Party{{Number: "+420601000001", AnswerAfter: 2 * time.Second, Talk: 10 * time.Second}},
			}
			h := newHarness(t, baseConfig("PJSIP/agent1"), sc, nil)
			l, err := h.st.AcquireLease(context.Background(), "switch-1", "node-a", simStart, 24*time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			f := store.Fence{Lease: "switch-1", Token: l.Token}
			if tc.stale {
				f.Token++ // another node took the lease over
			}
			h.eng.fence = func() store.Fence { return f }
			var lost int
			h.eng.leaseLost = func(error) { lost++ }
			h.run(h.enter(map[string]func(context.Context, adapter.Call) error{"caller-1": register(h, "+420601000001", "recording:vm")}, nil), time.Hour)
			cb := h.callback(1)
			var dialled bool
			for _, e := range h.rec.Events() {
				if e.Call == "cb-1" && (e.Kind == "dialing_agent" || e.Kind == "dialing_customer") {
					dialled = true
				}
			}
			switch {
			case tc.stale && (dialled || cb.State != store.Registered || lost == 0):
				t.Fatalf("with a stale token: dialled %v, callback %s, lease loss told %d times; want nothing dialled, registered, told\n%s", dialled, cb.State, lost, h.dump())
			case !tc.stale && (!dialled || cb.State != store.Completed || lost != 0):
				t.Fatalf("with the lease held: dialled %v, callback %s, lease loss told %d times; want completed, never told\n%s", dialled, cb.State, lost, h.dump())
			}
		})
	}
}

// TestFencedDispatch: the lease changes hands after the claim, while the
// callback is being dialled. Every later state change is fenced too: the
// node commits neither connected nor any end state, is told of the loss,
// and leaves the callback in dialing for the new owner's reconciliation.
func TestFencedDispatch(t *testing.T) {
	sc := &sim.Scenario{
		Callers:   []sim.Caller{{At: 0, From: "+420601000001"}},
		Agents:    []sim.Party{{Endpoint: "PJSIP/agent1", AnswerAfter: 2 * time.Second, Behaviour: sim.Answer}},
		Customers: []sim.Party{{Number: "+420601000001", AnswerAfter: 2 * time.Second, Talk: 10 * time.Second}},
	}
	h := newHarness(t, baseConfig("PJSIP/agent1"), sc, nil)
	l, err := h.st.AcquireLease(context.Background(), "switch-1", "node-a", simStart, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	fences := 0
	h.eng.fence = func() store.Fence {
		fences++
		if fences == 1 {
			return store.Fence{Lease: "switch-1", Token: l.Token} // the claim
		}
		return store.Fence{Lease: "switch-1", Token: l.Token + 1} // taken over since
	}
	var lost int
	h.eng.leaseLost = func(error) { lost++ }
	h.run(h.enter(map[string]func(context.Context, adapter.Call) error{"caller-1": register(h, "+420601000001", "recording:vm")}, nil), time.Hour)
	cb := h.callback(1)
	var after []string
	for _, e := range h.rec.Events() {
		if e.Call == "cb-1" && (e.Kind == "connected" || e.Kind == "completed" || e.Kind == "retry_wait" || e.Kind == "failed") {
			after = append(after, e.Kind)
		}
	}
	if cb.State != store.Dialing || lost == 0 || len(after) != 0 || fences < 2 {
		t.Fatalf("lease lost after the claim: callback %s, told %d times, later states traced %v, fence asked %d times; want dialing, told, none\n%s",
			cb.State, lost, after, fences, h.dump())
	}
}
