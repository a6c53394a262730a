package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/callflow/callflow/internal/e2etest"
	"github.com/callflow/callflow/internal/sipptest"
)

// (c) Country-specific number validation: a premium-rate number typed by
// the caller is refused, a Slovak mobile accepted and called back with the
// queue's ANI; the premium number is never dialled.
func TestNumberPolicy(t *testing.T) { e2etest.EachSwitch(t, testNumberPolicy) }

func testNumberPolicy(t *testing.T, sw string) {
	r := e2etest.NewRig(t, e2etest.RigOptions{Switch: sw, CustomerHold: 2 * time.Second})
	const caller, premium, valid = "+420601111222", "900123456", "+421905123456"
	run := r.Call(sipptest.Caller{Extension: e2etest.ExtNumberPolicy, From: caller, Events: []sipptest.Step{
		// Each number is typed after its gather prompt (2 s) has ended, the
		// second after the refusal (2.7 s) too: no barge-in, whose stopped
		// playback made Asterisk report keys twice under load.
		sipptest.Pause(3 * time.Second), sipptest.DTMF(premium + "#"),
		sipptest.Pause(6 * time.Second), sipptest.DTMF("00421905123456#"),
		sipptest.ExpectBye(),
	}})
	id := r.InboundCall(20*time.Second, 0)
	bad := r.Event(20*time.Second, e2etest.Match{Call: id, Source: "flow", Kind: "validate_number", Text: "invalid"})
	if bad.Attrs["number"] != premium || bad.Attrs["reason"] != "type" {
		t.Errorf("refusal %v, want number=%s reason=type", bad, premium)
	}
	r.Event(10*time.Second, e2etest.Match{Call: id, Source: "flow", Kind: "play", Text: "refused", After: e2etest.After(bad.Index)})
	good := r.Event(20*time.Second, e2etest.Match{Call: id, Source: "flow", Kind: "validate_number", Text: "valid",
		Attrs: map[string]string{"e164": valid, "type": "mobile"}})
	if good.Index < bad.Index {
		t.Errorf("valid number %v before the refusal %v", good, bad)
	}
	reg := r.Event(5*time.Second, e2etest.Match{Call: id, Source: "queue", Kind: "registered"})
	if reg.Attrs["number"] != valid || reg.Attrs["ani"] != e2etest.DefaultANI {
		t.Errorf("registered %v, want number %s ani %s", reg, valid, e2etest.DefaultANI)
	}
	r.Event(60*time.Second, e2etest.Match{Call: "cb-1", Source: "callback", Kind: "completed"})
	r.Finish(run, 60*time.Second)

	cust := r.Customer.Calls()
	if len(cust) != 1 || cust[0].From != e2etest.DefaultANI || cust[0].To != valid {
		t.Errorf("customer phone got %+v, want one call From %s To %s", cust, e2etest.DefaultANI, valid)
	}
	for _, c := range cust {
		if strings.Contains(c.To, premium) {
			t.Errorf("the premium-rate number was dialled: %+v", c)
		}
	}
	for _, e := range r.Trace() {
		if e.Source == "callback" && strings.Contains(e.Text, premium) {
			t.Errorf("callback event for the premium-rate number: %v", e)
		}
	}
}
