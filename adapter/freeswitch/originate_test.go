package freeswitch

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/esl/esltest"
)

var bgapiRx = regexp.MustCompile(`^bgapi originate \{(?:\^\^.)?origination_uuid=([0-9a-f-]+)`)

// originateIDs returns the channel uuid and Job-UUID of the (only)
// originate sent.
func originateIDs(t *testing.T, e *env) (uuid, job string) {
	t.Helper()
	for _, c := range e.srv.Received() {
		if m := bgapiRx.FindStringSubmatch(c.Line); m != nil {
			return m[1], c.Headers.Get("Job-UUID")
		}
	}
	t.Fatalf("no originate sent:\n%q", e.sent())
	return "", ""
}

func TestOriginate(t *testing.T) {
	const ep = "sofia/gateway/gw/+420222333444"
	cases := []struct {
		name    string
		fate    *esltest.Fate // nil: endpoint not scripted
		want    error
		cleanup bool // the failure hangs up a channel that existed
	}{
		{"answer", &esltest.Fate{Outcome: esltest.Answer, After: time.Second}, nil, false},
		{"busy", &esltest.Fate{Outcome: esltest.Busy}, adapter.ErrBusy, true},
		{"no answer", &esltest.Fate{Outcome: esltest.NoAnswer}, adapter.ErrNoAnswer, true},
		{"rejected", &esltest.Fate{Outcome: esltest.Fail, Cause: "CALL_REJECTED"}, adapter.ErrFailed, true},
		{"unknown technology", nil, adapter.ErrFailed, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := start(t, nil)
			if tc.fate != nil {
				e.srv.Script(ep, *tc.fate)
			}
			c, err := e.sw.Originate(e.ctx, adapter.OriginateRequest{Endpoint: ep, CallerID: "+420111222333",
				CallerName: "Callflow Queue", Timeout: 5 * time.Second, Tag: "customer"})
			if !errors.Is(err, tc.want) && (tc.want != nil || err != nil) {
				t.Fatalf("originate: %v, want %v", err, tc.want)
			}
			uuid, job := originateIDs(t, e)
			want := []string{
				"filter Unique-ID " + uuid,
				"filter Job-UUID " + job,
				"bgapi originate {origination_uuid=" + uuid + ",origination_caller_id_number=+420111222333," +
					"origination_caller_id_name='Callflow Queue',originate_timeout=6,ignore_early_media=true," +
					"hangup_after_bridge=false,park_after_bridge=true}" + ep + " &park()|Job-UUID: ID",
				"filter delete Job-UUID " + job,
			}
			if tc.want != nil {
				if c != nil {
					t.Errorf("call %v returned with error", c)
				}
				e.waitSent(t, "^filter delete Unique-ID "+uuid+"$")
				// The job's filter and the channel's go in either order.
				got := e.after(t, `^filter Unique-ID callflow-idle`)
				if len(got) == 5 {
					slices.Sort(got[3:])
				}
				equalLines(t, got, append(want[:3], "filter delete Job-UUID "+job, "filter delete Unique-ID "+uuid))
				return
			}
			if c.ID() != uuid || c.Info().Direction != adapter.Outbound || c.Info().Endpoint != ep || c.Info().CallerNumber != "+420111222333" {
				t.Errorf("call %s info %+v", c.ID(), c.Info())
			}
			if ch, _ := e.srv.Channel(uuid); ch.Vars["origination_caller_id_number"] != "+420111222333" || !ch.Answered {
				t.Errorf("channel %+v", ch)
			}
			// Operations on an originated leg go through the inbound connection.
			if _, err := c.Play(e.ctx, []adapter.Prompt{"sound:whisper"}, adapter.PlayOptions{}); err != nil {
				t.Errorf("play: %v", err)
			}
			if err := c.Hangup(e.ctx, adapter.CauseNormal); err != nil {
				t.Errorf("hangup: %v", err)
			}
			if c.Cause() != adapter.CauseNormal {
				t.Errorf("cause %v", c.Cause())
			}
			e.waitSent(t, "^filter delete Unique-ID "+uuid+"$")
			equalLines(t, e.after(t, `^filter Unique-ID callflow-idle`), append(want,
				"api uuid_setvar "+uuid+" playback_terminators none",
				"sendmsg "+uuid+"|call-command: execute|execute-app-name: playback|execute-app-arg: whisper.wav|event-lock: true|Event-UUID: ID",
				"api uuid_kill "+uuid+" NORMAL_CLEARING",
				"filter delete Unique-ID "+uuid))
		})
	}
}

// TestOriginateCancel: a cancelled originate kills the ringing channel.
func TestOriginateCancel(t *testing.T) {
	e := start(t, nil)
	e.srv.Script("user/agent1", esltest.Fate{Outcome: esltest.Ring})
	ctx, cancel := context.WithCancel(e.ctx)
	errc := make(chan error, 1)
	go func() { // ends when Originate returns
		_, err := e.sw.Originate(ctx, adapter.OriginateRequest{Endpoint: "user/agent1", Timeout: time.Minute})
		errc <- err
	}()
	e.waitSent(t, `^bgapi originate`)
	cancel()
	if err := await(t, e, errc); !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
	uuid, _ := originateIDs(t, e)
	e.waitSent(t, "^api uuid_kill "+uuid+" ORIGINATOR_CANCEL$")
	if ch, _ := e.srv.Channel(uuid); !ch.HungUp {
		t.Errorf("channel still up: %+v", ch)
	}
}

// TestOriginatedCallHungUpByFarEnd: the far end's hang-up ends pending
// operations and is reported as the cause.
func TestOriginatedCallHungUpByFarEnd(t *testing.T) {
	e := start(t, nil, withPlayback(time.Hour))
	e.srv.Script("user/agent1", esltest.Fate{Outcome: esltest.Answer})
	c, err := e.sw.Originate(e.ctx, adapter.OriginateRequest{Endpoint: "user/agent1"})
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { // ends when Play returns
		_, err := c.Play(e.ctx, []adapter.Prompt{"sound:long"}, adapter.PlayOptions{})
		errc <- err
	}()
	e.waitSent(t, `execute-app-arg: long.wav`)
	e.srv.Hangup(c.ID(), "USER_BUSY")
	if err := await(t, e, errc); !errors.Is(err, adapter.ErrHangup) {
		t.Errorf("play error %v, want ErrHangup", err)
	}
	if c.Cause() != adapter.CauseBusy {
		t.Errorf("cause %v, want busy", c.Cause())
	}
	if err := c.Hangup(e.ctx, adapter.CauseNormal); err != nil {
		t.Errorf("hangup of a gone call: %v", err)
	}
}
