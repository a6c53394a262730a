package sipptest_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/callflow/callflow/internal/asterisktest"
	"github.com/callflow/callflow/internal/sipptest"
)

func TestCallerReachesStasisWithDTMF(t *testing.T) {
	a := asterisktest.Require(t)
	evs := events(t, a)
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	caller := sipptest.Caller{
		Extension: "200",
		From:      "+420777888999",
		// "11" proves that equal keys arrive as two presses.
		Events: []sipptest.Step{sipptest.Audio(500 * time.Millisecond), sipptest.DTMF("11#"), sipptest.Pause(200 * time.Millisecond), sipptest.ExpectBye()},
	}
	type outcome struct {
		res sipptest.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := sipptest.RunCaller(ctx, caller, a.SIPPort)
		done <- outcome{res, err}
	}()

	start := waitEvent(t, evs, "StasisStart", 20*time.Second)
	if len(start.Args) != 1 || start.Args[0] != "200" {
		t.Errorf("StasisStart args %v, want [200]", start.Args)
	}
	if start.Channel.Caller.Number != "+420777888999" {
		t.Errorf("caller number %q, want +420777888999", start.Channel.Caller.Number)
	}
	ari(t, a, http.MethodPost, "/channels/"+start.Channel.ID+"/answer", nil)
	var digits string
	for len(digits) < 3 {
		ev := waitEvent(t, evs, "ChannelDtmfReceived", 15*time.Second)
		digits += ev.Digit
	}
	if digits != "11#" {
		t.Errorf("DTMF received %q, want %q", digits, "11#")
	}
	ari(t, a, http.MethodDelete, "/channels/"+start.Channel.ID, nil)

	out := <-done
	defer out.res.Cleanup()
	if out.err != nil {
		t.Fatalf("caller: %v\n%s\n%s", out.err, out.res.Errors, out.res.Messages)
	}
	if out.res.ExitCode != 0 || out.res.HungUpBy != "remote" {
		t.Errorf("sipp exit %d, hung up by %q; want 0, remote", out.res.ExitCode, out.res.HungUpBy)
	}
	t.Logf("call with 3 DTMF keys took %v (sipp %v)", time.Since(t0).Round(time.Millisecond), out.res.Duration.Round(time.Millisecond))
}

func TestOriginateCustomerSeesANI(t *testing.T) {
	a := asterisktest.Require(t)
	evs := events(t, a)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	uas, err := sipptest.StartUAS(ctx, sipptest.UASOptions{Port: a.CustomerPort, Mode: sipptest.Answer, Hold: 500 * time.Millisecond, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer uas.Stop()

	id := originate(t, a, "PJSIP/+420601111222@customer", "+420222333444", 10)
	calls, err := uas.WaitCalls(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := sipptest.UASCall{From: "+420222333444", To: "+420601111222", CallID: calls[0].CallID}
	if calls[0] != want || calls[0].CallID == "" {
		t.Errorf("customer got %+v, want %+v", calls[0], want)
	}
	if ev := waitEvent(t, evs, "StasisStart", 10*time.Second); ev.Channel.ID != id {
		t.Errorf("StasisStart for %s, want %s", ev.Channel.ID, id)
	}
	// The UAS hangs up after Hold.
	if ev := waitEvent(t, evs, "ChannelDestroyed", 10*time.Second); ev.Channel.ID != id || ev.Cause != 16 {
		t.Errorf("ChannelDestroyed %s cause %d, want %s cause 16\n%s", ev.Channel.ID, ev.Cause, id, uas.Messages())
	}
	if err := waitMessage(ctx, uas, "CALLFLOW-END callid="+calls[0].CallID+" by=local"); err != nil {
		t.Errorf("%v\n%s", err, uas.Log())
	}
}

func TestAgentOutcomes(t *testing.T) {
	a := asterisktest.Require(t)
	tests := []struct {
		name      string
		mode      sipptest.Mode
		agent     int
		wantCause int
		wantMsg   string
	}{
		{name: "busy", mode: sipptest.Busy, agent: 1, wantCause: 17, wantMsg: "486 Busy Here"},
		{name: "no answer", mode: sipptest.NoAnswer, agent: 2, wantCause: 19, wantMsg: "487 Request Terminated"},
		{name: "answer then asterisk hangs up", mode: sipptest.Answer, agent: 3, wantCause: 16, wantMsg: "CALLFLOW-END"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			evs := events(t, a)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			uas, err := sipptest.StartUAS(ctx, sipptest.UASOptions{Port: a.AgentPorts[tc.agent-1], Mode: tc.mode, Logf: t.Logf})
			if err != nil {
				t.Fatal(err)
			}
			defer uas.Stop()
			agent := "agent" + string(rune('0'+tc.agent))
			id := originate(t, a, "PJSIP/"+agent, "100", 2)
			calls, err := uas.WaitCalls(ctx, 1)
			if err != nil {
				t.Fatal(err)
			}
			if calls[0].To != agent || calls[0].From != "100" {
				t.Errorf("agent got %+v, want From 100 To %s", calls[0], agent)
			}
			if tc.mode == sipptest.Answer {
				waitEvent(t, evs, "StasisStart", 10*time.Second)
				ari(t, a, http.MethodDelete, "/channels/"+id, nil)
			}
			ev := waitEvent(t, evs, "ChannelDestroyed", 10*time.Second)
			if ev.Channel.ID != id || ev.Cause != tc.wantCause {
				t.Errorf("ChannelDestroyed %s cause %d, want %s cause %d", ev.Channel.ID, ev.Cause, id, tc.wantCause)
			}
			if err := waitMessage(ctx, uas, tc.wantMsg); err != nil {
				t.Errorf("%v\n%s", err, uas.Messages())
			}
		})
	}
}

// waitMessage waits until the UAS's message or call log shows s.
func waitMessage(ctx context.Context, uas *sipptest.UAS, s string) error {
	for {
		if containsAny(uas.Messages(), s) || containsAny(uas.Log(), s) {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.New("uas never showed " + s)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func containsAny(hay, needle string) bool { return strings.Contains(hay, needle) }
