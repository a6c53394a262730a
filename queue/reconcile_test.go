package queue

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/adapter/sim"
	"github.com/callflow/callflow/store"
	"github.com/callflow/callflow/trace"
)

// The crash of a previous process is staged in the store (callback state,
// attempt log with channel ids) and on the simulated switch (legs that
// still ring or talk, placed by actors that stand for the dead process).

const (
	custA = "+420601000001"
	custB = "+420601000002"
)

// oldLeg is a leg the crashed process placed.
type oldLeg struct {
	leg      string // store.LegAgent or store.LegCustomer
	endpoint string
	id       string // channel id in the attempt log
	place    bool   // the leg exists on the switch
	timeout  time.Duration
}

// crashState registers a callback, moves it to state and logs attempt n's
// legs as open.
func crashState(t *testing.T, st *store.SQLite, number string, joined time.Duration, seq int64, state store.State, n int, legs []oldLeg) store.Callback {
	t.Helper()
	ctx := context.Background()
	at := simStart.Add(-joined)
	cb, _, err := st.Register(ctx, store.Callback{Queue: "sales", Number: number, ANI: queueANI, JoinedAt: at, Seq: seq, CreatedAt: at}, true)
	if err != nil {
		t.Fatal(err)
	}
	path := map[store.State][]store.State{
		store.Registered: nil,
		store.Dialing:    {store.Dialing},
		store.Connected:  {store.Dialing, store.Connected},
	}[state]
	cur := store.Registered
	for _, s := range path {
		if cb, err = st.Transition(ctx, cb.ID, cur, s, store.Change{At: simStart.Add(-time.Minute)}); err != nil {
			t.Fatal(err)
		}
		cur = s
	}
	for _, l := range legs {
		if _, err := st.StartAttempt(ctx, store.Attempt{CallbackID: cb.ID, N: n, Leg: l.leg, Endpoint: l.endpoint, ANI: queueANI,
			ChannelID: l.id, StartedAt: simStart.Add(-30 * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	return cb
}

// runCrashed places the old legs (bridging them when both answer), starts
// the engine one second later and runs the simulation for d.
func runCrashed(h *harness, legs []oldLeg, bridge bool, d time.Duration) {
	h.t.Helper()
	ctx := context.Background()
	h.sched.Go(func() {
		var answered []adapter.Call
		for _, l := range legs {
			if !l.place {
				continue
			}
			req := adapter.OriginateRequest{ID: l.id, Endpoint: l.endpoint, CallerID: queueANI, Timeout: l.timeout, Tag: l.leg}
			if l.leg == store.LegCustomer && !bridge {
				// A ringing leg blocks its originate: give it an actor.
				h.sched.Go(func() { _, _ = h.sw.Originate(ctx, req) })
				continue
			}
			c, err := h.sw.Originate(ctx, req)
			if err != nil {
				h.t.Errorf("stage old leg %s: %v", l.id, err)
				return
			}
			answered = append(answered, c)
		}
		if bridge && len(answered) == 2 {
			br, err := h.sw.NewBridge(ctx, adapter.BridgeOptions{Kind: adapter.Mixing, Name: "old"})
			if err != nil {
				h.t.Errorf("stage bridge: %v", err)
				return
			}
			for _, c := range answered {
				if err := br.Add(ctx, c); err != nil {
					h.t.Errorf("stage bridge: %v", err)
				}
			}
		}
	})
	h.sched.AfterFunc(time.Second, func() {
		if err := h.eng.Start(ctx); err != nil {
			h.t.Errorf("start: %v", err)
		}
	})
	if err := h.sw.Serve(ctx, func(context.Context, adapter.Call) {}); err != nil {
		h.t.Fatalf("serve: %v", err)
	}
	err := h.sched.Run(ctx, simStart.Add(d))
	h.eng.Stop()
	if err != nil {
		h.t.Fatalf("run: %v", err)
	}
}

// maxLiveLegs is the largest number of legs to number that were up
// (ringing or answered) at the same instant, from the switch trace.
func maxLiveLegs(events []trace.Event, number string) int {
	live := map[string]bool{}
	most := 0
	for _, e := range events {
		if e.Source != trace.Switch {
			continue
		}
		switch {
		case e.Kind == "originate" && strings.Contains(e.Text, number):
			live[e.Call] = true
			most = max(most, len(live))
		case e.Kind == "hangup" || (strings.HasPrefix(e.Kind, "originate-") && e.Kind != "originate-answered"):
			delete(live, e.Call)
		}
	}
	return most
}

func attemptsOf(t *testing.T, st *store.SQLite, id int64) []store.Attempt {
	t.Helper()
	atts, err := st.Attempts(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return atts
}

func TestReconcileDialing(t *testing.T) {
	agentEP, custEP := "PJSIP/agent1", "PJSIP/"+custA+"@trunk"
	tests := []struct {
		name string
		legs []oldLeg
		// customer: the scenario's behaviour per originate (the old leg
		// placed by the test counts as the first when placed).
		customer     []sim.Behaviour
		wantLive     string // live_legs of the interrupted event
		wantOldCause string // cause logged for the old customer leg
		wantN        int    // attempt number of the dispatch after the restart
	}{
		{
			name:     "legs gone",
			legs:     []oldLeg{{leg: store.LegAgent, endpoint: agentEP, id: "old-agent"}, {leg: store.LegCustomer, endpoint: custEP, id: "old-cust"}},
			customer: []sim.Behaviour{sim.Answer}, wantLive: "0", wantN: 2,
		},
		{
			name: "crash before the customer leg was placed",
			legs: []oldLeg{{leg: store.LegAgent, endpoint: agentEP, id: "old-agent", place: true},
				{leg: store.LegCustomer, endpoint: custEP, id: "old-cust"}},
			customer: []sim.Behaviour{sim.Answer}, wantLive: "1", wantN: 2,
		},
		{
			name: "customer still ringing",
			legs: []oldLeg{{leg: store.LegAgent, endpoint: agentEP, id: "old-agent", place: true},
				{leg: store.LegCustomer, endpoint: custEP, id: "old-cust", place: true, timeout: 10 * time.Minute}},
			customer: []sim.Behaviour{sim.NoAnswer, sim.Answer}, wantLive: "2", wantOldCause: "normal", wantN: 2,
		},
		{
			name:     "no legs logged yet",
			customer: []sim.Behaviour{sim.Answer}, wantLive: "0", wantN: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := openStore(t, filepath.Join(t.TempDir(), "cb.db"))
			cb := crashState(t, st, custA, 2*time.Minute, 1, store.Dialing, 1, tc.legs)
			later := crashState(t, st, custB, time.Minute, 2, store.Registered, 0, nil)
			sc := &sim.Scenario{
				Agents: []sim.Party{{Endpoint: agentEP, AnswerAfter: 0, Talk: 10 * time.Second}},
				Customers: []sim.Party{
					{Number: custA, Attempts: tc.customer, AnswerAfter: time.Second, Talk: 10 * time.Second},
					{Number: custB, AnswerAfter: time.Second, Talk: 10 * time.Second},
				},
			}
			h := newHarness(t, baseConfig(agentEP), sc, st)
			runCrashed(h, tc.legs, false, time.Hour)

			ev, _ := h.mustFind(cbName(cb.ID), trace.Callback, "interrupted")
			if ev.Attrs["live_legs"] != tc.wantLive {
				t.Errorf("live legs %q, want %s\n%s", ev.Attrs["live_legs"], tc.wantLive, h.dump())
			}
			got := h.callback(cb.ID)
			if got.State != store.Completed || got.Attempts != 1 {
				t.Fatalf("callback %s after %d attempts, want completed after 1\n%s", got.State, got.Attempts, h.dump())
			}
			if n := maxLiveLegs(h.rec.Events(), custA); n != 1 {
				t.Fatalf("%d legs to the customer at once, want 1\n%s", n, h.dump())
			}
			var n1, n2 []store.Attempt
			for _, a := range attemptsOf(t, st, cb.ID) {
				switch a.N {
				case tc.wantN:
					n2 = append(n2, a)
				case 1:
					n1 = append(n1, a)
				default:
					t.Errorf("attempt number %d", a.N)
				}
			}
			for _, a := range n1 {
				if a.Outcome != "interrupted" || a.EndedAt.IsZero() {
					t.Errorf("old leg %+v, want closed as interrupted", a)
				}
				if a.Leg == store.LegCustomer && a.Cause != tc.wantOldCause {
					t.Errorf("old customer leg cause %q, want %q", a.Cause, tc.wantOldCause)
				}
			}
			// The customer is called again only by a new attempt number.
			if len(n2) != 2 || n2[1].Leg != store.LegCustomer || n2[1].Outcome != "answered" || n2[1].ChannelID != h.leg(cb.ID, "dialing_customer", 0) || !strings.HasPrefix(n2[1].ChannelID, fmt.Sprintf("cb%d-%d-customer-", cb.ID, tc.wantN)) {
				t.Fatalf("new attempt legs %+v\n%s", n2, h.dump())
			}
			// Its place was kept: it is served before the later callback.
			_, first := h.mustFind(cbName(cb.ID), trace.Callback, "completed")
			_, second := h.mustFind(cbName(later.ID), trace.Callback, "completed")
			if first > second {
				t.Fatalf("interrupted callback lost its place\n%s", h.dump())
			}
		})
	}
}

func TestReconcileConnected(t *testing.T) {
	agentEP, custEP := "PJSIP/agent1", "PJSIP/"+custA+"@trunk"
	tests := []struct {
		name     string
		place    bool
		wantWhy  string
		wantFree time.Duration // when the next callback's agent is dialled
		wantOut  string        // outcome of the old legs
	}{
		{name: "conversation goes on", place: true, wantWhy: "customer hung up", wantFree: 40 * time.Second, wantOut: "answered"},
		{name: "legs gone", wantWhy: "closed after restart", wantFree: time.Second, wantOut: "completed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := openStore(t, filepath.Join(t.TempDir(), "cb.db"))
			legs := []oldLeg{
				{leg: store.LegAgent, endpoint: agentEP, id: "old-agent", place: tc.place},
				{leg: store.LegCustomer, endpoint: custEP, id: "old-cust", place: tc.place},
			}
			cb := crashState(t, st, custA, 2*time.Minute, 1, store.Connected, 1, legs)
			next := crashState(t, st, custB, time.Minute, 2, store.Registered, 0, nil)
			sc := &sim.Scenario{
				Agents: []sim.Party{{Endpoint: agentEP, AnswerAfter: 0, Talk: time.Hour}},
				Customers: []sim.Party{
					{Number: custA, AnswerAfter: 0, Talk: 40 * time.Second},
					{Number: custB, AnswerAfter: time.Second, Talk: 10 * time.Second},
				},
			}
			h := newHarness(t, baseConfig(agentEP), sc, st)
			runCrashed(h, legs, true, time.Hour)

			got := h.callback(cb.ID)
			if got.State != store.Completed {
				t.Fatalf("callback %s, want completed\n%s", got.State, h.dump())
			}
			done, _ := h.mustFind(cbName(cb.ID), trace.Callback, "completed")
			if done.Text != tc.wantWhy {
				t.Errorf("completed %q, want %q", done.Text, tc.wantWhy)
			}
			for _, a := range attemptsOf(t, st, cb.ID) {
				if a.Outcome != tc.wantOut || a.EndedAt.IsZero() {
					t.Errorf("old leg %+v, want closed as %s", a, tc.wantOut)
				}
			}
			if tc.place {
				if _, _, ok := h.find(cbName(cb.ID), trace.Callback, "reattached"); !ok {
					t.Errorf("no reattached event\n%s", h.dump())
				}
				if _, _, ok := h.find("old-agent", trace.Switch, "hangup"); !ok {
					t.Errorf("agent leg not hung up after the customer left\n%s", h.dump())
				}
			}
			// The agent is not offered to anyone while the conversation lasts.
			dial, _ := h.mustFind(cbName(next.ID), trace.Callback, "dialing_agent")
			if d := dial.At.Sub(simStart); d != tc.wantFree {
				t.Errorf("next callback dialled its agent at %v, want %v\n%s", d, tc.wantFree, h.dump())
			}
			if cb := h.callback(next.ID); cb.State != store.Completed {
				t.Errorf("next callback %s", cb.State)
			}
		})
	}
}

// noAttach hides the simulator's Attacher, like a driver without it.
type noAttach struct{ adapter.Switch }

func TestReconcileWithoutAttacher(t *testing.T) {
	agentEP, custEP := "PJSIP/agent1", "PJSIP/"+custA+"@trunk"
	st := openStore(t, filepath.Join(t.TempDir(), "cb.db"))
	legs := []oldLeg{{leg: store.LegAgent, endpoint: agentEP, id: "old-agent"}, {leg: store.LegCustomer, endpoint: custEP, id: "old-cust"}}
	dialing := crashState(t, st, custA, 2*time.Minute, 1, store.Dialing, 1, legs)
	connected := crashState(t, st, custB, time.Minute, 2, store.Connected, 1, []oldLeg{
		{leg: store.LegAgent, endpoint: agentEP, id: "old-agent-2"}, {leg: store.LegCustomer, endpoint: "PJSIP/" + custB + "@trunk", id: "old-cust-2"}})
	sc := &sim.Scenario{
		Agents:    []sim.Party{{Endpoint: agentEP, AnswerAfter: 0, Talk: 10 * time.Second}},
		Customers: []sim.Party{{Number: custA, AnswerAfter: time.Second, Talk: 10 * time.Second}},
	}
	h := newHarness(t, baseConfig(agentEP), sc, st)
	h.eng.sw = noAttach{h.sw}
	runCrashed(h, nil, false, time.Hour)
	if _, ok := h.eng.sw.(adapter.Attacher); ok {
		t.Fatal("test switch still attaches")
	}
	if cb := h.callback(dialing.ID); cb.State != store.Completed || cb.Attempts != 1 {
		t.Fatalf("dialing callback %s after %d attempts\n%s", cb.State, cb.Attempts, h.dump())
	}
	if cb := h.callback(connected.ID); cb.State != store.Completed {
		t.Fatalf("connected callback %s", cb.State)
	}
	outs := []string{}
	for _, a := range attemptsOf(t, st, connected.ID) {
		outs = append(outs, a.Outcome)
	}
	if !slices.Equal(outs, []string{"completed", "completed"}) {
		t.Fatalf("connected legs closed as %v", outs)
	}
}

// flakySwitch fails Originate with ErrClosed a number of times, as a switch
// whose connection is down, then behaves.
type flakySwitch struct {
	*sim.Switch
	downFor int
	tag     string
}

func (f *flakySwitch) Originate(ctx context.Context, req adapter.OriginateRequest) (adapter.Call, error) {
	if req.Tag == f.tag && f.downFor > 0 {
		f.downFor--
		return nil, errors.Join(adapter.ErrClosed, errors.New("test: switch connection lost"))
	}
	return f.Switch.Originate(ctx, req)
}

func TestSwitchLossDoesNotUseAttempts(t *testing.T) {
	for _, tag := range []string{"agent", "customer"} {
		t.Run(tag, func(t *testing.T) {
			st := openStore(t, filepath.Join(t.TempDir(), "cb.db"))
			cb := crashState(t, st, custA, time.Minute, 1, store.Registered, 0, nil)
			sc := &sim.Scenario{
				Agents:    []sim.Party{{Endpoint: "PJSIP/agent1", AnswerAfter: 0, Talk: 10 * time.Second}},
				Customers: []sim.Party{{Number: custA, AnswerAfter: time.Second, Talk: 10 * time.Second}},
			}
			cfg := baseConfig("PJSIP/agent1")
			cfg.Queues[0].Callback.MaxAttempts = 1
			h := newHarness(t, cfg, sc, st)
			h.eng.sw = &flakySwitch{Switch: h.sw, downFor: 2, tag: tag}
			runCrashed(h, nil, false, time.Hour)
			got := h.callback(cb.ID)
			if got.State != store.Completed || got.Attempts != 1 {
				t.Fatalf("callback %s after %d attempts, want completed after 1\n%s", got.State, got.Attempts, h.dump())
			}
			if n := len(h.lines(func(e trace.Event) bool { return e.Source == trace.Callback && e.Kind == "interrupted" })); n != 2 {
				t.Fatalf("%d interruptions, want 2\n%s", n, h.dump())
			}
		})
	}
}
