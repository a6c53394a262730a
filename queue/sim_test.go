package queue

import (
	"context"
	"errors"
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

// connectedOrder lists the callers in the order agents connected them.
func connectedOrder(h *harness) []string {
	var out []string
	for _, e := range h.rec.Events() {
		if e.Source == trace.Queue && e.Kind == "connected" {
			out = append(out, e.Call)
		}
	}
	return out
}

func TestLiveLineOrder(t *testing.T) {
	tests := []struct {
		name string
		prio map[string]int
		want []string
	}{
		{name: "first joined first", want: []string{"caller-1", "caller-2", "caller-3"}},
		{name: "higher priority first", prio: map[string]int{"caller-3": 5}, want: []string{"caller-1", "caller-3", "caller-2"}},
		{name: "priority then join time", prio: map[string]int{"caller-2": 1, "caller-3": 1}, want: []string{"caller-1", "caller-2", "caller-3"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sc := &sim.Scenario{
				Callers: []sim.Caller{{At: 0, From: "+420601000001"}, {At: time.Second, From: "+420601000002"}, {At: 2 * time.Second, From: "+420601000003"}},
				Agents:  []sim.Party{{Endpoint: "PJSIP/agent1", Talk: 10 * time.Second}},
			}
			h := newHarness(t, baseConfig("PJSIP/agent1"), sc, nil)
			h.run(h.enter(nil, tc.prio), 10*time.Minute)
			if got := connectedOrder(h); !slices.Equal(got, tc.want) {
				t.Fatalf("connected order %v, want %v\n%s", got, tc.want, h.dump())
			}
			for _, id := range tc.want {
				if r := h.result(id); r.err != nil || r.res.Outcome != flowvm.Connected || r.res.Agent != "PJSIP/agent1" {
					t.Fatalf("%s: %+v %v", id, r.res, r.err)
				}
			}
		})
	}
}

// agentBusyUntil makes agent1 take caller-0 first and talk for d.
func busyScenario(d time.Duration, callers ...sim.Caller) *sim.Scenario {
	return &sim.Scenario{
		Callers:   append([]sim.Caller{{ID: "caller-0", At: 0, From: "+420601000000"}}, callers...),
		Agents:    []sim.Party{{Endpoint: "PJSIP/agent1", Talk: d}},
		Customers: []sim.Party{{Number: "+420601000001", Talk: 20 * time.Second}},
	}
}

func TestAgentFirstCallbackKeepsPlace(t *testing.T) {
	sc := busyScenario(30*time.Second,
		sim.Caller{ID: "caller-1", At: time.Second, From: "+420601000001"},
		sim.Caller{ID: "caller-2", At: 2 * time.Second, From: "+420601000002"},
	)
	h := newHarness(t, baseConfig("PJSIP/agent1"), sc, nil)
	h.run(h.enter(map[string]func(context.Context, adapter.Call) error{
		"caller-1": register(h, "601000001", "recording:vm-1"),
	}, nil), 10*time.Minute)

	if r := h.result("caller-1"); r.err != nil || r.res.Outcome != flowvm.Callback {
		t.Fatalf("caller-1: %+v %v", r.res, r.err)
	}
	reg, _ := h.mustFind("caller-1", trace.Queue, "registered")
	if reg.Attrs["number"] != "+420601000001" || reg.Attrs["ani"] != queueANI || reg.Attrs["id"] != "1" {
		t.Fatalf("registered event %+v", reg)
	}
	// The callback (caller-1's place) is served before caller-2.
	_, dialAgent := h.mustFind("cb-1", trace.Callback, "dialing_agent")
	_, c2 := h.mustFind("caller-2", trace.Queue, "connected")
	if dialAgent > c2 {
		t.Fatalf("caller-2 connected before the callback was dialled\n%s", h.dump())
	}
	// Agent-first order: agent dialled with the queue ANI, media played to
	// the agent, then the customer dialled with the callback's ANI.
	agentLeg, custLeg := h.leg(1, "dialing_agent", 0), h.leg(1, "dialing_customer", 0)
	want := []string{
		"cb-1 callback agent_assigned PJSIP/agent1",
		"cb-1 callback dialing_agent PJSIP/agent1",
		agentLeg + " switch originate PJSIP/agent1",
		"cb-1 callback agent_answered PJSIP/agent1",
		"cb-1 callback media_to_agent 2 prompts",
		agentLeg + " switch play sound:callback-whisper recording:vm-1",
		"cb-1 callback dialing_customer PJSIP/+420601000001@trunk",
		custLeg + " switch originate PJSIP/+420601000001@trunk",
		"cb-1 callback connected PJSIP/agent1",
		"cb-1 callback completed customer hung up",
	}
	got := h.lines(func(e trace.Event) bool {
		return e.Call == "cb-1" || (e.Source == trace.Switch && (e.Call == agentLeg || e.Call == custLeg) && (e.Kind == "originate" || e.Kind == "play"))
	})
	if !slices.Equal(got, want) {
		t.Fatalf("callback events\n got %q\nwant %q\n%s", got, want, h.dump())
	}
	orig, _ := h.mustFind(custLeg, trace.Switch, "originate")
	if orig.Attrs["ani"] != queueANI {
		t.Fatalf("customer saw ANI %q, want %q", orig.Attrs["ani"], queueANI)
	}
	agentOrig, _ := h.mustFind(agentLeg, trace.Switch, "originate")
	if agentOrig.Attrs["ani"] != queueANI {
		t.Fatalf("agent saw caller ID %q, want the queue ANI", agentOrig.Attrs["ani"])
	}
	cb := h.callback(1)
	if cb.State != store.Completed || cb.Attempts != 1 || !cb.JoinedAt.Equal(simStart.Add(time.Second)) {
		t.Fatalf("stored callback %+v", cb)
	}
	atts, err := h.st.Attempts(context.Background(), 1)
	if err != nil || len(atts) != 2 || atts[0].Leg != store.LegAgent || atts[1].Leg != store.LegCustomer || atts[1].ANI != queueANI || atts[1].EndedAt.IsZero() {
		t.Fatalf("attempts %+v %v", atts, err)
	}
}

func TestCallbackRetries(t *testing.T) {
	tests := []struct {
		name      string
		attempts  []sim.Behaviour
		retryOn   []string
		wantState store.State
		wantN     int
		wantKinds []string
	}{
		{name: "busy then answer", attempts: []sim.Behaviour{sim.Busy, sim.Answer}, wantState: store.Completed, wantN: 2,
			wantKinds: []string{"customer_busy", "retry_wait", "agent_assigned", "dialing_agent", "agent_answered", "media_to_agent", "dialing_customer", "connected", "completed"}},
		{name: "attempts exhausted", attempts: []sim.Behaviour{sim.NoAnswer}, wantState: store.Failed, wantN: 2,
			wantKinds: []string{"customer_no_answer", "retry_wait", "agent_assigned", "dialing_agent", "agent_answered", "media_to_agent", "dialing_customer", "customer_no_answer", "failed"}},
		{name: "outcome not retried fails at once", attempts: []sim.Behaviour{sim.Busy}, retryOn: []string{"no_answer"}, wantState: store.Failed, wantN: 1,
			wantKinds: []string{"customer_busy", "failed"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sc := &sim.Scenario{
				Callers:   []sim.Caller{{At: 0, From: "+420601000001"}},
				Agents:    []sim.Party{{Endpoint: "PJSIP/agent1", Talk: 10 * time.Second, Behaviour: sim.NoAnswer, Schedule: []sim.Step{{At: 45 * time.Second, Behaviour: sim.Answer}}}},
				Customers: []sim.Party{{Number: "+420601000001", Attempts: tc.attempts, Talk: 5 * time.Second}},
			}
			cfg := baseConfig("PJSIP/agent1")
			cfg.Queues[0].Callback.RetryOn = tc.retryOn
			h := newHarness(t, cfg, sc, nil)
			h.run(h.enter(map[string]func(context.Context, adapter.Call) error{"caller-1": register(h, "+420601000001")}, nil), time.Hour)
			var kinds []string
			for _, e := range h.rec.Events() {
				if e.Call == "cb-1" && e.Source == trace.Callback {
					kinds = append(kinds, e.Kind)
				}
			}
			// Only the part from the first customer outcome on is pinned.
			i := slices.IndexFunc(kinds, func(k string) bool { return strings.HasPrefix(k, "customer_") })
			if i < 0 || !slices.Equal(kinds[i:], tc.wantKinds) {
				t.Fatalf("callback kinds %v, want tail %v\n%s", kinds, tc.wantKinds, h.dump())
			}
			cb := h.callback(1)
			if cb.State != tc.wantState || cb.Attempts != tc.wantN {
				t.Fatalf("stored %s attempts %d, want %s %d", cb.State, cb.Attempts, tc.wantState, tc.wantN)
			}
			// The agent that did not answer at first cost no attempt.
			if _, _, ok := h.find("cb-1", trace.Callback, "agent_no_answer"); !ok {
				t.Fatalf("agent no answer not traced\n%s", h.dump())
			}
			if rw, _, ok := h.find("cb-1", trace.Callback, "retry_wait"); ok && rw.Attrs["next"] == "" {
				t.Fatalf("retry_wait without next time: %+v", rw)
			}
		})
	}
}

func TestReservations(t *testing.T) {
	type step func(h *harness) func(ctx context.Context, c adapter.Call) error
	declineAfter := func(h *harness) func(ctx context.Context, c adapter.Call) error {
		return func(ctx context.Context, c adapter.Call) error {
			if err := c.Wait(ctx, 3*time.Second); err != nil {
				return err
			}
			if err := h.eng.StartCallback(ctx, c, ""); err != nil {
				return err
			}
			st, ok := h.eng.Status(c)
			if !ok || !st.Reserved || st.Position != 1 {
				h.t.Errorf("status while reserved: %+v %v", st, ok)
			}
			if _, err := c.Play(ctx, []adapter.Prompt{"sound:offer-callback"}, adapter.PlayOptions{}); err != nil {
				return err
			}
			return h.eng.DeclineCallback(ctx, c, flowvm.DeclineOptions{})
		}
	}
	reserveForever := func(h *harness) func(ctx context.Context, c adapter.Call) error {
		return func(ctx context.Context, c adapter.Call) error {
			if err := h.eng.StartCallback(ctx, c, ""); err != nil {
				return err
			}
			return c.Wait(ctx, time.Hour)
		}
	}
	tests := []struct {
		name        string
		flow        step
		hangupAt    *time.Duration
		wantOrder   []string
		wantAbandon bool
	}{
		{name: "decline returns to the same place", flow: declineAfter, wantOrder: []string{"caller-0", "caller-1", "caller-2"}},
		{name: "hang-up while reserved is an abandon", flow: reserveForever, hangupAt: dur(5 * time.Second), wantOrder: []string{"caller-0", "caller-2"}, wantAbandon: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sc := busyScenario(20*time.Second,
				sim.Caller{ID: "caller-1", At: time.Second, From: "+420601000001", HangupAt: tc.hangupAt},
				sim.Caller{ID: "caller-2", At: 2 * time.Second, From: "+420601000002"},
			)
			h := newHarness(t, baseConfig("PJSIP/agent1"), sc, nil)
			h.run(h.enter(map[string]func(context.Context, adapter.Call) error{"caller-1": tc.flow(h)}, nil), 10*time.Minute)
			if got := connectedOrder(h); !slices.Equal(got, tc.wantOrder) {
				t.Fatalf("connected order %v, want %v\n%s", got, tc.wantOrder, h.dump())
			}
			_, _, abandoned := h.find("caller-1", trace.Queue, "abandoned")
			if abandoned != tc.wantAbandon {
				t.Fatalf("abandoned %v, want %v\n%s", abandoned, tc.wantAbandon, h.dump())
			}
			if tc.wantAbandon {
				if r := h.result("caller-1"); !errors.Is(r.err, adapter.ErrHangup) {
					t.Fatalf("caller-1 Enter err %v, want ErrHangup", r.err)
				}
				if ev, _, _ := h.find("caller-1", trace.Queue, "abandoned"); ev.Attrs["queue"] != "sales" || ev.Attrs["position"] == "" {
					t.Fatalf("abandon event without its queue and position: %+v", ev)
				}
				snap, _ := h.eng.Snapshot("sales")
				if snap.Abandons != 1 {
					t.Fatalf("abandons %d, want 1", snap.Abandons)
				}
			}
		})
	}
}

func TestIVRReservationKeepsPlace(t *testing.T) {
	sc := busyScenario(20*time.Second,
		sim.Caller{ID: "caller-1", At: time.Second, From: "+420601000001"},
		sim.Caller{ID: "caller-2", At: 2 * time.Second, From: "+420601000002"},
	)
	h := newHarness(t, baseConfig("PJSIP/agent1"), sc, nil)
	enter := h.enter(nil, nil)
	h.run(func(ctx context.Context, c adapter.Call) {
		if c.ID() == "caller-1" {
			// Offered in the IVR, declined, then the caller enters the queue.
			if err := h.eng.StartCallback(ctx, c, "sales"); err != nil {
				t.Errorf("start callback in IVR: %v", err)
			}
			if _, err := c.Play(ctx, []adapter.Prompt{"sound:offer", "sound:offer", "sound:offer"}, adapter.PlayOptions{}); err != nil {
				return
			}
			if err := h.eng.DeclineCallback(ctx, c, flowvm.DeclineOptions{}); err != nil {
				t.Errorf("decline in IVR: %v", err)
			}
			// EWT = position 1 × mean handle 2m (seed) ÷ 1 agent.
			if st, ok := h.eng.Status(c); !ok || st.Reserved || st.Position != 1 || st.EWT != 2*time.Minute {
				t.Errorf("status after IVR decline: %+v %v", st, ok)
			}
		}
		enter(ctx, c)
	}, 10*time.Minute)
	want := []string{"caller-0", "caller-1", "caller-2"}
	if got := connectedOrder(h); !slices.Equal(got, want) {
		t.Fatalf("connected order %v, want %v\n%s", got, want, h.dump())
	}
}

func TestFullAndTimeout(t *testing.T) {
	tests := []struct {
		name       string
		maxEntries int
		maxWait    time.Duration
		want       map[string]flowvm.Outcome
	}{
		{name: "full", maxEntries: 1, want: map[string]flowvm.Outcome{"caller-1": flowvm.Connected, "caller-2": flowvm.Connected, "caller-3": flowvm.Full}},
		{name: "timeout", maxWait: 5 * time.Second, want: map[string]flowvm.Outcome{"caller-1": flowvm.Connected, "caller-2": flowvm.Timeout, "caller-3": flowvm.Timeout}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sc := &sim.Scenario{
				Callers: []sim.Caller{{At: 0, From: "+420601000001"}, {At: time.Second, From: "+420601000002"}, {At: 2 * time.Second, From: "+420601000003"}},
				Agents:  []sim.Party{{Endpoint: "PJSIP/agent1", Talk: 30 * time.Second}},
			}
			cfg := baseConfig("PJSIP/agent1")
			cfg.Queues[0].MaxEntries, cfg.Queues[0].MaxWait = tc.maxEntries, tc.maxWait
			h := newHarness(t, cfg, sc, nil)
			h.run(h.enter(nil, nil), 10*time.Minute)
			for id, want := range tc.want {
				if r := h.result(id); r.err != nil || r.res.Outcome != want {
					t.Fatalf("%s: %v %v, want %v\n%s", id, r.res.Outcome, r.err, want, h.dump())
				}
			}
			if tc.maxWait > 0 {
				if r := h.result("caller-2"); r.res.Waited != tc.maxWait {
					t.Fatalf("waited %v, want %v", r.res.Waited, tc.maxWait)
				}
			}
		})
	}
}

func TestAgentNoAnswerNextAgent(t *testing.T) {
	sc := &sim.Scenario{
		Callers: []sim.Caller{{At: 0, From: "+420601000001"}},
		Agents: []sim.Party{
			{Endpoint: "PJSIP/agent1", Behaviour: sim.NoAnswer},
			{Endpoint: "PJSIP/agent2", Talk: 10 * time.Second},
		},
	}
	h := newHarness(t, baseConfig("PJSIP/agent1", "PJSIP/agent2"), sc, nil)
	h.run(h.enter(nil, nil), 10*time.Minute)
	r := h.result("caller-1")
	if r.err != nil || r.res.Outcome != flowvm.Connected || r.res.Agent != "PJSIP/agent2" {
		t.Fatalf("caller-1: %+v %v\n%s", r.res, r.err, h.dump())
	}
	noAns, i := h.mustFind("caller-1", trace.Queue, "agent_no_answer")
	_, j := h.mustFind("caller-1", trace.Queue, "connected")
	if noAns.Text != "PJSIP/agent1" || i > j {
		t.Fatalf("no answer %+v at %d, connected at %d", noAns, i, j)
	}
	// Ordered strategy: agent1 rang first, for the whole agent timeout.
	off, _ := h.mustFind("caller-1", trace.Queue, "agent_offered")
	if off.Text != "PJSIP/agent1" || noAns.At.Sub(off.At) != 10*time.Second {
		t.Fatalf("offered %+v, no answer at %v", off, noAns.At)
	}
}

// TestFreeTextCallerNumberReachesAgent: a caller whose number arrived as
// free text is offered with no caller ID (a driver would refuse it), and a
// presentable one is passed on as it is.
func TestFreeTextCallerNumberReachesAgent(t *testing.T) {
	sc := &sim.Scenario{
		Callers: []sim.Caller{{At: 0, From: "Restricted Number"}, {At: time.Second, From: "anonymous"}},
		Agents:  []sim.Party{{Endpoint: "PJSIP/agent1", Talk: 10 * time.Second}},
	}
	h := newHarness(t, baseConfig("PJSIP/agent1"), sc, nil)
	h.run(h.enter(nil, nil), 10*time.Minute)
	for _, id := range []string{"caller-1", "caller-2"} {
		if r := h.result(id); r.err != nil || r.res.Outcome != flowvm.Connected {
			t.Fatalf("%s: %+v %v\n%s", id, r.res, r.err, h.dump())
		}
	}
	var anis []string
	for _, e := range h.rec.Events() {
		if e.Source == trace.Switch && e.Kind == "originate" {
			anis = append(anis, e.Attrs["ani"])
		}
	}
	// The simulator traces an originate without caller ID as ani=-.
	if want := []string{"-", "anonymous"}; !slices.Equal(anis, want) {
		t.Fatalf("agent offers presented %q, want %q\n%s", anis, want, h.dump())
	}
}

// TestOfferWithdrawn: a caller who reserves a callback or hangs up while an
// agent's phone rings for them stops that ringing; the agent, free at once
// and not skipped, is offered to the next caller.
func TestOfferWithdrawn(t *testing.T) {
	tests := []struct {
		name     string
		hangupAt *time.Duration
		reserve  bool
	}{
		{name: "caller reserves a callback", reserve: true},
		{name: "caller hangs up", hangupAt: dur(time.Second)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sc := &sim.Scenario{
				Callers: []sim.Caller{
					{ID: "caller-1", At: 0, From: "+420601000001", HangupAt: tc.hangupAt},
					{ID: "caller-2", At: 500 * time.Millisecond, From: "+420601000002"},
				},
				Agents: []sim.Party{{Endpoint: "PJSIP/agent1", Behaviour: sim.Answer, AnswerAfter: 4 * time.Second, Talk: 10 * time.Second}},
			}
			h := newHarness(t, baseConfig("PJSIP/agent1"), sc, nil)
			inq := map[string]func(context.Context, adapter.Call) error{}
			if tc.reserve {
				inq["caller-1"] = func(ctx context.Context, c adapter.Call) error {
					if err := c.Wait(ctx, time.Second); err != nil {
						return err
					}
					if err := h.eng.StartCallback(ctx, c, ""); err != nil {
						return err
					}
					return c.Wait(ctx, time.Minute)
				}
			}
			h.run(h.enter(inq, nil), 10*time.Minute)
			off, _ := h.mustFind("caller-1", trace.Queue, "agent_offered")
			wd, _ := h.mustFind("caller-1", trace.Queue, "agent_withdrawn")
			if wd.Text != "PJSIP/agent1" || wd.At.Sub(off.At) != time.Second {
				t.Fatalf("offered at %v, withdrawn %+v: want the ringing stopped 1 s in\n%s", off.At, wd, h.dump())
			}
			if _, _, ok := h.find("caller-1", trace.Queue, "agent_answered"); ok {
				t.Fatalf("the agent answered a call for a caller who no longer waited\n%s", h.dump())
			}
			// caller-2 is offered the same agent at once and connected
			// when it answers, 4 s later.
			off2, _ := h.mustFind("caller-2", trace.Queue, "agent_offered")
			ans2, _ := h.mustFind("caller-2", trace.Queue, "agent_answered")
			if !off2.At.Equal(wd.At) || ans2.At.Sub(off2.At) != 4*time.Second {
				t.Fatalf("caller-2 offered at %v (withdrawn at %v), answered at %v\n%s", off2.At, wd.At, ans2.At, h.dump())
			}
			if r := h.result("caller-2"); r.err != nil || r.res.Outcome != flowvm.Connected {
				t.Fatalf("caller-2: %+v %v\n%s", r.res, r.err, h.dump())
			}
		})
	}
}
