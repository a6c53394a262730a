package sim

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/trace"
)

// simRun runs a scenario with handler h (which gets the switch and a log)
// and returns the log and the trace as text.
func simRun(t *testing.T, yml string, until time.Duration, h func(sw *Switch, l *log, c adapter.Call)) (string, string, *Switch) {
	t.Helper()
	sc, err := ParseScenario("test.yaml", []byte(yml))
	if err != nil {
		t.Fatalf("scenario: %v", err)
	}
	base := runtime.NumGoroutine()
	s := NewScheduler(t0)
	rec := &trace.Recorder{}
	sw := New(s, sc, rec, Options{})
	l := &log{s: s}
	if err := sw.Serve(context.Background(), func(ctx context.Context, c adapter.Call) { h(sw, l, c) }); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	var u time.Time
	if until > 0 {
		u = t0.Add(until)
	}
	if err := s.Run(context.Background(), u); err != nil {
		t.Fatalf("Run: %v", err)
	}
	checkNoLeak(t, base)
	var buf bytes.Buffer
	if err := trace.WriteText(&buf, t0, rec.Events()); err != nil {
		t.Fatal(err)
	}
	return l.String(), buf.String(), sw
}

func errText(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, adapter.ErrHangup):
		return "hangup"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return err.Error()
}

func prompts(ps ...string) []adapter.Prompt {
	out := make([]adapter.Prompt, len(ps))
	for i, p := range ps {
		out[i] = adapter.Prompt(p)
	}
	return out
}

func TestCallOperations(t *testing.T) {
	bg := context.Background()
	three := prompts("sound:a", "sound:b", "sound:c")
	tests := []struct {
		name      string
		scenario  string
		until     time.Duration
		h         func(sw *Switch, l *log, c adapter.Call)
		want      string
		wantTrace []string // substrings the trace must contain
	}{
		{
			name:     "play without barge-in ignores digits",
			scenario: "callers: [{dtmf: [{at: 1.5s, digits: '1'}]}]",
			h: func(sw *Switch, l *log, c adapter.Call) {
				d, err := c.Play(bg, three, adapter.PlayOptions{})
				l.add("play %q %s", d, errText(err))
			},
			want:      `3s play "" ok`,
			wantTrace: []string{"00:00:01.500 caller-1     switch   dtmf-ignored       1"},
		},
		{
			name:     "a prompt a real switch refuses fails before anything plays",
			scenario: "callers: [{}]",
			h: func(sw *Switch, l *log, c adapter.Call) {
				_, err := c.Play(bg, prompts("sound:a", "digits:12a"), adapter.PlayOptions{})
				l.add("play %s", errText(err))
				_, err = c.Gather(bg, adapter.GatherOptions{Prompts: prompts("beep"), MinDigits: 1, MaxDigits: 1})
				l.add("gather %s", errText(err))
			},
			want:      `0s play sim: play caller-1: prompt "digits:12a": digits "12a": want only 0-9 * #` + "\n" + `0s gather sim: gather caller-1: prompt "beep": want KIND:VALUE with KIND one of sound, recording, digits, number, silence, tone`,
			wantTrace: []string{"play-failed", "gather-failed"},
		},
		{
			name:     "play barge-in stops at the first digit",
			scenario: "callers: [{dtmf: [{at: 1.5s, digits: '79'}]}]",
			h: func(sw *Switch, l *log, c adapter.Call) {
				d, err := c.Play(bg, three, adapter.PlayOptions{BargeIn: true})
				l.add("play %q %s", d, errText(err))
				_ = c.Wait(bg, time.Second)
			},
			want:      `1.5s play "7" ok`,
			wantTrace: []string{"barge-in           7 during sound:b", "00:00:01.750 caller-1     switch   dtmf-ignored       9"},
		},
		{
			name:     "prompt durations from scenario and silence",
			scenario: "prompt_duration: 2s\nprompts: {'sound:long': 10s}\ncallers: [{}]",
			h: func(sw *Switch, l *log, c adapter.Call) {
				_, err := c.Play(bg, prompts("sound:x", "sound:long", "silence:1.5"), adapter.PlayOptions{})
				l.add("play %s", errText(err))
			},
			want: "13.5s play ok",
		},
		{
			name:     "gather max digits with barge-in during prompts",
			scenario: "callers: [{dtmf: [{at: 0.5s, digits: '1234'}]}]",
			h: func(sw *Switch, l *log, c adapter.Call) {
				d, err := c.Gather(bg, adapter.GatherOptions{Prompts: three, MinDigits: 1, MaxDigits: 3, FirstTimeout: 5 * time.Second, InterDigitTimeout: 2 * time.Second})
				l.add("gather %q %s", d, errText(err))
				_ = c.Wait(bg, time.Second)
			},
			want:      `1s gather "123" ok`,
			wantTrace: []string{`gathered           "123" [end=max]`, "00:00:01.250 caller-1     switch   dtmf-ignored       4"},
		},
		{
			name:     "gather terminator not returned",
			scenario: "callers: [{dtmf: [{at: 2s, digits: '42#'}]}]",
			h: func(sw *Switch, l *log, c adapter.Call) {
				d, err := c.Gather(bg, adapter.GatherOptions{Prompts: prompts("sound:a"), MinDigits: 1, MaxDigits: 10, Terminator: "#"})
				l.add("gather %q %s", d, errText(err))
			},
			want:      `2.5s gather "42" ok`,
			wantTrace: []string{"[end=terminator]"},
		},
		{
			name:     "gather first timeout counts after the prompts",
			scenario: "callers: [{}]",
			h: func(sw *Switch, l *log, c adapter.Call) {
				d, err := c.Gather(bg, adapter.GatherOptions{Prompts: three, MinDigits: 1, MaxDigits: 4, FirstTimeout: 4 * time.Second})
				l.add("gather %q %s", d, errText(err))
			},
			want:      `7s gather "" ok`,
			wantTrace: []string{`gathered           "" [end=timeout short=yes]`},
		},
		{
			name:     "gather inter-digit timeout and min digits",
			scenario: "callers: [{dtmf: [{at: 2s, digits: '5'}, {at: 4s, digits: '6'}]}]",
			h: func(sw *Switch, l *log, c adapter.Call) {
				d, err := c.Gather(bg, adapter.GatherOptions{MinDigits: 3, MaxDigits: 4, FirstTimeout: 5 * time.Second, InterDigitTimeout: 3 * time.Second})
				l.add("gather %q %s", d, errText(err))
			},
			want:      `7s gather "56" ok`,
			wantTrace: []string{"[end=inter-digit timeout short=yes]"},
		},
		{
			name:     "gather default timeouts",
			scenario: "callers: [{}]",
			h: func(sw *Switch, l *log, c adapter.Call) {
				d, err := c.Gather(bg, adapter.GatherOptions{MaxDigits: 1})
				l.add("gather %q %s", d, errText(err))
			},
			want: `5s gather "" ok`,
		},
		{
			name:     "gather rejects bad bounds",
			scenario: "callers: [{}]",
			h: func(sw *Switch, l *log, c adapter.Call) {
				_, err := c.Gather(bg, adapter.GatherOptions{MinDigits: 2, MaxDigits: 1})
				l.add("err=%v", err != nil)
			},
			want: "0s err=true",
		},
		{
			name:     "digits before gather are discarded",
			scenario: "callers: [{dtmf: [{at: 0.5s, digits: '9'}, {at: 3s, digits: '1'}]}]",
			h: func(sw *Switch, l *log, c adapter.Call) {
				_ = c.Wait(bg, 2*time.Second)
				d, err := c.Gather(bg, adapter.GatherOptions{MaxDigits: 1})
				l.add("gather %q %s", d, errText(err))
			},
			want:      `3s gather "1" ok`,
			wantTrace: []string{"00:00:00.500 caller-1     switch   dtmf-ignored       9"},
		},
		{
			name:     "record ends on terminator with beep",
			scenario: "callers: [{dtmf: [{at: 4.5s, digits: '#'}]}]",
			h: func(sw *Switch, l *log, c adapter.Call) {
				r, err := c.Record(bg, adapter.RecordOptions{Name: "vm1", MaxDuration: time.Minute, Terminator: "#", Beep: true})
				got, ok := sw.Recording("vm1")
				l.add("record %s %s %s %d %s stored=%v", r.Name, r.Format, r.Duration, r.Size, errText(err), ok && got == r)
			},
			want:      "4.5s record vm1 wav 4s 64044 ok stored=true",
			wantTrace: []string{"recorded           vm1 4s [end=terminator]"},
		},
		{
			name:     "record ends at max duration",
			scenario: "callers: [{}]",
			h: func(sw *Switch, l *log, c adapter.Call) {
				r, err := c.Record(bg, adapter.RecordOptions{Name: "m", Format: "gsm", MaxDuration: 30 * time.Second, Terminator: "#"})
				l.add("record %s %s %s %d %s", r.Name, r.Format, r.Duration, r.Size, errText(err))
			},
			want: "30s record m gsm 30s 480044 ok",
		},
		{
			name:     "record ends on silence after speaking",
			scenario: "callers: [{speak: 4s}]",
			h: func(sw *Switch, l *log, c adapter.Call) {
				r, err := c.Record(bg, adapter.RecordOptions{MaxDuration: 30 * time.Second, SilenceTimeout: 3 * time.Second})
				l.add("record %s %s %s", r.Name, r.Duration, errText(err))
			},
			want:      "7s record caller-1-rec-1 7s ok",
			wantTrace: []string{"[end=silence]"},
		},
		{
			name:     "record ends on hang-up and keeps the audio",
			scenario: "callers: [{hangup_at: 12s}]",
			h: func(sw *Switch, l *log, c adapter.Call) {
				r, err := c.Record(bg, adapter.RecordOptions{Name: "h", MaxDuration: 30 * time.Second})
				_, ok := sw.Recording("h")
				l.add("record %s %s stored=%v cause=%s", r.Duration, errText(err), ok, c.Cause())
			},
			want:      "12s record 12s hangup stored=true cause=normal",
			wantTrace: []string{"hangup             normal by caller", "[end=hangup]"},
		},
		{
			name:     "hang-up during play",
			scenario: "callers: [{hangup_at: 1.2s}]",
			h: func(sw *Switch, l *log, c adapter.Call) {
				_, err := c.Play(bg, three, adapter.PlayOptions{})
				l.add("play %s", errText(err))
				l.add("answer %s", errText(c.Answer(bg)))
			},
			want: "1.2s play hangup\n1.2s answer hangup",
		},
		{
			name:     "hang-up during gather",
			scenario: "callers: [{hangup_at: 6s, dtmf: [{at: 5s, digits: '1'}]}]",
			h: func(sw *Switch, l *log, c adapter.Call) {
				d, err := c.Gather(bg, adapter.GatherOptions{MaxDigits: 4, FirstTimeout: 10 * time.Second, InterDigitTimeout: 10 * time.Second})
				l.add("gather %q %s", d, errText(err))
			},
			want: `6s gather "" hangup`,
		},
		{
			name:     "hang-up during wait and a zero wait",
			scenario: "callers: [{hangup_at: 90s}]",
			h: func(sw *Switch, l *log, c adapter.Call) {
				l.add("wait %s", errText(c.Wait(bg, 10*time.Second)))
				l.add("wait forever %s", errText(c.Wait(bg, 0)))
				l.add("wait after %s", errText(c.Wait(bg, time.Second)))
			},
			want: "10s wait ok\n1m30s wait forever hangup\n1m30s wait after hangup",
		},
		{
			name:     "hang-up at start",
			scenario: "callers: [{hangup_at: 0s}]",
			h: func(sw *Switch, l *log, c adapter.Call) {
				l.add("wait %s", errText(c.Wait(bg, time.Second)))
			},
			want: "0s wait hangup",
		},
		{
			name:     "wait cancelled by ctx from another actor",
			scenario: "callers: [{}]",
			h: func(sw *Switch, l *log, c adapter.Call) {
				ctx, cancel := context.WithCancel(bg)
				sw.sched.AfterFunc(3*time.Second, cancel)
				l.add("wait %s", errText(c.Wait(ctx, 0)))
			},
			want: "3s wait canceled",
		},
		{
			name:     "app hang-up, answer idempotent, handler end",
			scenario: "callers: [{from: '+420601111222', to: '200', name: Jan, args: [support]}, {at: 1s}]",
			h: func(sw *Switch, l *log, c adapter.Call) {
				in := c.Info()
				l.add("%s %s %s %s %s %v", c.ID(), in.Direction, in.CallerNumber, in.Dialed, in.CallerName, in.Args)
				_ = c.Answer(bg)
				_ = c.Answer(bg)
				if c.ID() == "caller-1" {
					l.add("hangup %s", errText(c.Hangup(bg, adapter.CauseBusy)))
					l.add("again %s cause=%s", errText(c.Hangup(bg, adapter.CauseNormal)), c.Cause())
				}
			},
			want: "0s caller-1 inbound +420601111222 200 Jan [support]\n0s hangup ok\n0s again ok cause=busy\n" +
				"1s caller-2 inbound    []",
			wantTrace: []string{"caller-1     switch   hangup             busy by app", "caller-2     switch   hangup             normal by app"},
		},
		{
			name:     "shutdown at until hangs up by sim",
			scenario: "callers: [{}]",
			until:    20 * time.Second,
			h: func(sw *Switch, l *log, c adapter.Call) {
				l.add("wait %s cause=%s", errText(c.Wait(bg, time.Hour)), c.Cause())
				l.add("play %s", errText(func() error { _, err := c.Play(bg, three, adapter.PlayOptions{}); return err }()))
			},
			want:      "20s wait hangup cause=normal\n20s play hangup",
			wantTrace: []string{"00:00:20.000 caller-1     switch   hangup             normal by sim"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, tr, _ := simRun(t, tc.scenario, tc.until, tc.h)
			if got != tc.want {
				t.Errorf("log:\n%s\nwant:\n%s\ntrace:\n%s", got, tc.want, tr)
			}
			for _, w := range tc.wantTrace {
				if !strings.Contains(tr, w) {
					t.Errorf("trace lacks %q:\n%s", w, tr)
				}
			}
		})
	}
}
