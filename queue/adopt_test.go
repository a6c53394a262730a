package queue

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/adapter/sim"
	"github.com/callflow/callflow/flowvm"
	"github.com/callflow/callflow/store"
	"github.com/callflow/callflow/trace"
)

// TestAdoptKeepsLineOrder rebuilds a line from durable rows: the callers'
// flows come back in the reverse order, yet the agent is offered them in
// their old order; a row whose call is gone is closed as an abandon and a
// foreign row is refused.
func TestAdoptKeepsLineOrder(t *testing.T) {
	sc := &sim.Scenario{
		Callers: []sim.Caller{
			{ID: "caller-3", At: 0, From: "+420601000003"},
			{ID: "caller-2", At: 500 * time.Millisecond, From: "+420601000002"},
			{ID: "caller-1", At: time.Second, From: "+420601000001"},
		},
		Agents: []sim.Party{{Endpoint: "PJSIP/agent1", Behaviour: sim.Answer, AnswerAfter: time.Second, Talk: 5 * time.Second}},
	}
	h := newHarness(t, baseConfig("PJSIP/agent1"), sc, nil)
	h.eng.line = h.st
	ctx := context.Background()
	row := func(call string, s int, st store.LineState) store.LineEntry {
		return store.LineEntry{CallID: call, Queue: "sales", State: st, JoinedAt: simStart.Add(-time.Duration(10-s) * time.Minute),
			Seq: int64(s), InQueue: true, Resume: "main/line", UpdatedAt: simStart}
	}
	h.st.SaveLine(row("caller-1", 1, store.LineWaiting))
	h.st.SaveLine(row("caller-gone", 2, store.LineWaiting))
	h.st.SaveLine(row("caller-2", 3, store.LineReserved)) // reserved from the queue: back as a Decline
	h.st.SaveLine(row("caller-3", 4, store.LineWaiting))
	foreign := row("caller-x", 5, store.LineWaiting)
	foreign.Queue = "elsewhere"
	h.st.SaveLine(foreign)
	if err := h.st.FlushLine(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h.eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	plan, err := h.eng.Adopt(ctx, h.st, []string{"caller-3", "caller-2", "caller-1", "caller-ivr"})
	if err != nil {
		t.Fatal(err)
	}
	wantRun := map[string]string{"caller-1": "main/line", "caller-2": "main/line", "caller-3": "main/line", "caller-ivr": ""}
	if len(plan.Run) != len(wantRun) || plan.Closed != 1 || plan.Refused != 1 {
		t.Fatalf("plan %+v, want run %v, 1 closed, 1 refused", plan, wantRun)
	}
	for id, p := range wantRun {
		if plan.Run[id] != p {
			t.Errorf("plan for %s: %q, want %q", id, plan.Run[id], p)
		}
	}
	err = h.sw.Serve(ctx, func(ctx context.Context, c adapter.Call) {
		h.eng.Rebind(c)
		res, err := h.eng.Enter(ctx, c, flowvm.EnterRequest{Queue: "sales", Resume: plan.Run[c.ID()]})
		h.mu.Lock()
		h.results[c.ID()] = enterOutcome{res, err}
		h.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.sched.Run(ctx, simStart.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	h.eng.Stop()
	offers := h.lines(func(e trace.Event) bool { return e.Kind == "agent_offered" })
	want := []string{"caller-1 queue agent_offered PJSIP/agent1", "caller-2 queue agent_offered PJSIP/agent1", "caller-3 queue agent_offered PJSIP/agent1"}
	if !slices.Equal(offers, want) {
		t.Fatalf("offers %q, want %q\n%s", offers, want, h.dump())
	}
	h.mustFind("caller-gone", trace.Queue, "abandoned")
	h.mustFind("caller-x", trace.Queue, "adopt_refused")
	if e, _ := h.mustFind("caller-2", trace.Queue, "adopted"); e.Attrs["as"] != AdoptedDeclined {
		t.Errorf("caller-2 adopted as %q, want declined", e.Attrs["as"])
	}
	rows, bad, err := h.st.ListLine(ctx)
	if err != nil || len(bad) != 0 {
		t.Fatalf("rows: %v %v", bad, err)
	}
	if err := h.st.FlushLine(ctx); err != nil {
		t.Fatal(err)
	}
	if rows, _, _ = h.st.ListLine(ctx); len(rows) != 0 {
		t.Errorf("rows left after every caller was served: %+v", rows)
	}
}
