package e2e

import (
	"testing"
	"time"

	"github.com/callflow/callflow/internal/e2etest"
	"github.com/callflow/callflow/internal/sipptest"
)

// declineCaller presses 1 in the in-queue offer (reserving a callback),
// then 2 in the confirmation menu (declining it).
func declineCaller(from string) sipptest.Caller {
	return sipptest.Caller{Extension: e2etest.ExtDecline, From: from, Events: []sipptest.Step{
		sipptest.Pause(3 * time.Second), sipptest.DTMF("1"),
		sipptest.Pause(2 * time.Second), sipptest.DTMF("2"),
		sipptest.ExpectBye(),
	}}
}

// (e) Decline: caller-1 reserves a callback (leaving the holding bridge:
// Asterisk's bridge of type holding, FreeSWITCH's hold music),
// declines it (back in the bridge at the same place); caller-2 joined
// later. When the agent is free, caller-1 is connected first.
func TestDecline(t *testing.T) { e2etest.EachSwitch(t, testDecline) }

func testDecline(t *testing.T, sw string) {
	r := e2etest.NewRig(t, e2etest.RigOptions{Switch: sw,
		AgentModes: []sipptest.Mode{sipptest.Busy},
		AgentHold:  3 * time.Second,
	})
	const c1, c2 = "+420601111222", "+420602333444"
	run1 := r.Call(declineCaller(c1))
	id1 := r.InboundCall(20*time.Second, 0)
	r.Event(10*time.Second, e2etest.Match{Call: id1, Source: "queue", Kind: "joined", Attrs: map[string]string{"position": "1"}})
	// Asterisk lists the waiting caller in its holding bridge at once.
	// FreeSWITCH has no bridge object: there a caller is seen on hold by
	// the hold music, which the in-queue offer's prompts replace until the
	// reservation, so its first moment on hold is after the decline.
	if sw == e2etest.Asterisk {
		if err := r.PBX.WaitHold(r.Ctx(5*time.Second), id1, true); err != nil {
			t.Fatal(err)
		}
	}
	r.Event(20*time.Second, e2etest.Match{Call: id1, Source: "queue", Kind: "reserved"})
	if on, err := r.PBX.OnHold(r.Ctx(5*time.Second), id1); err != nil || on {
		t.Errorf("reserved caller-1 is on hold %v (err %v), want out of the holding bridge", on, err)
	}

	// caller-2 arrives while caller-1's place is reserved.
	run2 := r.Call(sipptest.Caller{Extension: e2etest.ExtDecline, From: c2, Events: []sipptest.Step{sipptest.ExpectBye()}})
	id2 := r.InboundCall(20*time.Second, 1)
	r.Event(10*time.Second, e2etest.Match{Call: id2, Source: "queue", Kind: "joined", Attrs: map[string]string{"position": "2"}})

	r.Event(20*time.Second, e2etest.Match{Call: id1, Source: "queue", Kind: "declined", Attrs: map[string]string{"position": "1"}})
	// FreeSWITCH: the music starts after the position announcement.
	if err := r.PBX.WaitHold(r.Ctx(10*time.Second), id1, true); err != nil {
		t.Fatal(err)
	}
	q, err := r.Svc.Queue(r.Ctx(10*time.Second), "support")
	if err != nil {
		t.Fatal(err)
	}
	if q.Position(id1) != 1 || q.Position(id2) != 2 {
		t.Fatalf("queue positions: caller-1 %d, caller-2 %d, want 1 and 2: %+v", q.Position(id1), q.Position(id2), q.Entries)
	}

	if err := r.Agents[0].SetMode(r.Ctx(10*time.Second), sipptest.Answer, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	conn1 := r.Event(30*time.Second, e2etest.Match{Call: id1, Source: "queue", Kind: "connected"})
	conn2 := r.Event(40*time.Second, e2etest.Match{Call: id2, Source: "queue", Kind: "connected"})
	if conn2.Index < conn1.Index {
		t.Errorf("caller-2 connected (%v) before caller-1 (%v)", conn2, conn1)
	}
	r.Finish(run1, 60*time.Second)
	r.Finish(run2, 60*time.Second)
	for _, e := range r.Trace() {
		if e.Kind == "abandoned" {
			t.Errorf("unexpected abandon: %v", e)
		}
	}
}

// (e) Hang-up while reserved: counted as an abandon in the trace, the
// event log and the metrics.
func TestDeclineHangupWhileReserved(t *testing.T) {
	e2etest.EachSwitch(t, testDeclineHangupWhileReserved)
}

func testDeclineHangupWhileReserved(t *testing.T, sw string) {
	r := e2etest.NewRig(t, e2etest.RigOptions{Switch: sw, AgentModes: []sipptest.Mode{sipptest.Busy}})
	const c1 = "+420601111222"
	run := r.Call(sipptest.Caller{Extension: e2etest.ExtDecline, From: c1, Events: []sipptest.Step{
		sipptest.Pause(3 * time.Second), sipptest.DTMF("1"), sipptest.Pause(1500 * time.Millisecond), sipptest.Hangup(),
	}})
	id := r.InboundCall(20*time.Second, 0)
	res := r.Event(20*time.Second, e2etest.Match{Call: id, Source: "queue", Kind: "reserved"})
	ab := r.Event(20*time.Second, e2etest.Match{Call: id, Source: "queue", Kind: "abandoned", Text: "reserved"})
	if ab.Index < res.Index || ab.Attrs["position"] != "1" {
		t.Errorf("abandon %v after reservation %v, want position 1 after it", ab, res)
	}
	r.Finish(run, 30*time.Second)

	ctx := r.Ctx(10 * time.Second)
	// The event log commits lines in batches (up to 100 ms after the
	// first), so the abandon shows up shortly after the trace line.
	var evs []e2etest.StoredEvent
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		got, err := r.Svc.Events(ctx, "abandon")
		if err != nil {
			t.Fatal(err)
		}
		evs = got
		if len(evs) > 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(evs) != 1 || evs[0].CallID != id || evs[0].Queue != "support" {
		t.Errorf("abandon events %+v, want one for call %s in support", evs, id)
	}
	n, found, err := r.Svc.Metric(ctx, "callflow_queue_abandons_total", map[string]string{"queue": "support"})
	if err != nil || !found || n != 1 {
		t.Errorf("callflow_queue_abandons_total{queue=support} = %v (found %v, err %v), want 1", n, found, err)
	}
	q, err := r.Svc.Queue(ctx, "support")
	if err != nil {
		t.Fatal(err)
	}
	if q.Abandons != 1 || len(q.Entries) != 0 {
		t.Errorf("queue %+v, want 1 abandon and an empty line", q)
	}
}
