package connloss

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/callflow/callflow/internal/e2etest"
	"github.com/callflow/callflow/internal/sipptest"
	"github.com/callflow/callflow/internal/tcpproxy"
)

const extMenu = "503" // a menu waiting for 1

// A caller in a menu presses 1 during the cut and again after the
// restore. On Asterisk the first press is lost with the connection (the
// digit's event is not kept for an application without a websocket) and
// the menu takes the second; on FreeSWITCH the caller's digits come over
// the caller's own socket session, which is not cut, and the menu takes
// the first. Either way the caller is not hung up.
func TestDigitsDuringCut(t *testing.T) { e2etest.EachSwitch(t, testDigitsDuringCut) }

func testDigitsDuringCut(t *testing.T, sw string) {
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
			FlowsDir: flows, DefaultFlow: "menu", ByDialed: map[string]string{extMenu: "menu"},
			ControlVia: func(addr string) (string, error) {
				p, err := tcpproxy.Start(addr, t.Logf)
				proxy = p
				if err != nil {
					return "", err
				}
				return p.Addr(), nil
			},
		},
	})
	// The first press 4 s after the answer falls into the cut (1 s to
	// 6 s); the second, 14 s after, well after the reconnect.
	run := r.Call(sipptest.Caller{Extension: extMenu, From: "+420601910001", Events: []sipptest.Step{
		sipptest.Pause(4 * time.Second), sipptest.DTMF("1"),
		sipptest.Pause(10 * time.Second), sipptest.DTMF("1"),
		sipptest.Pause(6 * time.Second), sipptest.Hangup(),
	}})
	id := r.InboundCall(20*time.Second, 0)
	answer := r.Event(10*time.Second, e2etest.Match{Call: id, Source: "flow", Kind: "answer"})
	time.Sleep(time.Until(answer.At.Add(time.Second)))
	cutAt := time.Now()
	proxy.Cut()
	time.Sleep(time.Until(cutAt.Add(cutFor)))
	proxy.Restore()
	restoredAt := time.Now()

	menu := r.Event(30*time.Second, e2etest.Match{Call: id, Source: "flow", Kind: "menu", Text: "option_1"})
	heard := "the press during the cut"
	if menu.At.After(restoredAt) {
		heard = "the press after the restore"
	}
	t.Logf("CONNLOSS digits (%s): the menu took %s (%v after the restore)", sw, heard, menu.At.Sub(restoredAt).Round(time.Millisecond))
	switch sw {
	case e2etest.FreeSWITCH:
		if menu.At.After(restoredAt) {
			t.Errorf("the menu took the digit at %v, after the restore (%v): the press during the cut was lost", menu.At, restoredAt)
		}
	default:
		if menu.At.Before(restoredAt) {
			t.Errorf("the menu took the digit at %v, before the restore (%v): the press during the cut reached callflow", menu.At, restoredAt)
		}
	}
	logLines(t, r.Svc.Log(), "websocket down", "resynced", "reconnected", "re-synced", "retrying", "while the connection was down",
		"while the event socket was down", "after reconnect", "originate failed")
	res := r.Finish(run, 40*time.Second)
	if res.HungUpBy != "local" {
		t.Errorf("caller ended by %q, want local", res.HungUpBy)
	}
}
