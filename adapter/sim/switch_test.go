package sim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/trace"
)

func outcome(err error) string {
	switch {
	case err == nil:
		return "answered"
	case errors.Is(err, adapter.ErrBusy):
		return "busy"
	case errors.Is(err, adapter.ErrNoAnswer):
		return "no_answer"
	case errors.Is(err, ErrStopped):
		return "stopped"
	case errors.Is(err, adapter.ErrFailed):
		return "failed"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return err.Error()
}

const parties = `
callers: [{}]
agents:
  - endpoint: PJSIP/agent1
    answer_after: 3s
  - endpoint: PJSIP/agent2
    behaviour: busy
    schedule: [{at: 10s, behaviour: answer}, {at: 20s, behaviour: fail}]
  - endpoint: PJSIP/agent3
    behaviour: no_answer
  - endpoint: PJSIP/slow
    answer_after: 40s
customers:
  - number: "+420601111222"
    attempts: [no_answer, busy, answer]
    answer_after: 1s
`

func TestOriginate(t *testing.T) {
	bg := context.Background()
	tests := []struct {
		name string
		h    func(sw *Switch, l *log, c adapter.Call)
		want string
	}{
		{
			name: "answer after delay with ids per tag",
			h: func(sw *Switch, l *log, _ adapter.Call) {
				for _, tag := range []string{"agent", "agent", ""} {
					oc, err := sw.Originate(bg, adapter.OriginateRequest{Endpoint: "PJSIP/agent1", CallerID: "+420222", Tag: tag})
					in := oc.Info()
					l.add("%s %s %s %s %s", outcome(err), oc.ID(), in.Direction, in.CallerNumber, in.Endpoint)
				}
			},
			want: "3s answered agent-1 outbound +420222 PJSIP/agent1\n6s answered agent-2 outbound +420222 PJSIP/agent1\n9s answered out-1 outbound +420222 PJSIP/agent1",
		},
		{
			name: "schedule in force when the originate starts",
			h: func(sw *Switch, l *log, c adapter.Call) {
				for _, at := range []time.Duration{0, 5 * time.Second, 10 * time.Second, 20 * time.Second} {
					if d := at - sw.sched.Now().Sub(t0); d > 0 {
						_ = c.Wait(bg, d)
					}
					_, err := sw.Originate(bg, adapter.OriginateRequest{Endpoint: "PJSIP/agent2"})
					l.add("%s", outcome(err))
				}
			},
			want: "1s busy\n6s busy\n12s answered\n20s failed",
		},
		{
			name: "per-attempt list with the last repeating",
			h: func(sw *Switch, l *log, _ adapter.Call) {
				for range 4 {
					_, err := sw.Originate(bg, adapter.OriginateRequest{Endpoint: "PJSIP/+420601111222@trunk", Timeout: 20 * time.Second, Tag: "customer"})
					l.add("%s", outcome(err))
				}
			},
			want: "20s no_answer\n21s busy\n22s answered\n23s answered",
		},
		{
			name: "no answer uses the default timeout; slow answer is a no-answer",
			h: func(sw *Switch, l *log, _ adapter.Call) {
				_, err := sw.Originate(bg, adapter.OriginateRequest{Endpoint: "PJSIP/agent3"})
				l.add("%s", outcome(err))
				_, err = sw.Originate(bg, adapter.OriginateRequest{Endpoint: "PJSIP/slow", Timeout: 15 * time.Second})
				l.add("%s", outcome(err))
			},
			want: "30s no_answer\n45s no_answer",
		},
		{
			name: "unknown endpoint fails at once",
			h: func(sw *Switch, l *log, _ adapter.Call) {
				_, err := sw.Originate(bg, adapter.OriginateRequest{Endpoint: "PJSIP/nobody"})
				l.add("%s", outcome(err))
			},
			want: "0s failed",
		},
		{
			name: "caller-chosen id; a used id fails",
			h: func(sw *Switch, l *log, _ adapter.Call) {
				for range 2 {
					oc, err := sw.Originate(bg, adapter.OriginateRequest{ID: "cb1-1-agent-x-1", Endpoint: "PJSIP/agent1"})
					if err != nil {
						l.add("%s", outcome(err))
						continue
					}
					l.add("%s %s", outcome(err), oc.ID())
				}
			},
			want: "3s answered cb1-1-agent-x-1\n3s failed",
		},
		{
			name: "attach a ringing leg, hang it up, then it is not found",
			h: func(sw *Switch, l *log, c adapter.Call) {
				sw.sched.Go(func() {
					_, err := sw.Originate(bg, adapter.OriginateRequest{ID: "ring-1", Endpoint: "PJSIP/agent3", Timeout: time.Minute})
					l.add("old originate %s", outcome(err))
				})
				_ = c.Wait(bg, 5*time.Second)
				ac, err := sw.Attach(bg, "ring-1")
				if err != nil {
					l.add("attach: %v", err)
					return
				}
				l.add("attached %s cause=%s", ac.ID(), ac.Cause())
				_ = ac.Hangup(bg, adapter.CauseNormal)
				_ = c.Wait(bg, time.Second)
				_, err = sw.Attach(bg, "ring-1")
				l.add("after hang-up not found=%v", errors.Is(err, adapter.ErrNotFound))
				_, err = sw.Attach(bg, "never")
				l.add("unknown not found=%v", errors.Is(err, adapter.ErrNotFound))
			},
			want: "5s attached ring-1 cause=unknown\n5s old originate failed\n6s after hang-up not found=true\n6s unknown not found=true",
		},
		{
			name: "attach an answered leg and wait for its hang-up",
			h: func(sw *Switch, l *log, c adapter.Call) {
				if _, err := sw.Originate(bg, adapter.OriginateRequest{ID: "up-1", Endpoint: "PJSIP/agent1"}); err != nil {
					l.add("%v", err)
					return
				}
				ac, err := sw.Attach(bg, "up-1")
				if err != nil {
					l.add("attach: %v", err)
					return
				}
				sw.sched.AfterFunc(7*time.Second, func() { _ = ac.Hangup(bg, adapter.CauseBusy) })
				err = ac.Wait(bg, 0)
				l.add("wait hangup=%v cause=%s", errors.Is(err, adapter.ErrHangup), ac.Cause())
			},
			want: "10s wait hangup=true cause=busy",
		},
		{
			name: "cancel while ringing",
			h: func(sw *Switch, l *log, _ adapter.Call) {
				ctx, cancel := context.WithCancel(bg)
				sw.sched.AfterFunc(time.Second, cancel)
				_, err := sw.Originate(ctx, adapter.OriginateRequest{Endpoint: "PJSIP/agent1"})
				l.add("%s", outcome(err))
			},
			want: "1s canceled",
		},
		{
			name: "answered party hangs up after talk in a mixing bridge only",
			h: func(sw *Switch, l *log, c adapter.Call) {
				oc, err := sw.Originate(bg, adapter.OriginateRequest{Endpoint: "PJSIP/agent1"})
				if err != nil {
					l.add("%v", err)
					return
				}
				hold, _ := sw.NewBridge(bg, adapter.BridgeOptions{Kind: adapter.Holding, Name: "q"})
				_ = hold.Add(bg, oc)
				_ = hold.Add(bg, c)
				_ = c.Wait(bg, 100*time.Second) // holding: no talk timer
				l.add("after hold cause=%s", oc.Cause())
				mix, _ := sw.NewBridge(bg, adapter.BridgeOptions{Kind: adapter.Mixing, Name: "talk"})
				_ = mix.Add(bg, oc)
				_ = c.Wait(bg, 10*time.Second) // alone in the mixing bridge
				_ = mix.Add(bg, c)
				_ = c.Wait(bg, 29*time.Second)
				l.add("before talk end cause=%s", oc.Cause())
				_ = c.Wait(bg, time.Second)
				l.add("after talk cause=%s", oc.Cause())
				l.add("play %s", errText(func() error { _, err := oc.Play(bg, prompts("sound:x"), adapter.PlayOptions{}); return err }()))
			},
			want: "1m43s after hold cause=unknown\n2m22s before talk end cause=unknown\n2m23s after talk cause=normal\n2m23s play hangup",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, tr, _ := simRun(t, parties, 0, tc.h)
			if got != tc.want {
				t.Errorf("log:\n%s\nwant:\n%s\ntrace:\n%s", got, tc.want, tr)
			}
		})
	}
}

func TestOriginateTrace(t *testing.T) {
	bg := context.Background()
	_, tr, _ := simRun(t, parties, 0, func(sw *Switch, l *log, c adapter.Call) {
		_, _ = sw.Originate(bg, adapter.OriginateRequest{Endpoint: "PJSIP/+420601111222@trunk", CallerID: "+420222333444", Tag: "customer"})
		_, _ = sw.Originate(bg, adapter.OriginateRequest{Endpoint: "PJSIP/nobody", CallerID: "+420222333444"})
	})
	want := `00:00:00.000 caller-1     switch   incoming           from - to -
00:00:00.000 customer-1   switch   originate          PJSIP/+420601111222@trunk [ani=+420222333444]
00:00:30.000 customer-1   switch   originate-no-answer no answer after 30s
00:00:30.000 out-1        switch   originate          PJSIP/nobody [ani=+420222333444]
00:00:30.000 out-1        switch   originate-failed   unknown endpoint
00:00:30.000 caller-1     switch   hangup             normal by app
`
	if tr != want {
		t.Errorf("trace:\n%s\nwant:\n%s", tr, want)
	}
}

func TestBridges(t *testing.T) {
	bg := context.Background()
	_, tr, _ := simRun(t, "callers: [{}, {}, {id: vip}]", 0, func(sw *Switch, l *log, c adapter.Call) {
		if c.ID() != "caller-1" {
			_ = c.Wait(bg, time.Minute)
			return
		}
		_ = c.Wait(bg, time.Second) // let the other callers arrive
		sw.mu.Lock()
		others := append([]*call(nil), sw.calls[1:]...)
		sw.mu.Unlock()
		q, _ := sw.NewBridge(bg, adapter.BridgeOptions{Kind: adapter.Holding, Name: "support", MusicClass: "default"})
		m, _ := sw.NewBridge(bg, adapter.BridgeOptions{Kind: adapter.Mixing})
		check := func(what string, err error) {
			if err != nil {
				t.Errorf("%s: %v", what, err)
			}
		}
		check("add", q.Add(bg, c))
		check("add again", q.Add(bg, c))
		check("add other", q.Add(bg, others[0]))
		check("move", m.Add(bg, c))
		check("remove absent", q.Remove(bg, c))
		check("remove", m.Remove(bg, c))
		check("add vip", m.Add(bg, others[1]))
		check("destroy", m.Destroy(bg))
		if err := m.Destroy(bg); !errors.Is(err, adapter.ErrNotFound) {
			t.Errorf("second destroy = %v", err)
		}
		if err := m.Add(bg, c); !errors.Is(err, adapter.ErrNotFound) {
			t.Errorf("add to destroyed = %v", err)
		}
		_ = others[0].Hangup(bg, adapter.CauseNormal)
		if err := q.Add(bg, others[0]); !errors.Is(err, adapter.ErrHangup) {
			t.Errorf("add hung-up call = %v", err)
		}
		sw.mu.Lock()
		n := len(q.(*bridge).members)
		sw.mu.Unlock()
		if n != 0 {
			t.Errorf("holding bridge has %d members after hang-up", n)
		}
	})
	for _, w := range []string{
		"caller-1     switch   bridge-enter       support holding, music on (default)",
		"caller-2     switch   bridge-enter       support holding, music on (default)",
		"caller-1     switch   bridge-leave       support moved",
		"caller-1     switch   bridge-enter       bridge-2 mixing",
		"caller-1     switch   bridge-leave       bridge-2 removed",
		"vip          switch   bridge-leave       bridge-2 destroyed",
		"caller-2     switch   bridge-leave       support hangup",
	} {
		if !strings.Contains(tr, w) {
			t.Errorf("trace lacks %q:\n%s", w, tr)
		}
	}
	if strings.Count(tr, "caller-1     switch   bridge-enter       support") != 1 {
		t.Errorf("second Add into the same bridge was not a no-op:\n%s", tr)
	}
}

// A multi-caller scenario with queue-like interplay must give identical
// traces on every run.
func TestDeterminism(t *testing.T) {
	const yml = `
prompts: {"sound:welcome": 2.5s}
callers:
  - {from: "+420601000001", to: "200", dtmf: [{at: 1s, digits: "1"}, {at: 6s, digits: "12#"}], speak: 3s}
  - {at: 0.5s, from: "+420601000002", to: "200", dtmf: [{at: 2s, digits: "2"}], hangup_at: 40s}
  - {at: 0.5s, from: "+420601000003", to: "200", dtmf: [{at: 2.5s, digits: "1"}, {at: 7s, digits: "9"}]}
  - {at: 3s, from: "+420601000004", to: "200", hangup_at: 4s}
agents:
  - {endpoint: PJSIP/agent1, answer_after: 1.5s, talk: 12s}
  - {endpoint: PJSIP/agent2, attempts: [busy, answer], talk: 8s}
`
	bg := context.Background()
	run := func() string {
		_, tr, _ := simRun(t, yml, 5*time.Minute, func(sw *Switch, l *log, c adapter.Call) {
			_ = c.Answer(bg)
			d, err := c.Play(bg, prompts("sound:welcome", "sound:menu"), adapter.PlayOptions{BargeIn: true})
			if err != nil {
				return
			}
			if d == "1" {
				if _, err := c.Gather(bg, adapter.GatherOptions{MaxDigits: 5, Terminator: "#", FirstTimeout: 4 * time.Second}); err != nil {
					return
				}
			}
			if _, err := c.Record(bg, adapter.RecordOptions{MaxDuration: 10 * time.Second, SilenceTimeout: 2 * time.Second, Beep: true}); err != nil {
				return
			}
			for _, ep := range []string{"PJSIP/agent2", "PJSIP/agent1"} {
				ctx, cancel := context.WithCancel(bg)
				stop := sw.sched.AfterFunc(20*time.Second, cancel)
				oc, err := sw.Originate(ctx, adapter.OriginateRequest{Endpoint: ep, CallerID: c.Info().CallerNumber, Tag: "agent"})
				stop()
				cancel()
				if err != nil {
					continue
				}
				b, _ := sw.NewBridge(bg, adapter.BridgeOptions{Kind: adapter.Mixing, Name: "talk-" + c.ID()})
				_ = b.Add(bg, c)
				_ = b.Add(bg, oc)
				_ = c.Wait(bg, time.Minute)
				_ = b.Destroy(bg)
				return
			}
		})
		return tr
	}
	first := run()
	if !strings.Contains(first, "originate-answered") || !strings.Contains(first, "barge-in") {
		t.Fatalf("scenario did not exercise the switch:\n%s", first)
	}
	for i := range 20 {
		if got := run(); got != first {
			t.Fatalf("run %d differs:\n%s\nfirst:\n%s", i, got, first)
		}
	}
}

func TestServeNotStartedAfterCancel(t *testing.T) {
	sc, err := ParseScenario("s.yaml", []byte("callers: [{at: 5s}]"))
	if err != nil {
		t.Fatal(err)
	}
	s := NewScheduler(t0)
	rec := &trace.Recorder{}
	sw := New(s, sc, rec, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	ran := false
	if err := sw.Serve(ctx, func(context.Context, adapter.Call) { ran = true }); err != nil {
		t.Fatal(err)
	}
	if err := sw.Serve(ctx, func(context.Context, adapter.Call) {}); err == nil {
		t.Error("second Serve succeeded")
	}
	cancel()
	if err := s.Run(context.Background(), time.Time{}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	_ = trace.WriteText(&buf, t0, rec.Events())
	if ran || !strings.Contains(buf.String(), "not-started") {
		t.Errorf("ran=%v trace:\n%s", ran, buf.String())
	}
}

func TestHandlerPanicHangsUp(t *testing.T) {
	sc, _ := ParseScenario("s.yaml", []byte("callers: [{}, {}]"))
	s := NewScheduler(t0)
	rec := &trace.Recorder{}
	sw := New(s, sc, rec, Options{})
	_ = sw.Serve(context.Background(), func(ctx context.Context, c adapter.Call) {
		if c.ID() == "caller-1" {
			_ = c.Wait(ctx, time.Second)
			panic(fmt.Sprintf("flow bug on %s", c.ID()))
		}
		_ = c.Wait(ctx, time.Hour)
	})
	err := s.Run(context.Background(), time.Time{})
	if err == nil || !strings.Contains(err.Error(), "flow bug on caller-1") {
		t.Fatalf("Run = %v", err)
	}
	var buf bytes.Buffer
	_ = trace.WriteText(&buf, t0, rec.Events())
	for _, w := range []string{"00:00:01.000 caller-1     switch   hangup             normal by app", "00:00:01.000 caller-2     switch   hangup             normal by sim"} {
		if !strings.Contains(buf.String(), w) {
			t.Errorf("trace lacks %q:\n%s", w, buf.String())
		}
	}
}
