package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/callflow/callflow/internal/e2etest"
	"github.com/callflow/callflow/internal/sipptest"
)

// Extensions of deploy/asterisk that hand calls over with
// AGI(agi://127.0.0.1:PORT/FLOW,ARGS) instead of Stasis().
const (
	extAGICallbackOnly = "301" // callback-only
	extAGIVoicemail    = "304" // voicemail, with the extension as argument
	extAGINameArg      = "309" // callback-only, with the caller's name as argument(s)
)

// waitLog waits until the service's log holds every one of parts on one line.
func waitLog(t *testing.T, r *e2etest.Rig, d time.Duration, parts ...string) string {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		for _, l := range strings.Split(r.Svc.Log(), "\n") {
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(l, p)
			}
			if ok {
				return l
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q within %v; log tail:\n%s", parts, d, r.Svc.LogTail(40))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// (a) over AGI: the whole callback-only experience runs on the FastAGI
// session (answer, prompt, reservation, number check, registration,
// hang-up); the callback dials the agent, then the customer with the ANI.
// The channel never enters Stasis.
func TestAGICallbackOnly(t *testing.T) {
	r := e2etest.NewRig(t, e2etest.RigOptions{CustomerHold: 2 * time.Second})
	const caller = "+420601111222"
	run := r.Call(sipptest.Caller{Extension: extAGICallbackOnly, From: caller, Events: []sipptest.Step{sipptest.ExpectBye()}})
	id := r.InboundCall(20*time.Second, 0)
	waitLog(t, r, 5*time.Second, "inbound agi call", id)

	reg := r.Event(20*time.Second, e2etest.Match{Call: id, Source: "queue", Kind: "registered"})
	if reg.Attrs["number"] != caller || reg.Attrs["ani"] != e2etest.DefaultANI {
		t.Errorf("registered %v, want number %s ani %s", reg, caller, e2etest.DefaultANI)
	}
	r.Event(5*time.Second, e2etest.Match{Call: id, Source: "flow", Kind: "validate_number", Attrs: map[string]string{"e164": caller, "type": "mobile"}})
	r.Event(10*time.Second, e2etest.Match{Call: id, Source: "flow", Kind: "hangup"})
	if res := r.Finish(run, 60*time.Second); res.HungUpBy != "remote" {
		t.Errorf("caller hung up by %q, want the flow's hangup (remote)", res.HungUpBy)
	}

	r.Event(60*time.Second, e2etest.Match{Call: "cb-1", Source: "callback", Kind: "completed"})
	calls := r.Customer.Calls()
	if len(calls) != 1 || calls[0].From != e2etest.DefaultANI || calls[0].To != caller {
		t.Errorf("customer phone got %+v, want one call From %s To %s", calls, e2etest.DefaultANI, caller)
	}
	agent := r.Agents[0].Calls()
	if len(agent) != 1 || agent[0].To != "agent1" || agent[0].From != e2etest.DefaultANI {
		t.Errorf("agent phone got %+v, want one call to agent1 from the ANI", agent)
	}
	if strings.Contains(r.Svc.Log(), "moved from agi to stasis") {
		t.Errorf("the callback-only call was moved to stasis; it needs no bridge")
	}
}

// (d) entering through AGI, queued through ARI: the answer runs on AGI,
// the queue notation moves the channel into Stasis, and the same flow run
// goes on there (holding bridge, in-queue flow with barge-in and a
// recording, callback registration) under the same call id.
func TestAGIVoicemailMovedToStasis(t *testing.T) {
	r := e2etest.NewRig(t, e2etest.RigOptions{
		AgentModes:   []sipptest.Mode{sipptest.Busy},
		CustomerHold: 2 * time.Second,
	})
	const caller = "+420601111222"
	run := r.Call(sipptest.Caller{Extension: extAGIVoicemail, From: caller, Events: []sipptest.Step{
		sipptest.Pause(8 * time.Second), sipptest.DTMF("1"),
		sipptest.Audio(6 * time.Second), sipptest.DTMF("#"),
		sipptest.ExpectBye(),
	}})
	id := r.InboundCall(20*time.Second, 0)
	waitLog(t, r, 5*time.Second, "inbound agi call", id)
	answer := r.Event(10*time.Second, e2etest.Match{Call: id, Source: "flow", Kind: "answer"})
	joined := r.Event(10*time.Second, e2etest.Match{Call: id, Source: "queue", Kind: "joined", Attrs: map[string]string{"position": "1"}})
	waitLog(t, r, time.Second, "moved from agi to stasis", id)
	if joined.At.Before(answer.At) {
		t.Errorf("joined %v before answer %v", joined, answer)
	}
	b, err := e2etest.WaitBridge(r.Ctx(10*time.Second), r.Ast, id, "holding")
	if err != nil {
		t.Fatalf("caller %s not in a holding bridge after the move: %v", id, err)
	}
	t.Logf("caller in bridge %s", b.ID)
	r.Event(20*time.Second, e2etest.Match{Call: id, Source: "queue", Kind: "reserved"})
	rec := r.Event(30*time.Second, e2etest.Match{Call: id, Source: "flow", Kind: "record"})
	if !strings.HasPrefix(rec.Attrs["recording"], "recording:") {
		t.Errorf("record event %v has no recording", rec)
	}
	reg := r.Event(10*time.Second, e2etest.Match{Call: id, Source: "queue", Kind: "registered"})
	if reg.Attrs["number"] != caller {
		t.Errorf("registered %v, want number %s", reg, caller)
	}
	r.Finish(run, 60*time.Second)
	if ids := e2etest.InboundCalls(r.Trace()); len(ids) != 1 {
		t.Errorf("trace has calls %v, want the one call %s from AGI through Stasis", ids, id)
	}
}

// A caller who hangs up while a prompt plays over AGI ends the flow: no
// callback, nothing left in the line, the service goes on serving.
func TestAGICallerHangsUpDuringAGI(t *testing.T) {
	r := e2etest.NewRig(t, e2etest.RigOptions{})
	run := r.Call(sipptest.Caller{Extension: extAGICallbackOnly, From: "+420601111222", Events: []sipptest.Step{
		sipptest.Pause(time.Second), sipptest.Hangup(),
	}})
	id := r.InboundCall(20*time.Second, 0)
	if res := r.Finish(run, 30*time.Second); res.HungUpBy != "local" {
		t.Errorf("hung up by %q, want the caller", res.HungUpBy)
	}
	waitLog(t, r, 10*time.Second, "call ended", id)
	if cbs, err := r.Svc.Callbacks(r.Ctx(5 * time.Second)); err != nil || len(cbs) != 0 {
		t.Errorf("callbacks %+v (%v), want none", cbs, err)
	}
	q, err := r.Svc.Queue(r.Ctx(5*time.Second), "support")
	if err != nil || len(q.Entries) != 0 {
		t.Errorf("queue %+v (%v), want empty", q, err)
	}
	for _, e := range r.Trace() {
		if e.Call == id && e.Kind == "start_callback" {
			t.Errorf("the flow went past the prompt the caller hung up on: %v", e)
		}
	}
	// The service still takes AGI calls.
	run = r.Call(sipptest.Caller{Extension: extAGICallbackOnly, From: "+420601111333", Events: []sipptest.Step{sipptest.ExpectBye()}})
	second := r.InboundCall(20*time.Second, 1)
	r.Event(20*time.Second, e2etest.Match{Call: second, Source: "queue", Kind: "registered"})
	r.Finish(run, 60*time.Second)
}

// Callers who hang up while their channel moves from AGI into Stasis (at
// once after the answer, which is all the voicemail flow does before its
// queue) leave no queue entry, no hand-over and no channel behind.
func TestAGICallerHangsUpDuringMove(t *testing.T) {
	r := e2etest.NewRig(t, e2etest.RigOptions{AgentModes: []sipptest.Mode{sipptest.Busy}})
	// The answer takes about half a second, then the move starts at once.
	pauses := []time.Duration{300 * time.Millisecond, 450 * time.Millisecond, 550 * time.Millisecond,
		650 * time.Millisecond, 800 * time.Millisecond, 1200 * time.Millisecond}
	for i, p := range pauses {
		run := r.Call(sipptest.Caller{Extension: extAGIVoicemail, From: fmt.Sprintf("+42060111122%d", i), Events: []sipptest.Step{
			sipptest.Pause(p), sipptest.Hangup(),
		}})
		r.Finish(run, 30*time.Second)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		q, err := r.Svc.Queue(r.Ctx(5*time.Second), "support")
		out, cerr := r.Ast.CLI(r.Ctx(5*time.Second), "core show channels count")
		idle := err == nil && len(q.Entries) == 0 && cerr == nil && strings.Contains(out, "0 active channels")
		if idle {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the hang-ups: queue %+v (%v), asterisk %q (%v)", q, err, out, cerr)
		}
		time.Sleep(200 * time.Millisecond)
	}
	ids := e2etest.InboundCalls(r.Trace())
	log := r.Svc.Log()
	moving := strings.Count(log, "moving from agi to stasis")
	t.Logf("%d of %d callers reached a flow, %d a move, %d were moved: %v", len(ids), len(pauses), moving,
		strings.Count(log, "moved from agi to stasis"), ids)
	if moving == 0 {
		t.Errorf("no caller hung up late enough to reach the move")
	}
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "panic") || strings.Contains(l, "hand-over from agi refused") {
			t.Errorf("service log: %s", l)
		}
	}
}

// Hostile caller ID in the AGI environment: a display name with quotes, a
// backslash and text shaped like AGI replies, passed on as AGI() arguments
// too (309), and a number of shell and dialplan characters. The flow sees
// them as plain data: the name does not become a flow or a command, the
// number is refused by the number check and no callback is registered.
func TestAGIHostileCallerID(t *testing.T) {
	r := e2etest.NewRig(t, e2etest.RigOptions{})
	const name = `x" \ HANGUP 200 result=1, agi_arg_1: voicemail`
	run := r.Call(sipptest.Caller{Extension: extAGINameArg, From: "*1'$(id)!", FromName: name, Events: []sipptest.Step{sipptest.ExpectBye()}})
	id := r.InboundCall(20*time.Second, 0)
	start := waitLog(t, r, 5*time.Second, "inbound agi call", id)
	t.Logf("%s", start)
	if !strings.Contains(start, `callback-only`) {
		t.Errorf("the call did not start callback-only: %s", start)
	}
	r.Event(10*time.Second, e2etest.Match{Call: id, Source: "flow", Kind: "validate_number", Text: "invalid"})
	r.Finish(run, 90*time.Second)
	if cbs, err := r.Svc.Callbacks(r.Ctx(5 * time.Second)); err != nil || len(cbs) != 0 {
		t.Errorf("callbacks %+v (%v), want none", cbs, err)
	}
	for _, e := range r.Trace() {
		if e.Call == id && e.Source == "queue" && e.Kind == "joined" {
			t.Errorf("the hostile name led into the voicemail flow: %v", e)
		}
	}
}
