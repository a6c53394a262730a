package crash

import (
	"strings"
	"testing"
	"time"

	"github.com/callflow/callflow/internal/e2etest"
	"github.com/callflow/callflow/internal/sipptest"
)

const caller = "+420601111222"

// callIn places the callback-only caller: it hears the flow and hangs up
// after 25 s at the latest (a killed service leaves it in dead air).
func callIn(r *e2etest.Rig) *e2etest.CallRun {
	return r.Call(sipptest.Caller{Extension: e2etest.ExtCallbackOnly, From: caller,
		Events: []sipptest.Step{sipptest.Pause(25 * time.Second), sipptest.Hangup()}})
}

// endCaller waits for the caller's sipp and removes its folder; whether
// sipp counted the call a success does not matter here.
func endCaller(t *testing.T, run *e2etest.CallRun) {
	t.Helper()
	res, err := run.Wait(40 * time.Second)
	if res.Dir != "" {
		res.Cleanup()
	}
	if err != nil && strings.Contains(err.Error(), "still running") {
		t.Errorf("caller: %v", err)
	}
}

// TestKillDuringCallback kills the service with SIGKILL right after a
// callback event and checks from the phones, Asterisk and the API that the
// confirmed callback completes exactly once and the customer is never
// dialled twice for one attempt.
func TestKillDuringCallback(t *testing.T) { e2etest.EachSwitch(t, testKillDuringCallback) }

func testKillDuringCallback(t *testing.T, sw string) {
	tests := []struct {
		name      string
		killAfter string
		// reattached: the conversation survives the crash.
		reattached bool
		// wantAttempts is the attempt number of the completing dispatch.
		wantAttempts int
	}{
		{name: "a registered", killAfter: "queue.registered", wantAttempts: 1},
		{name: "b dialing agent", killAfter: "callback.dialing_agent", wantAttempts: 1},
		{name: "c dialing customer", killAfter: "callback.dialing_customer", wantAttempts: 2},
		{name: "d connected", killAfter: "callback.connected", reattached: true, wantAttempts: 1},
	}
	var total tally
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e2etest.NewRig(t, e2etest.RigOptions{Switch: sw, Service: faultBuild, CustomerHold: 4 * time.Second})
			w := watchCustomerLegs(t, r.PBX)
			setFault(t, r, tc.killAfter, 1)
			run := callIn(r)
			defer endCaller(t, run)
			awaitCrash(t, r, 60*time.Second)

			c := audit(t, r, w, 1, caller)
			cb := waitState(t, r, 1, "completed", time.Second)
			last := 0
			for _, a := range *cb.Attempts {
				last = max(last, a.N)
			}
			if last != tc.wantAttempts {
				t.Errorf("completed by attempt %d, want %d", last, tc.wantAttempts)
			}
			if cb.AttemptCount != 1 {
				t.Errorf("attempt count %d: the crash used up an attempt", cb.AttemptCount)
			}
			re := e2etest.Filter(r.Trace(), e2etest.Match{Call: "cb-1", Source: "callback", Kind: "reattached"})
			if tc.reattached != (len(re) == 1) {
				t.Errorf("reattached events %v, want reattached %v", re, tc.reattached)
			}
			c.log(t, tc.name)
			total.registered += c.registered
			total.completed += c.completed
			total.lost += c.registered - c.completed
			total.doubleDialled += c.doubleDialled
		})
	}
	total.log(t, "kill -9 total on "+sw)
}

// TestKillBeforeCommit kills the service after start_callback, before
// register_callback commits. Nothing the killed process did may be
// dialled: no callback exists from before the crash. Where the switch lets
// the restarted process re-adopt the caller (Asterisk, docs/restart.md),
// the caller runs the flow again and may register a callback then; that
// one, confirmed to the caller by the new process, is the only one dialled.
func TestKillBeforeCommit(t *testing.T) { e2etest.EachSwitch(t, testKillBeforeCommit) }

func testKillBeforeCommit(t *testing.T, sw string) {
	r := e2etest.NewRig(t, e2etest.RigOptions{Switch: sw, Service: faultBuild, CustomerHold: 4 * time.Second})
	setFault(t, r, "flow.start_callback", 1)
	run := callIn(r)
	defer endCaller(t, run)
	awaitCrash(t, r, 60*time.Second)
	time.Sleep(8 * time.Second) // time to dial, were anything there
	cbs, err := r.Svc.Callbacks(r.Ctx(10 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	evs := r.Trace()
	adopted := e2etest.Filter(evs, e2etest.Match{Source: "queue", Kind: "adopted"})
	registered := e2etest.Filter(evs, e2etest.Match{Source: "queue", Kind: "registered"})
	switch {
	case len(cbs) == 0:
		if calls := r.Customer.Calls(); len(calls) != 0 {
			t.Errorf("customer INVITEs without a callback: %+v", calls)
		}
		if calls := r.Agents[0].Calls(); len(calls) != 0 {
			t.Errorf("agent INVITEs without a callback: %+v", calls)
		}
	case len(cbs) > 1:
		t.Errorf("%d callbacks after one caller's crash before the commit: %+v", len(cbs), cbs)
	case len(adopted) == 0 || len(registered) != 1 || registered[0].Index < adopted[0].Index:
		// A callback may only come from the caller's run after re-adoption.
		t.Errorf("callback %+v not registered by the re-adopted caller's new run (adopted %v, registered %v)", cbs[0], adopted, registered)
	default:
		at := registered[0].At
		for _, c := range append(r.Agents[0].Calls(), r.Customer.Calls()...) {
			if c.At.Before(at) {
				t.Errorf("INVITE at %v before the callback was registered at %v: %+v", c.At, at, c)
			}
		}
		t.Logf("caller re-adopted at %s and registered callback %d at %s", adopted[0].At.Format("15:04:05.000"),
			cbs[0].ID, at.Format("15:04:05.000"))
	}
	tally{}.log(t, "kill before commit")
}

// TestKillWhileCustomerRings kills the service (from the test) while the
// customer's phone rings: the restarted service hangs that leg up before
// it dials the customer again, with a new attempt number.
func TestKillWhileCustomerRings(t *testing.T) { e2etest.EachSwitch(t, testKillWhileCustomerRings) }

func testKillWhileCustomerRings(t *testing.T, sw string) {
	r := e2etest.NewRig(t, e2etest.RigOptions{Switch: sw, CustomerHold: 4 * time.Second})
	ctx := r.Ctx(2 * time.Minute)
	if err := r.Customer.Stop(); err != nil {
		t.Fatal(err)
	}
	p, err := e2etest.StartPhone(ctx, "customer", sipptest.UASOptions{Port: r.PBX.CustomerPort, Mode: sipptest.Answer,
		RingFor: 10 * time.Second, Hold: 4 * time.Second, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	r.Customer = p
	w := watchCustomerLegs(t, r.PBX)
	run := callIn(r)
	defer endCaller(t, run)
	if _, err := r.Customer.WaitCalls(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := r.Svc.Kill(); err != nil {
		t.Fatal(err)
	}
	t.Logf("killed while the customer's phone rang")
	restart(t, r)
	c := audit(t, r, w, 1, caller)
	calls := r.Customer.Calls()
	if len(calls) != 2 || calls[0].CallID == calls[1].CallID {
		t.Fatalf("customer INVITEs %+v, want two calls", calls)
	}
	cb := waitState(t, r, 1, "completed", time.Second)
	var custN []int
	for _, a := range *cb.Attempts {
		if a.Leg == "customer" {
			custN = append(custN, a.N)
		}
	}
	if len(custN) != 2 || custN[0] == custN[1] {
		t.Errorf("customer legs in attempts %v, want two distinct attempt numbers", custN)
	}
	ev := e2etest.Filter(r.Trace(), e2etest.Match{Call: "cb-1", Source: "callback", Kind: "interrupted"})
	if len(ev) != 1 || ev[0].Attrs["live_legs"] != "2" {
		t.Errorf("interrupted events %v, want one with both legs found alive", ev)
	}
	t.Logf("customer INVITEs %s and %s, %v apart", calls[0].CallID, calls[1].CallID, calls[1].At.Sub(calls[0].At).Round(time.Millisecond))
	c.log(t, "kill while the customer rings")
}
