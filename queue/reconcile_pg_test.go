package queue

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/callflow/callflow/adapter/sim"
	"github.com/callflow/callflow/internal/pgtest"
	"github.com/callflow/callflow/store"
	"github.com/callflow/callflow/trace"
)

// TestReconcileOnPostgres runs the engine's crash reconciliation with its
// store on a real PostgreSQL: a callback caught dialing with its customer
// still ringing, and one caught connected with the conversation going on,
// are put right as on SQLite (reconcile_test.go).
func TestReconcileOnPostgres(t *testing.T) {
	c, _ := pgtest.Require(t)
	agentEP, custEP := "PJSIP/agent1", "PJSIP/"+custA+"@trunk"
	open := func(t *testing.T) *store.DB {
		dsn, err := c.CreateDatabase(context.Background(), "reconcile")
		if err != nil {
			t.Fatal(err)
		}
		st, err := store.OpenPostgres(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}

	t.Run("dialing, customer still ringing", func(t *testing.T) {
		st := open(t)
		legs := []oldLeg{{leg: store.LegAgent, endpoint: agentEP, id: "old-agent", place: true},
			{leg: store.LegCustomer, endpoint: custEP, id: "old-cust", place: true, timeout: 10 * time.Minute}}
		cb := crashState(t, st, custA, 2*time.Minute, 1, store.Dialing, 1, legs)
		later := crashState(t, st, custB, time.Minute, 2, store.Registered, 0, nil)
		sc := &sim.Scenario{
			Agents: []sim.Party{{Endpoint: agentEP, AnswerAfter: 0, Talk: 10 * time.Second}},
			Customers: []sim.Party{
				{Number: custA, Attempts: []sim.Behaviour{sim.NoAnswer, sim.Answer}, AnswerAfter: time.Second, Talk: 10 * time.Second},
				{Number: custB, AnswerAfter: time.Second, Talk: 10 * time.Second},
			},
		}
		h := newHarness(t, baseConfig(agentEP), sc, st)
		runCrashed(h, legs, false, time.Hour)

		ev, _ := h.mustFind(cbName(cb.ID), trace.Callback, "interrupted")
		if ev.Attrs["live_legs"] != "2" {
			t.Errorf("live legs %q, want 2\n%s", ev.Attrs["live_legs"], h.dump())
		}
		if got := h.callback(cb.ID); got.State != store.Completed || got.Attempts != 1 {
			t.Fatalf("callback %s after %d attempts, want completed after 1\n%s", got.State, got.Attempts, h.dump())
		}
		if n := maxLiveLegs(h.rec.Events(), custA); n != 1 {
			t.Fatalf("%d legs to the customer at once, want 1\n%s", n, h.dump())
		}
		var old, fresh int
		for _, a := range attemptsOf(t, st, cb.ID) {
			switch a.N {
			case 1:
				old++
				if a.Outcome != "interrupted" || a.EndedAt.IsZero() {
					t.Errorf("old leg %+v, want closed as interrupted", a)
				}
			case 2:
				fresh++
				if a.Leg == store.LegCustomer && (a.Outcome != "answered" || !strings.HasPrefix(a.ChannelID, "cb")) {
					t.Errorf("new customer leg %+v", a)
				}
			default:
				t.Errorf("attempt number %d", a.N)
			}
		}
		if old != 2 || fresh != 2 {
			t.Fatalf("%d old and %d new legs, want 2 and 2", old, fresh)
		}
		_, first := h.mustFind(cbName(cb.ID), trace.Callback, "completed")
		_, second := h.mustFind(cbName(later.ID), trace.Callback, "completed")
		if first > second {
			t.Fatalf("interrupted callback lost its place\n%s", h.dump())
		}
	})

	t.Run("connected, conversation goes on", func(t *testing.T) {
		st := open(t)
		legs := []oldLeg{
			{leg: store.LegAgent, endpoint: agentEP, id: "old-agent", place: true},
			{leg: store.LegCustomer, endpoint: custEP, id: "old-cust", place: true},
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

		if got := h.callback(cb.ID); got.State != store.Completed {
			t.Fatalf("callback %s, want completed\n%s", got.State, h.dump())
		}
		if _, _, ok := h.find(cbName(cb.ID), trace.Callback, "reattached"); !ok {
			t.Errorf("no reattached event\n%s", h.dump())
		}
		dial, _ := h.mustFind(cbName(next.ID), trace.Callback, "dialing_agent")
		if d := dial.At.Sub(simStart); d != 40*time.Second {
			t.Errorf("next callback dialled its agent at %v, want 40s (after the conversation)\n%s", d, h.dump())
		}
		if got := h.callback(next.ID); got.State != store.Completed {
			t.Errorf("next callback %s", got.State)
		}
	})
}
