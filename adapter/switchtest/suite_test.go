package switchtest_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/adapter/switchtest"
)

// fault breaks one behaviour of the simulated switch.
type fault int

const (
	gatherDropsLast fault = iota + 1
	playIgnoresBargeIn
	busyAsNoAnswer
	hangupIgnoresCause
	waitSwallowsHangup
	originateLosesANI
	recordLosesName
	cancelIgnored
)

type brokenSwitch struct {
	adapter.Switch
	f fault
}

func (s *brokenSwitch) Serve(ctx context.Context, h adapter.Handler) error {
	return s.Switch.Serve(ctx, func(ctx context.Context, c adapter.Call) { h(ctx, &brokenCall{Call: c, f: s.f}) })
}

func (s *brokenSwitch) Originate(ctx context.Context, req adapter.OriginateRequest) (adapter.Call, error) {
	if s.f == originateLosesANI {
		req.CallerID = ""
	}
	c, err := s.Switch.Originate(ctx, req)
	if s.f == busyAsNoAnswer && errors.Is(err, adapter.ErrBusy) {
		return nil, fmt.Errorf("broken: %w", adapter.ErrNoAnswer)
	}
	if err != nil {
		return nil, err
	}
	return &brokenCall{Call: c, f: s.f}, nil
}

func (s *brokenSwitch) NewBridge(ctx context.Context, opt adapter.BridgeOptions) (adapter.Bridge, error) {
	b, err := s.Switch.NewBridge(ctx, opt)
	if err != nil {
		return nil, err
	}
	return brokenBridge{b}, nil
}

// brokenBridge hands the driver its own calls.
type brokenBridge struct{ adapter.Bridge }

func unwrap(c adapter.Call) adapter.Call {
	if bc, ok := c.(*brokenCall); ok {
		return bc.Call
	}
	return c
}

func (b brokenBridge) Add(ctx context.Context, c adapter.Call) error {
	return b.Bridge.Add(ctx, unwrap(c))
}

func (b brokenBridge) Remove(ctx context.Context, c adapter.Call) error {
	return b.Bridge.Remove(ctx, unwrap(c))
}

type brokenCall struct {
	adapter.Call
	f fault
}

func (c *brokenCall) Gather(ctx context.Context, opt adapter.GatherOptions) (string, error) {
	d, err := c.Call.Gather(ctx, opt)
	if c.f == gatherDropsLast && len(d) > 0 {
		d = d[:len(d)-1]
	}
	return d, err
}

func (c *brokenCall) Play(ctx context.Context, ps []adapter.Prompt, opt adapter.PlayOptions) (string, error) {
	if c.f == playIgnoresBargeIn {
		opt.BargeIn = false
	}
	if c.f == cancelIgnored {
		ctx = context.WithoutCancel(ctx)
	}
	return c.Call.Play(ctx, ps, opt)
}

func (c *brokenCall) Hangup(ctx context.Context, cause adapter.Cause) error {
	if c.f == hangupIgnoresCause {
		cause = adapter.CauseNormal
	}
	return c.Call.Hangup(ctx, cause)
}

func (c *brokenCall) Wait(ctx context.Context, d time.Duration) error {
	err := c.Call.Wait(ctx, d)
	if c.f == waitSwallowsHangup && errors.Is(err, adapter.ErrHangup) {
		return nil
	}
	return err
}

func (c *brokenCall) Record(ctx context.Context, opt adapter.RecordOptions) (adapter.Recording, error) {
	r, err := c.Call.Record(ctx, opt)
	if c.f == recordLosesName {
		r.Name = ""
	}
	return r, err
}

// probe is a testing.TB that records failures instead of reporting them.
type probe struct {
	testing.TB
	failed bool
	msgs   []string
}

var errStop = errors.New("probe: stop")

func (p *probe) Helper()             {}
func (p *probe) Logf(string, ...any) {}
func (p *probe) Log(...any)          {}
func (p *probe) Fail()               { p.failed = true }
func (p *probe) Failed() bool        { return p.failed }
func (p *probe) FailNow()            { p.failed = true; panic(errStop) }
func (p *probe) Error(a ...any)      { p.failed = true; p.msgs = append(p.msgs, fmt.Sprint(a...)) }
func (p *probe) Errorf(f string, a ...any) {
	p.failed = true
	p.msgs = append(p.msgs, fmt.Sprintf(f, a...))
}
func (p *probe) Fatal(a ...any)            { p.Error(a...); panic(errStop) }
func (p *probe) Fatalf(f string, a ...any) { p.Errorf(f, a...); panic(errStop) }

// verify runs the shared and the case's checks on r and reports whether
// they failed.
func verify(t *testing.T, c switchtest.Case, r *switchtest.Result) (failed bool, msgs []string) {
	p := &probe{TB: t}
	func() {
		defer func() {
			if v := recover(); v != nil && v != errStop {
				panic(v)
			}
		}()
		switchtest.Verify(p, c, r)
	}()
	return p.failed, p.msgs
}

// TestSuiteCatchesBrokenDrivers proves the cases can fail: each fault
// breaks the simulator in one way, and the cases that cover that behaviour
// must fail while the rest still pass.
func TestSuiteCatchesBrokenDrivers(t *testing.T) {
	tests := []struct {
		name  string
		fault fault
		want  []string // cases that must fail; every other case must pass
		// noQueue leaves the queue cases out: the engine loops on Wait
		// until the call is gone, so a Wait that never reports the
		// hang-up spins the simulation forever.
		noQueue bool
	}{
		{name: "no fault", want: nil},
		{name: "gather drops the last digit", fault: gatherDropsLast, want: []string{
			"gather ends at the terminator", "gather ends at max digits",
			"gather prompts take barge-in as the first digit", "gather inter-digit timeout returns the digits so far",
		}},
		{name: "play ignores barge-in", fault: playIgnoresBargeIn, want: []string{"play with barge-in returns the digit"}},
		{name: "busy reported as no answer", fault: busyAsNoAnswer, want: []string{"originate agent busy"}},
		{name: "hangup ignores the cause", fault: hangupIgnoresCause, want: []string{
			"hangup by us with cause busy", "reject before answer with cause busy",
		}},
		{name: "wait swallows the hang-up", fault: waitSwallowsHangup, want: []string{
			"caller hangs up during play", "caller hangs up during gather", "caller hangs up during record",
			"caller hangs up during wait", "holding bridge then mixing bridge with an agent",
		}, noQueue: true},
		{name: "originate loses the ANI", fault: originateLosesANI, want: []string{
			"originate agent answers", "originate agent busy", "originate agent no answer",
			"originate customer through the trunk with the ANI", "holding bridge then mixing bridge with an agent",
			"queue: registered callback dials the agent, then the customer with the ANI",
		}},
		{name: "record loses the name", fault: recordLosesName, want: []string{"record ends at max duration", "record ends at the terminator"}},
		{name: "play ignores cancellation", fault: cancelIgnored, want: []string{"context cancelled during play returns promptly"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := switchtest.NewSim(nil)
			if tc.fault != 0 {
				h.Wrap = func(sw adapter.Switch) adapter.Switch { return &brokenSwitch{Switch: sw, f: tc.fault} }
			}
			var failed []string
			for _, c := range switchtest.Cases() {
				if tc.noQueue && c.Setup != nil {
					continue
				}
				bad, msgs := verify(t, c, h.Run(t, c))
				if bad {
					failed = append(failed, c.Name)
				}
				if bad != slices.Contains(tc.want, c.Name) {
					t.Errorf("case %q failed=%v, want %v %q", c.Name, bad, !bad, msgs)
				}
			}
			t.Logf("failing cases: %q", failed)
		})
	}
}

func TestCallerScriptValidate(t *testing.T) {
	tests := []struct {
		name    string
		steps   []switchtest.Step
		wantErr bool
	}{
		{name: "empty stays on the line", steps: nil},
		{name: "full timeline", steps: []switchtest.Step{switchtest.Pause(time.Second), switchtest.DTMF("12*#"), switchtest.Audio(time.Second), switchtest.Hangup()}},
		{name: "hangup not last", steps: []switchtest.Step{switchtest.Hangup(), switchtest.Pause(time.Second)}, wantErr: true},
		{name: "bad key", steps: []switchtest.Step{switchtest.DTMF("1x")}, wantErr: true},
		{name: "no keys", steps: []switchtest.Step{switchtest.DTMF("")}, wantErr: true},
		{name: "zero pause", steps: []switchtest.Step{switchtest.Pause(0)}, wantErr: true},
		{name: "zero step", steps: []switchtest.Step{{}}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := switchtest.CallerScript{From: "1", To: "200", Steps: tc.steps}.Validate()
			if (err != nil) != tc.wantErr {
				t.Errorf("Validate() = %v, want error %v", err, tc.wantErr)
			}
		})
	}
}

func TestSimScenario(t *testing.T) {
	c := switchtest.Case{
		Callers: []switchtest.CallerScript{{From: "+1", To: "200", Steps: []switchtest.Step{
			switchtest.Pause(500 * time.Millisecond), switchtest.DTMF("12"), switchtest.Audio(2 * time.Second),
			switchtest.DTMF("#"), switchtest.Hangup(),
		}}},
		Agents:    []switchtest.Party{{Behaviour: switchtest.Busy}, {AnswerAfter: time.Second, Hold: 3 * time.Second}},
		Customers: []switchtest.Party{{Number: "+420601111222", Behaviour: switchtest.NoAnswer}},
	}
	sc := switchtest.SimScenario(c)
	cl := sc.Callers[0]
	if len(cl.DTMF) != 2 || cl.DTMF[0].At != 500*time.Millisecond || cl.DTMF[0].Digits != "12" || cl.DTMF[1].At != 3*time.Second {
		t.Errorf("dtmf %+v, want 12 at 500ms and # at 3s", cl.DTMF)
	}
	if cl.Speak == nil || *cl.Speak != 2*time.Second || cl.HangupAt == nil || *cl.HangupAt != 3250*time.Millisecond {
		t.Errorf("speak %v hangup %v, want 2s and 3.25s", cl.Speak, cl.HangupAt)
	}
	if a := sc.Agents; a[0].Endpoint != "PJSIP/agent1" || a[0].Behaviour != "busy" || a[1].Endpoint != "PJSIP/agent2" || a[1].AnswerAfter != time.Second || a[1].Talk != 3*time.Second {
		t.Errorf("agents %+v", a)
	}
	if cu := sc.Customers[0]; cu.Number != "+420601111222" || cu.Behaviour != "no_answer" {
		t.Errorf("customer %+v", cu)
	}
}
