package freeswitch

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/esl"
	"github.com/callflow/callflow/esl/esltest"
)

// TestInboundCall: a call handed over by the dialplan's socket app is
// answered, hears every kind of prompt and is hung up busy; the session
// commands are asserted byte for byte.
func TestInboundCall(t *testing.T) {
	type result struct {
		info  adapter.CallInfo
		digit string
		errs  []error
		cause adapter.Cause
	}
	results := make(chan result, 1)
	e := start(t, func(ctx context.Context, c adapter.Call) {
		r := result{info: c.Info()}
		r.errs = append(r.errs, c.Answer(ctx), c.Answer(ctx))
		var err error
		r.digit, err = c.Play(ctx, []adapter.Prompt{"sound:ivr/ivr-welcome", "sound:custom/hello.sln16",
			"digits:1#", "silence:0.5", "tone:beep", "recording:greeting-1", "number:42"}, adapter.PlayOptions{})
		r.errs = append(r.errs, err, c.Hangup(ctx, adapter.CauseBusy), c.Hangup(ctx, adapter.CauseNormal))
		r.cause = c.Cause()
		results <- r
	})
	oc := e.dial(t, esltest.Caller{Number: "+420111222333", Name: "Jan Novak", Destination: "7777"})
	r := await(t, e, results)
	for i, err := range r.errs {
		if err != nil {
			t.Errorf("operation %d: %v", i, err)
		}
	}
	if r.digit != "" {
		t.Errorf("digit %q without barge-in", r.digit)
	}
	want := adapter.CallInfo{ID: oc.UUID, Direction: adapter.Inbound, CallerNumber: "+420111222333",
		CallerName: "Jan Novak", Dialed: "7777"}
	if r.info.ID != want.ID || r.info.CallerNumber != want.CallerNumber || r.info.CallerName != want.CallerName ||
		r.info.Dialed != want.Dialed || r.info.Direction != adapter.Inbound {
		t.Errorf("info %+v, want %+v", r.info, want)
	}
	if r.cause != adapter.CauseBusy {
		t.Errorf("cause %v, want busy", r.cause)
	}
	await(t, e, oc.Done())
	ch, _ := e.srv.Channel(oc.UUID)
	if ch.Cause != "USER_BUSY" || !ch.Answered {
		t.Errorf("channel %+v", ch)
	}
	equalLines(t, e.after(t, "^connect$"), []string{
		"linger", "myevents", "event plain RECORD_START RECORD_STOP",
		"nixevent CHANNEL_EXECUTE CHANNEL_STATE CHANNEL_PARK CHANNEL_UNPARK",
		execLine("answer", ""),
		"api uuid_setvar " + oc.UUID + " playback_terminators none",
		execLine("playback", "ivr/ivr-welcome.wav"),
		execLine("playback", "custom/hello.sln16"),
		execLine("playback", "digits/1.wav"),
		execLine("playback", "digits/pound.wav"),
		execLine("playback", "silence_stream://500"),
		execLine("playback", "tone_stream://%(500,0,800)"),
		execLine("playback", "/srv/callflow/rec/greeting-1.wav"),
		execLine("say", "en number pronounced 42"),
		"sendmsg|call-command: hangup|hangup-cause: USER_BUSY",
		"exit",
	})
}

// TestHangupCauses maps each port cause to FreeSWITCH's name and back.
func TestHangupCauses(t *testing.T) {
	cases := []struct {
		name  string
		cause adapter.Cause
		fs    string
	}{
		{"normal", adapter.CauseNormal, "NORMAL_CLEARING"},
		{"busy", adapter.CauseBusy, "USER_BUSY"},
		{"no answer", adapter.CauseNoAnswer, "NO_ANSWER"},
		{"rejected", adapter.CauseRejected, "CALL_REJECTED"},
		{"unallocated", adapter.CauseUnallocated, "UNALLOCATED_NUMBER"},
		{"congestion", adapter.CauseCongestion, "NORMAL_CIRCUIT_CONGESTION"},
		{"failure", adapter.CauseFailure, "NORMAL_TEMPORARY_FAILURE"},
		{"q850 without a port name", adapter.CauseFromQ850(27), "DESTINATION_OUT_OF_ORDER"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan adapter.Cause, 1)
			e := start(t, func(ctx context.Context, c adapter.Call) {
				if err := c.Hangup(ctx, tc.cause); err != nil {
					t.Errorf("hangup: %v", err)
				}
				got <- c.Cause()
			})
			oc := e.dial(t, esltest.Caller{Number: "100"})
			if c := await(t, e, got); c != tc.cause {
				t.Errorf("Cause() = %v, want %v", c, tc.cause)
			}
			await(t, e, oc.Done())
			if ch, _ := e.srv.Channel(oc.UUID); ch.Cause != tc.fs {
				t.Errorf("FreeSWITCH cause %q, want %q", ch.Cause, tc.fs)
			}
		})
	}
}

// TestHandlerReturnHangsUp: a handler that returns leaves no call behind.
func TestHandlerReturnHangsUp(t *testing.T) {
	e := start(t, func(ctx context.Context, c adapter.Call) {})
	oc := e.dial(t, esltest.Caller{Number: "100"})
	await(t, e, oc.Done())
	if ch, _ := e.srv.Channel(oc.UUID); !ch.HungUp || ch.Cause != "NORMAL_CLEARING" {
		t.Errorf("channel %+v, want hung up normally", ch)
	}
	lines := e.sent()
	if lines[len(lines)-1] != "exit" {
		t.Errorf("last command %q, want exit", lines[len(lines)-1])
	}
}

// TestCallerHangsUpDuringOperation: each blocking operation returns an
// error wrapping ErrHangup when the caller hangs up, and Cause reports the
// caller's cause.
func TestCallerHangsUpDuringOperation(t *testing.T) {
	cases := []struct {
		name    string
		trigger string // regexp of the command after which the caller hangs up
		op      func(ctx context.Context, c adapter.Call) error
	}{
		{"play", `playback\|execute-app-arg: ivr/long.wav`, func(ctx context.Context, c adapter.Call) error {
			_, err := c.Play(ctx, []adapter.Prompt{"sound:ivr/long"}, adapter.PlayOptions{BargeIn: true})
			return err
		}},
		{"gather", `playback\|execute-app-arg: silence_stream://100`, func(ctx context.Context, c adapter.Call) error {
			_, err := c.Gather(ctx, adapter.GatherOptions{Prompts: []adapter.Prompt{"silence:0.1"}, MaxDigits: 4, FirstTimeout: time.Minute})
			return err
		}},
		{"record", `execute-app-name: record`, func(ctx context.Context, c adapter.Call) error {
			rec, err := c.Record(ctx, adapter.RecordOptions{Name: "r1", MaxDuration: time.Hour})
			if rec.Name != "r1" {
				t.Errorf("recording %+v after hang-up, want the partial r1", rec)
			}
			return err
		}},
		{"wait", `^myevents$`, func(ctx context.Context, c adapter.Call) error {
			return c.Wait(ctx, time.Minute)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			type res struct {
				err   error
				cause adapter.Cause
			}
			got := make(chan res, 1)
			answered := make(chan struct{})
			e := start(t, func(ctx context.Context, c adapter.Call) {
				if err := c.Answer(ctx); err != nil {
					t.Errorf("answer: %v", err)
				}
				close(answered)
				err := tc.op(ctx, c)
				got <- res{err, c.Cause()}
			}, withPlayback(time.Hour))
			oc := e.dial(t, esltest.Caller{Number: "100"})
			// The caller hangs up once the answer is through (wait sends
			// nothing after it, so its trigger alone came too early).
			await(t, e, (<-chan struct{})(answered))
			e.waitSent(t, tc.trigger)
			oc.Hangup("NORMAL_CLEARING")
			r := await(t, e, got)
			if !errors.Is(r.err, adapter.ErrHangup) {
				t.Errorf("error %v, want ErrHangup", r.err)
			}
			if r.cause != adapter.CauseNormal {
				t.Errorf("cause %v, want normal", r.cause)
			}
			await(t, e, oc.Done())
		})
	}
}

// TestGather covers barge-in, terminator, max digits and both timeouts.
func TestGather(t *testing.T) {
	cases := []struct {
		name    string
		opt     adapter.GatherOptions
		during  string // keys pressed while the prompt plays
		after   string // keys pressed after the prompt
		want    string
		minTime time.Duration
	}{
		{"barge-in then terminator", adapter.GatherOptions{MaxDigits: 6, Terminator: "#"}, "12", "3#", "123", 0},
		{"max digits during prompt", adapter.GatherOptions{MaxDigits: 2}, "123", "", "12", 0},
		{"max digits after prompt", adapter.GatherOptions{MaxDigits: 3, Terminator: "#"}, "", "987", "987", 0},
		{"inter-digit timeout", adapter.GatherOptions{MaxDigits: 5, InterDigitTimeout: 150 * time.Millisecond}, "4", "5", "45", 150 * time.Millisecond},
		{"first timeout, nothing pressed", adapter.GatherOptions{MaxDigits: 5, FirstTimeout: 100 * time.Millisecond}, "", "", "", 100 * time.Millisecond},
		{"terminator only", adapter.GatherOptions{MaxDigits: 5, Terminator: "#"}, "#", "", "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			type res struct {
				digits  string
				err     error
				elapsed time.Duration
			}
			got := make(chan res, 1)
			promptDone := make(chan struct{})
			e := start(t, func(ctx context.Context, c adapter.Call) {
				opt := tc.opt
				opt.Prompts = []adapter.Prompt{"sound:ask"}
				t0 := time.Now()
				d, err := c.Gather(ctx, opt)
				got <- res{d, err, time.Since(t0)}
			}, withPlayback(20*time.Second)) // 200 ms at esltest's scale
			oc := e.dial(t, esltest.Caller{Number: "100"})
			e.waitSent(t, `playback\|execute-app-arg: ask.wav`)
			if tc.during != "" {
				oc.SendDTMF(tc.during)
			}
			go func() { // ends when the prompt's completion is seen or the test ends
				defer close(promptDone)
				for e.ctx.Err() == nil {
					if ch, ok := e.srv.Channel(oc.UUID); ok && (ch.HungUp || len(e.after(t, `playback\|execute-app-arg: ask.wav`)) > 0) {
						return
					}
					time.Sleep(time.Millisecond)
				}
			}()
			if tc.after != "" {
				// A key pressed during the prompt stops it (terminators
				// "any"); otherwise it plays its 200 ms.
				pause := 300 * time.Millisecond
				if tc.during != "" {
					pause = 50 * time.Millisecond
				}
				time.Sleep(pause)
				oc.SendDTMF(tc.after)
			}
			r := await(t, e, got)
			if r.err != nil || r.digits != tc.want {
				t.Errorf("Gather = %q, %v; want %q", r.digits, r.err, tc.want)
			}
			if r.elapsed < tc.minTime {
				t.Errorf("returned after %v, before the %v timeout", r.elapsed, tc.minTime)
			}
			<-promptDone
			if !strings.Contains(strings.Join(e.sent(), "\n"), "playback_terminators any") {
				t.Errorf("barge-in prompt without playback_terminators any")
			}
		})
	}
}

// TestPlayBargeIn returns the first key pressed and skips the rest of the
// prompts.
func TestPlayBargeIn(t *testing.T) {
	got := make(chan string, 1)
	e := start(t, func(ctx context.Context, c adapter.Call) {
		d, err := c.Play(ctx, []adapter.Prompt{"sound:first", "sound:second"}, adapter.PlayOptions{BargeIn: true})
		if err != nil {
			t.Errorf("play: %v", err)
		}
		got <- d
	}, withPlayback(20*time.Second))
	oc := e.dial(t, esltest.Caller{Number: "100"})
	e.waitSent(t, `execute-app-arg: first.wav`)
	oc.SendDTMF("7")
	if d := await(t, e, got); d != "7" {
		t.Errorf("digit %q, want 7", d)
	}
	await(t, e, oc.Done())
	for _, s := range e.sent() {
		if strings.Contains(s, "second.wav") {
			t.Errorf("second prompt played after barge-in: %s", s)
		}
	}
}

// TestRecord checks the record command, the terminator variable, the beep
// and the duration FreeSWITCH reports.
func TestRecord(t *testing.T) {
	got := make(chan adapter.Recording, 1)
	e := start(t, func(ctx context.Context, c adapter.Call) {
		rec, err := c.Record(ctx, adapter.RecordOptions{Name: "vm-1", Format: "wav", MaxDuration: 2 * time.Second,
			SilenceTimeout: 3 * time.Second, Beep: true, Terminator: "#"})
		if err != nil {
			t.Errorf("record: %v", err)
		}
		got <- rec
	})
	oc := e.dial(t, esltest.Caller{Number: "100"})
	rec := await(t, e, got)
	if rec.Name != "vm-1" || rec.Format != "wav" || rec.Duration != 2*time.Second {
		t.Errorf("recording %+v", rec)
	}
	if p := rec.Prompt(); p != "recording:vm-1" {
		t.Errorf("prompt %q", p)
	}
	await(t, e, oc.Done())
	equalLines(t, e.after(t, `^nixevent `)[:5], []string{
		"api uuid_setvar " + oc.UUID + " playback_terminators none",
		execLine("playback", "tone_stream://%(500,0,800)"),
		"api uuid_setvar " + oc.UUID + " playback_terminators #",
		execLine("record", "/srv/callflow/rec/vm-1.wav 2 200 3"),
		"sendmsg|call-command: hangup|hangup-cause: NORMAL_CLEARING",
	})
}

// TestSessionCommandTimeout: a session command without a reply is a fault:
// the call is killed through the inbound connection and the fault logged.
func TestSessionCommandTimeout(t *testing.T) {
	got := make(chan error, 1)
	proceed := make(chan struct{})
	e := start(t, func(ctx context.Context, c adapter.Call) {
		<-proceed
		_, err := c.Play(ctx, []adapter.Prompt{"sound:x"}, adapter.PlayOptions{})
		got <- err
	}, withCommandTimeout(300*time.Millisecond))
	oc := e.dial(t, esltest.Caller{Number: "100"})
	e.waitSent(t, `^event plain RECORD_START`)
	e.srv.StallNext(1)
	close(proceed)
	err := await(t, e, got)
	if !errors.Is(err, esl.ErrTimeout) || !errors.Is(err, adapter.ErrHangup) {
		t.Errorf("error %v, want ErrTimeout and ErrHangup", err)
	}
	e.waitSent(t, `^api uuid_kill `+oc.UUID+` NORMAL_TEMPORARY_FAILURE$`)
	await(t, e, oc.Done())
	if e.sw.Faults() != 1 {
		t.Errorf("faults %d, want 1", e.sw.Faults())
	}
	if n := e.logs.FilterMessage("esl session command timed out, killing the call").Len(); n != 1 {
		t.Errorf("fault logged %d times, want 1", n)
	}
	if ch, _ := e.srv.Channel(oc.UUID); !ch.HungUp || ch.Cause != "NORMAL_TEMPORARY_FAILURE" {
		t.Errorf("channel %+v, want killed", ch)
	}
}
