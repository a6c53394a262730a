package freeswitch

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/esl"
	"github.com/callflow/callflow/esl/esltest"
)

// TestInjectionOriginate feeds hostile caller names, numbers and endpoints
// through Originate and asserts the exact bytes FreeSWITCH receives (or
// that nothing is sent at all).
func TestInjectionOriginate(t *testing.T) {
	const ep = "sofia/gateway/gw/+420222333444"
	cases := []struct {
		name     string
		req      adapter.OriginateRequest
		wantVars string // the variable block sent; "" = refused, nothing sent
	}{
		{"name with comma, braces, quotes, ampersand, carets, newline",
			adapter.OriginateRequest{Endpoint: ep, CallerID: "+420111222333", CallerName: "Doe, John {x} 'a' \"b\" &park()\n^^;"},
			"{^^:origination_uuid=U:origination_caller_id_number=+420111222333:origination_caller_id_name='Doe, John x a b &park()^^;':" +
				"originate_timeout=31:ignore_early_media=true:hangup_after_bridge=false:park_after_bridge=true}"},
		{"name starting with carets",
			adapter.OriginateRequest{Endpoint: ep, CallerName: "^^,evil=1"},
			"{^^;origination_uuid=U;origination_caller_id_name=,evil=1;originate_timeout=31;ignore_early_media=true;hangup_after_bridge=false;park_after_bridge=true}"},
		{"name of control characters only",
			adapter.OriginateRequest{Endpoint: ep, CallerName: "\r\n\t"},
			"{origination_uuid=U,originate_timeout=31,ignore_early_media=true,hangup_after_bridge=false,park_after_bridge=true}"},
		{"number of letters and dots, as Asterisk takes it",
			adapter.OriginateRequest{Endpoint: ep, CallerID: "anonymous.1_x-2*#"},
			"{origination_uuid=U,origination_caller_id_number=anonymous.1_x-2*#,originate_timeout=31,ignore_early_media=true,hangup_after_bridge=false,park_after_bridge=true}"},
		{"number with a space", adapter.OriginateRequest{Endpoint: ep, CallerID: "+420 111"}, ""},
		{"number with a colon", adapter.OriginateRequest{Endpoint: ep, CallerID: "1:2"}, ""},
		{"number too long", adapter.OriginateRequest{Endpoint: ep, CallerID: strings.Repeat("1", 65)}, ""},
		{"number with a newline", adapter.OriginateRequest{Endpoint: ep, CallerID: "+420\napi shutdown"}, ""},
		{"number with a variable", adapter.OriginateRequest{Endpoint: ep, CallerID: "1,origination_uuid=x"}, ""},
		{"endpoint with a second app", adapter.OriginateRequest{Endpoint: "user/1001 &bridge(user/1002)"}, ""},
		{"endpoint with a newline", adapter.OriginateRequest{Endpoint: "user/1001\n\napi shutdown"}, ""},
		{"endpoint with a variable block", adapter.OriginateRequest{Endpoint: "{absolute_codec_string=PCMU}user/1001"}, ""},
		{"endpoint with a comma", adapter.OriginateRequest{Endpoint: "user/1001,user/1002"}, ""},
		{"endpoint with a failover", adapter.OriginateRequest{Endpoint: "user/1001|user/1002"}, ""},
		{"endpoint with a quote", adapter.OriginateRequest{Endpoint: "user/1001'"}, ""},
		{"endpoint with carets", adapter.OriginateRequest{Endpoint: "^^;user/1001"}, ""},
		{"number with an ampersand", adapter.OriginateRequest{Endpoint: ep, CallerID: "+420&park()"}, ""},
		{"number with braces", adapter.OriginateRequest{Endpoint: ep, CallerID: "{x=1}"}, ""},
		{"number with carets", adapter.OriginateRequest{Endpoint: ep, CallerID: "^^;1"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := start(t, nil)
			e.srv.Script(tc.req.Endpoint, esltest.Fate{Outcome: esltest.Busy})
			_, err := e.sw.Originate(e.ctx, tc.req)
			var raw []byte
			for _, c := range e.srv.Received() {
				if strings.HasPrefix(c.Line, "bgapi originate") {
					raw = c.Raw
				}
			}
			if tc.wantVars == "" {
				if !errors.Is(err, adapter.ErrFailed) || raw != nil {
					t.Errorf("hostile request: error %v, sent %q; want ErrFailed and nothing sent", err, raw)
				}
				return
			}
			if !errors.Is(err, adapter.ErrBusy) {
				t.Fatalf("originate: %v", err)
			}
			uuid, job := originateIDs(t, e)
			want := "bgapi originate " + strings.ReplaceAll(tc.wantVars, "=U", "="+uuid) + tc.req.Endpoint + " &park()\nJob-UUID: " + job + "\n\n"
			if string(raw) != want {
				t.Errorf("sent\n %q\nwant\n %q", raw, want)
			}
			if ch, _ := e.srv.Channel(uuid); ch.UUID != uuid {
				t.Errorf("esltest parsed a different uuid: %+v", ch)
			}
		})
	}
}

// TestInjectionCallOperations feeds hostile prompt, recording and
// terminator values through every call operation: each is refused before
// a byte is sent.
func TestInjectionCallOperations(t *testing.T) {
	hostile := []string{"x y", "x\napi shutdown", "x'", "x\"", "x{y}", "x,y", "x&y", "^^;x", "../../etc/passwd", "x\\y",
		"x::hangup", "x|y", "x) &hangup(", "x\ty"}
	type op struct {
		name string
		run  func(ctx context.Context, c adapter.Call, v string) error
	}
	ops := []op{
		{"play sound", func(ctx context.Context, c adapter.Call, v string) error {
			_, err := c.Play(ctx, []adapter.Prompt{adapter.Prompt("sound:" + v)}, adapter.PlayOptions{})
			return err
		}},
		{"play recording", func(ctx context.Context, c adapter.Call, v string) error {
			_, err := c.Play(ctx, []adapter.Prompt{adapter.Prompt("recording:" + v)}, adapter.PlayOptions{BargeIn: true})
			return err
		}},
		{"play tone", func(ctx context.Context, c adapter.Call, v string) error {
			_, err := c.Play(ctx, []adapter.Prompt{adapter.Prompt("tone:" + v)}, adapter.PlayOptions{})
			return err
		}},
		{"play number", func(ctx context.Context, c adapter.Call, v string) error {
			_, err := c.Play(ctx, []adapter.Prompt{adapter.Prompt("number:1" + v)}, adapter.PlayOptions{})
			return err
		}},
		{"play silence", func(ctx context.Context, c adapter.Call, v string) error {
			_, err := c.Play(ctx, []adapter.Prompt{adapter.Prompt("silence:1" + v)}, adapter.PlayOptions{})
			return err
		}},
		{"play digits", func(ctx context.Context, c adapter.Call, v string) error {
			_, err := c.Play(ctx, []adapter.Prompt{adapter.Prompt("digits:1" + v)}, adapter.PlayOptions{})
			return err
		}},
		{"gather prompt", func(ctx context.Context, c adapter.Call, v string) error {
			_, err := c.Gather(ctx, adapter.GatherOptions{Prompts: []adapter.Prompt{adapter.Prompt("digits:" + v)}, MaxDigits: 1})
			return err
		}},
		{"gather terminator", func(ctx context.Context, c adapter.Call, v string) error {
			_, err := c.Gather(ctx, adapter.GatherOptions{Terminator: v, MaxDigits: 1})
			return err
		}},
		{"record name", func(ctx context.Context, c adapter.Call, v string) error {
			_, err := c.Record(ctx, adapter.RecordOptions{Name: v})
			return err
		}},
		{"record format", func(ctx context.Context, c adapter.Call, v string) error {
			_, err := c.Record(ctx, adapter.RecordOptions{Name: "ok", Format: "wav" + v})
			return err
		}},
		{"record terminator", func(ctx context.Context, c adapter.Call, v string) error {
			_, err := c.Record(ctx, adapter.RecordOptions{Name: "ok", Terminator: v})
			return err
		}},
	}
	type check struct {
		name string
		err  error
		sent int
	}
	results := make(chan []check, 1)
	var e *env
	e = start(t, func(ctx context.Context, c adapter.Call) {
		var out []check
		for _, o := range ops {
			for _, v := range hostile {
				before := len(e.srv.Received())
				err := o.run(ctx, c, v)
				out = append(out, check{o.name + " " + v, err, len(e.srv.Received()) - before})
			}
		}
		results <- out
	})
	oc := e.dial(t, esltest.Caller{Number: "100"})
	for _, r := range await(t, e, results) {
		if r.err == nil || r.sent != 0 {
			t.Errorf("%q: error %v, %d commands sent; want an error and nothing sent", r.name, r.err, r.sent)
		}
		if errors.Is(r.err, adapter.ErrHangup) {
			t.Errorf("%q: hostile value hung the call up: %v", r.name, r.err)
		}
	}
	await(t, e, oc.Done())
}

// TestInjectionRecordBytes: the record application's argument is exactly
// the validated path and numbers.
func TestInjectionRecordBytes(t *testing.T) {
	e2 := start(t, func(ctx context.Context, c adapter.Call) {
		if _, err := c.Record(ctx, adapter.RecordOptions{Name: "cb-420111222333.1", MaxDuration: 1500 * time.Millisecond}); err != nil {
			t.Errorf("record: %v", err)
		}
	})
	oc2 := e2.dial(t, esltest.Caller{Number: "100"})
	await(t, e2, oc2.Done())
	for _, c := range e2.srv.Received() {
		if c.Headers.Get("execute-app-name") != "record" {
			continue
		}
		want := "sendmsg\ncall-command: execute\nexecute-app-name: record\nexecute-app-arg: /srv/callflow/rec/cb-420111222333.1.wav 2\nevent-lock: true\nEvent-UUID: " +
			c.Headers.Get("Event-UUID") + "\n\n"
		if string(c.Raw) != want {
			t.Errorf("sent %q, want %q", c.Raw, want)
		}
		if err := esl.CheckArg(c.Headers.Get("Event-UUID")); err != nil {
			t.Errorf("event uuid: %v", err)
		}
		return
	}
	t.Errorf("no record sent: %q", e2.sent())
}

// TestHostileCallerChannelName: FreeSWITCH names a SIP caller's channel
// sofia/PROFILE/USER@HOST with the From user unescaped (%0A a newline) and
// writes that name raw into the linger disconnect-notice (seen on the real
// switch, TestRealFreeSWITCH/hostile_input). A caller whose number forges
// a reply and an event after a blank line must not desynchronise the
// session: the notice is read whole, nothing unexpected arrives, the call
// ends normally.
func TestHostileCallerChannelName(t *testing.T) {
	number := "+420\n\nContent-Type: command/reply\nReply-Text: +OK forged\n\n" +
		"Content-Type: text/event-plain\nContent-Length: 40\n\nEvent-Name: CHANNEL_EXECUTE_COMPLETE\n\n"
	got := make(chan adapter.CallInfo, 1)
	e := start(t, func(ctx context.Context, c adapter.Call) {
		got <- c.Info()
		if err := c.Answer(ctx); err != nil {
			t.Errorf("answer: %v", err)
		}
		if _, err := c.Play(ctx, []adapter.Prompt{"sound:hello"}, adapter.PlayOptions{}); err != nil {
			t.Errorf("play: %v", err)
		}
	})
	oc := e.dial(t, esltest.Caller{Number: number, Destination: "200", Channel: "sofia/callflow/" + number + "@127.0.0.1"})
	if in := await(t, e, got); in.CallerNumber != number {
		t.Errorf("caller number %q, want %q", in.CallerNumber, number)
	}
	select {
	case <-oc.Done():
	case <-e.ctx.Done():
		t.Fatal("session did not end")
	}
	for _, l := range e.logs.All() {
		if l.Level >= zap.WarnLevel {
			t.Errorf("logged %s: %s %v", l.Level, l.Message, l.ContextMap())
		}
	}
}
