package examples_test

import (
	"strings"
	"testing"

	"github.com/callflow/callflow/trace"
)

// ANI is the caller ID examples/config/sim.yaml presents on callbacks.
const ANI = "+420222333444"

// match selects trace events; empty fields match anything.
type match struct {
	call, source, kind, text string
	attrs                    map[string]string
}

func (m match) ok(e trace.Event) bool {
	if m.call != "" && e.Call != m.call || m.source != "" && e.Source != m.source || m.kind != "" && e.Kind != m.kind {
		return false
	}
	if m.text != "" && !strings.Contains(e.Text, m.text) {
		return false
	}
	for k, v := range m.attrs {
		if e.Attrs[k] != v {
			return false
		}
	}
	return true
}

// index is the position of the first event after from matching m, or -1.
func index(ev []trace.Event, from int, m match) int {
	for i := from; i < len(ev); i++ {
		if m.ok(ev[i]) {
			return i
		}
	}
	return -1
}

// mustOrder fails unless the matches occur in this order.
func mustOrder(t *testing.T, ev []trace.Event, ms ...match) {
	t.Helper()
	at := 0
	for _, m := range ms {
		i := index(ev, at, m)
		if i < 0 {
			t.Fatalf("no event %+v after event %d", m, at)
		}
		at = i + 1
	}
}

func count(ev []trace.Event, m match) int {
	n := 0
	for _, e := range ev {
		if m.ok(e) {
			n++
		}
	}
	return n
}

var experiences = []experience{
	{name: "callback-only", flow: "callback-only", scenario: "callback-only", check: func(t *testing.T, ev []trace.Event) {
		// The anonymous caller's number fails validation and is asked for.
		mustOrder(t, ev,
			match{call: "caller-2", kind: "validate_number", attrs: map[string]string{"reason": "unparsable"}},
			match{call: "caller-2", kind: "validate_number", attrs: map[string]string{"e164": "+420602333444"}},
			match{call: "caller-2", kind: "register_callback", attrs: map[string]string{"outcome": "registered"}})
		// Callbacks are served in line order; each customer sees the ANI.
		mustOrder(t, ev,
			match{call: "cb-1", kind: "dialing_customer", attrs: map[string]string{"ani": ANI, "endpoint": "PJSIP/+420601111222@customer"}},
			match{call: "cb-2", kind: "dialing_customer", attrs: map[string]string{"ani": ANI, "endpoint": "PJSIP/+420602333444@customer"}})
		if n := count(ev, match{source: trace.Callback, kind: "completed"}); n != 2 {
			t.Fatalf("%d callbacks completed, want 2", n)
		}
	}},
	{name: "ivr-offer", flow: "ivr-offer", scenario: "ivr-offer", check: func(t *testing.T, ev []trace.Event) {
		// caller-1 takes the callback in the IVR, never entering the queue.
		mustOrder(t, ev,
			match{call: "caller-1", kind: "menu", attrs: map[string]string{"digits": "1"}},
			match{call: "caller-1", source: trace.Queue, kind: "reserved", text: "in the IVR"},
			match{call: "caller-1", source: trace.Queue, kind: "registered"})
		if i := index(ev, 0, match{call: "caller-1", source: trace.Queue, kind: "joined"}); i >= 0 {
			t.Fatalf("caller-1 entered the queue: %+v", ev[i])
		}
		// The busy customer is retried and reached on the second attempt.
		mustOrder(t, ev,
			match{call: "cb-1", kind: "customer_busy"},
			match{call: "cb-1", kind: "retry_wait"},
			match{call: "cb-1", kind: "dialing_customer", attrs: map[string]string{"attempt": "2", "ani": ANI}},
			match{call: "cb-1", kind: "completed"})
		// caller-2 waits in line and talks to an agent.
		mustOrder(t, ev,
			match{call: "caller-2", source: trace.Queue, kind: "joined"},
			match{call: "caller-2", source: trace.Queue, kind: "connected"},
			match{call: "caller-2", kind: "queue", attrs: map[string]string{"outcome": "connected"}})
	}},
	{name: "number-policy", flow: "number-policy", scenario: "number-policy", check: func(t *testing.T, ev []trace.Event) {
		mustOrder(t, ev,
			match{call: "caller-1", kind: "validate_number", attrs: map[string]string{"number": "900123456", "reason": "type"}},
			match{call: "caller-1", kind: "validate_number", attrs: map[string]string{"e164": "+421905123456", "type": "mobile"}},
			match{call: "caller-1", source: trace.Queue, kind: "registered", attrs: map[string]string{"number": "+421905123456"}},
			match{call: "cb-1", kind: "dialing_customer", attrs: map[string]string{"ani": ANI, "endpoint": "PJSIP/+421905123456@customer"}})
		if i := index(ev, 0, match{kind: "originate", text: "+420900"}); i >= 0 {
			t.Fatalf("a premium-rate number was dialled: %+v", ev[i])
		}
	}},
	{name: "voicemail", flow: "voicemail", scenario: "voicemail", check: func(t *testing.T, ev []trace.Event) {
		// The recording is made, registered as media, played to the agent,
		// and only then is the customer dialled with the ANI.
		rec := index(ev, 0, match{call: "caller-1", source: trace.Flow, kind: "record"})
		if rec < 0 || ev[rec].Attrs["recording"] == "" || ev[rec].Attrs["duration"] == "0" {
			t.Fatalf("no non-empty recording in the trace")
		}
		uri := ev[rec].Attrs["recording"]
		mustOrder(t, ev,
			match{call: "caller-1", source: trace.Queue, kind: "registered"},
			match{call: "cb-1", kind: "agent_answered"},
			match{source: trace.Switch, kind: "play", text: uri},
			match{call: "cb-1", kind: "dialing_customer", attrs: map[string]string{"ani": ANI}},
			match{call: "cb-1", kind: "completed"})
	}},
	{name: "decline", flow: "decline", scenario: "decline", check: func(t *testing.T, ev []trace.Event) {
		// caller-1 reserves, declines, and is back at place 1 ahead of
		// caller-2, who joined later; caller-1 is connected first.
		mustOrder(t, ev,
			match{call: "caller-1", source: trace.Queue, kind: "reserved", attrs: map[string]string{"position": "1"}},
			match{call: "caller-1", source: trace.Queue, kind: "declined", attrs: map[string]string{"position": "1"}},
			match{call: "caller-2", source: trace.Queue, kind: "joined", attrs: map[string]string{"position": "2"}},
			match{call: "caller-1", source: trace.Queue, kind: "connected"},
			match{call: "caller-2", source: trace.Queue, kind: "connected"})
		if n := count(ev, match{source: trace.Queue, kind: "abandoned"}); n != 0 {
			t.Fatalf("%d abandons, want none", n)
		}
	}},
	{name: "decline-hangup", flow: "decline", scenario: "decline-hangup", check: func(t *testing.T, ev []trace.Event) {
		// Hanging up while reserved is an abandon; caller-2 is first then.
		mustOrder(t, ev,
			match{call: "caller-1", source: trace.Queue, kind: "reserved"},
			match{call: "caller-1", source: trace.Queue, kind: "abandoned", text: "reserved"},
			match{call: "caller-2", source: trace.Queue, kind: "joined", attrs: map[string]string{"position": "1"}},
			match{call: "caller-2", source: trace.Queue, kind: "connected"})
		if n := count(ev, match{source: trace.Queue, kind: "registered"}); n != 0 {
			t.Fatalf("%d callbacks registered, want none", n)
		}
	}},
	{name: "other-notations", dir: "testdata/notations", flow: "main", scenario: "scenario", check: func(t *testing.T, ev []trace.Event) {
		// The notations the five experiences do not use run on the
		// simulated switch: call/return twice through goto, announce_wait
		// with an estimate, and dial through busy, no answer and answered.
		if n := count(ev, match{source: trace.Flow, kind: "return"}); n != 2 {
			t.Fatalf("%d returns from the sub-flow, want 2", n)
		}
		mustOrder(t, ev,
			match{kind: "goto"},
			match{source: trace.Switch, kind: "play", text: "sound:queue-holdtime number:2 sound:queue-minutes"},
			match{source: trace.Flow, kind: "dial", text: "→ busy"},
			match{source: trace.Flow, kind: "dial", text: "→ no_answer"},
			match{source: trace.Flow, kind: "dial", text: "→ answered"},
			match{source: trace.Flow, kind: "log", attrs: map[string]string{"message": "talked to an agent after 2 greetings"}})
		if i := index(ev, 0, match{source: trace.Switch, kind: "originate", attrs: map[string]string{"ani": "+420222333444"}}); i < 0 || ev[i].Text != "PJSIP/agent2" {
			t.Fatalf("dial did not present its caller_id to agent2")
		}
	}},
}
