package connloss

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/callflow/callflow/internal/e2etest"
	"github.com/callflow/callflow/internal/sipptest"
	"github.com/callflow/callflow/internal/tcpproxy"
)

// ringFor is how long the agent's phone rings before it answers: the
// answer falls into the cut.
const ringFor = 2 * time.Second

// An agent is ringing when the control connection is cut and answers
// during the gap, so the answer's event (Asterisk's StasisStart,
// FreeSWITCH's BACKGROUND_JOB) is lost. After the reconnect the driver
// looks the agent's channel up instead of waiting out the ring timeout:
// on FreeSWITCH the answered leg is parked and the caller is connected to
// it; on Asterisk the answered leg cannot enter the Stasis application
// while no websocket is connected, so Asterisk hangs it up and the offer
// fails at the reconnect. Either way the caller, who keeps waiting, is
// connected to the agent soon after the restore, and nobody hangs the
// caller up.
func TestAgentAnswersDuringCut(t *testing.T) { e2etest.EachSwitch(t, testAgentAnswersDuringCut) }

func testAgentAnswersDuringCut(t *testing.T, sw string) {
	flows, err := filepath.Abs("testdata/flows")
	if err != nil {
		t.Fatal(err)
	}
	var proxy *tcpproxy.Proxy
	t.Cleanup(func() {
		if proxy != nil {
			proxy.Close()
		}
	})
	r := e2etest.NewRig(t, e2etest.RigOptions{
		Switch: sw,
		Service: e2etest.Options{
			FlowsDir: flows, DefaultFlow: "wait", ByDialed: map[string]string{extWait: "wait"},
			AgentRetry: 2 * time.Second,
			ControlVia: func(addr string) (string, error) {
				p, err := tcpproxy.Start(addr, t.Logf)
				proxy = p
				if err != nil {
					return "", err
				}
				return p.Addr(), nil
			},
		},
		// The agent stays on the line well past the reconnect (a shorter
		// hold would end the parked leg inside the gap).
		AgentModes: []sipptest.Mode{sipptest.Answer}, AgentRingFor: ringFor, AgentHold: 20 * time.Second,
	})
	run := r.Call(sipptest.Caller{Extension: extWait, From: "+420601900001", Events: []sipptest.Step{sipptest.Pause(45 * time.Second), sipptest.Hangup()}})
	id := r.InboundCall(20*time.Second, 0)
	offer := r.Event(20*time.Second, e2etest.Match{Call: id, Source: "queue", Kind: "agent_offered"})
	cutAt := time.Now()
	proxy.Cut()
	t.Logf("cut %v after the agent was offered", cutAt.Sub(offer.At).Round(time.Millisecond))
	time.Sleep(time.Until(cutAt.Add(cutFor)))
	proxy.Restore()
	restoredAt := time.Now()

	conn := r.Event(40*time.Second, e2etest.Match{Call: id, Source: "queue", Kind: "connected"})
	fails := e2etest.Filter(r.Trace(), e2etest.Match{Call: id, Source: "queue", Kind: "agent_no_answer"})
	invites := len(r.Agents[0].Calls())
	t.Logf("CONNLOSS agent answering in the gap (%s): connected %v after the restore, %d failed offers, %d INVITEs to the agent",
		sw, conn.At.Sub(restoredAt).Round(time.Millisecond), len(fails), invites)
	switch sw {
	case e2etest.FreeSWITCH:
		// The parked, answered leg is taken at the reconnect.
		if len(fails) != 0 || invites != 1 {
			t.Errorf("%d failed offers and %d INVITEs, want the first offer connected", len(fails), invites)
		}
	default:
		// The first offer fails at the reconnect, not after its ring
		// timeout and the driver's margin (10 s + 15 s).
		if len(fails) == 0 {
			t.Errorf("no failed offer: the answer in the gap reached callflow")
		} else if d := fails[0].At.Sub(restoredAt); d > 8*time.Second {
			t.Errorf("the offer answered in the gap failed %v after the restore, want at the reconnect", d)
		}
	}
	if d := conn.At.Sub(restoredAt); d > 15*time.Second {
		t.Errorf("caller connected %v after the restore", d)
	}
	logLines(t, r.Svc.Log(), "websocket down", "resynced", "reconnected", "re-synced", "retrying", "while the connection was down",
		"while the event socket was down", "after reconnect", "originate failed")
	res := r.Finish(run, 60*time.Second)
	if res.HungUpBy != "local" {
		t.Errorf("caller ended by %q, want local", res.HungUpBy)
	}
}
