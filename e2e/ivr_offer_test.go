package e2e

import (
	"testing"
	"time"

	"github.com/callflow/callflow/internal/e2etest"
	"github.com/callflow/callflow/internal/sipptest"
)

// (b) Callback offered in the IVR: the first caller presses 1 and gets a
// callback without ever entering the queue's bridge; the second presses 2,
// waits in line and talks to an agent.
func TestIVROffer(t *testing.T) { e2etest.EachSwitch(t, testIVROffer) }

func testIVROffer(t *testing.T, sw string) {
	r := e2etest.NewRig(t, e2etest.RigOptions{Switch: sw,
		AgentModes:   []sipptest.Mode{sipptest.Answer, sipptest.Answer},
		AgentHold:    6 * time.Second,
		CustomerHold: 2 * time.Second,
	})
	const callerCB, callerQ = "+420601111222", "+421905123456"
	run1 := r.Call(sipptest.Caller{Extension: e2etest.ExtIVROffer, From: callerCB,
		Events: []sipptest.Step{sipptest.Pause(2 * time.Second), sipptest.DTMF("1"), sipptest.ExpectBye()}})
	id1 := r.InboundCall(20*time.Second, 0)
	r.Event(20*time.Second, e2etest.Match{Call: id1, Source: "flow", Kind: "menu", Text: "option_1"})
	r.Event(5*time.Second, e2etest.Match{Call: id1, Source: "queue", Kind: "reserved", Text: "in the IVR"})
	reg := r.Event(5*time.Second, e2etest.Match{Call: id1, Source: "queue", Kind: "registered"})
	if reg.Attrs["number"] != callerCB || reg.Attrs["ani"] != e2etest.DefaultANI {
		t.Errorf("registered %v, want number %s ani %s", reg, callerCB, e2etest.DefaultANI)
	}

	run2 := r.Call(sipptest.Caller{Extension: e2etest.ExtIVROffer, From: callerQ,
		Events: []sipptest.Step{sipptest.Pause(2 * time.Second), sipptest.DTMF("2"), sipptest.ExpectBye()}})
	id2 := r.InboundCall(20*time.Second, 1)
	r.Event(20*time.Second, e2etest.Match{Call: id2, Source: "flow", Kind: "menu", Text: "option_2"})
	r.Event(5*time.Second, e2etest.Match{Call: id2, Source: "queue", Kind: "joined"})
	conn := r.Event(20*time.Second, e2etest.Match{Call: id2, Source: "queue", Kind: "connected"})
	r.Event(20*time.Second, e2etest.Match{Call: id2, Source: "queue", Kind: "conversation_end"})
	r.Event(10*time.Second, e2etest.Match{Call: id2, Source: "flow", Kind: "queue", Text: "connected"})
	r.Event(60*time.Second, e2etest.Match{Call: "cb-1", Source: "callback", Kind: "completed"})
	r.Finish(run1, 60*time.Second)
	r.Finish(run2, 60*time.Second)

	for _, e := range e2etest.Filter(r.Trace(), e2etest.Match{Call: id1, Source: "queue"}) {
		if e.Kind == "joined" || e.Kind == "connected" {
			t.Errorf("the callback caller entered the queue: %v", e)
		}
	}
	cust := r.Customer.Calls()
	if len(cust) != 1 || cust[0].From != e2etest.DefaultANI || cust[0].To != callerCB {
		t.Errorf("customer phone got %+v, want one call From %s To %s", cust, e2etest.DefaultANI, callerCB)
	}
	// One agent took the callback (called with the queue's ANI), the other
	// the waiting caller (called with the caller's number).
	var fromANI, fromCaller int
	for i, a := range r.Agents {
		for _, c := range a.Calls() {
			switch c.From {
			case e2etest.DefaultANI:
				fromANI++
			case callerQ:
				fromCaller++
				if r.Svc.Agents[i] != conn.Text {
					t.Errorf("%s rang for the queued caller, but %s was connected", a.Name, conn.Text)
				}
			default:
				t.Errorf("%s got a call from %q", a.Name, c.From)
			}
		}
	}
	if fromANI != 1 || fromCaller != 1 {
		t.Errorf("agents got %d callback calls and %d queue calls, want 1 and 1", fromANI, fromCaller)
	}
}
