package e2e

import (
	"testing"
	"time"

	"github.com/callflow/callflow/internal/e2etest"
	"github.com/callflow/callflow/internal/sipptest"
)

// (a) Callback as the only option: a caller from a Czech mobile is never
// queued; the callback registered for their own number dials the agent
// first, then the customer with the queue's ANI.
func TestCallbackOnly(t *testing.T) { e2etest.EachSwitch(t, testCallbackOnly) }

func testCallbackOnly(t *testing.T, sw string) {
	r := e2etest.NewRig(t, e2etest.RigOptions{Switch: sw, CustomerHold: 2 * time.Second})
	const caller = "+420601111222"
	run := r.Call(sipptest.Caller{Extension: e2etest.ExtCallbackOnly, From: caller, Events: []sipptest.Step{sipptest.ExpectBye()}})
	id := r.InboundCall(20*time.Second, 0)

	reg := r.Event(20*time.Second, e2etest.Match{Call: id, Source: "queue", Kind: "registered"})
	if reg.Attrs["number"] != caller || reg.Attrs["ani"] != e2etest.DefaultANI {
		t.Errorf("registered %v, want number %s ani %s", reg, caller, e2etest.DefaultANI)
	}
	r.Event(5*time.Second, e2etest.Match{Call: id, Source: "flow", Kind: "validate_number", Attrs: map[string]string{"e164": caller, "type": "mobile"}})
	r.Finish(run, 60*time.Second)

	done := r.Event(60*time.Second, e2etest.Match{Call: "cb-1", Source: "callback", Kind: "completed"})
	t.Logf("completed: %v", done)
	calls := r.Customer.Calls()
	if len(calls) != 1 || calls[0].From != e2etest.DefaultANI || calls[0].To != caller {
		t.Errorf("customer phone got %+v, want one call From %s To %s", calls, e2etest.DefaultANI, caller)
	}
	agent := r.Agents[0].Calls()
	if len(agent) != 1 || agent[0].To != "agent1" || agent[0].From != e2etest.DefaultANI {
		t.Errorf("agent phone got %+v, want one call to agent1 from the ANI", agent)
	}
	if len(agent) == 1 && len(calls) == 1 && !agent[0].At.Before(calls[0].At) {
		t.Errorf("customer called at %v, not after the agent at %v", calls[0].At, agent[0].At)
	}
	for _, e := range r.Trace() {
		if e.Call == id && e.Source == "queue" && e.Kind == "joined" {
			t.Errorf("the caller was queued: %v", e)
		}
	}
}
