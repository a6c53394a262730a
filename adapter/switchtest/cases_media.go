package switchtest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/callflow/callflow/adapter"
)

// Numbers the cases use.
const (
	CallerNumber   = "+420777888999" // From of inbound callers
	Extension      = "200"           // what inbound callers dial
	AgentANI       = "+420222333444" // caller ID presented to agents
	CustomerANI    = "+420222333555" // caller ID presented to customers
	CustomerNumber = "+420601111222" // the customer reached through the trunk
)

// Prompts the cases play. sound:hello-world ships with Asterisk's core
// sounds; silence:N is N seconds of silence on every switch.
const (
	Hello   adapter.Prompt = "sound:hello-world"
	Silence adapter.Prompt = "silence:3"
	Long    adapter.Prompt = "silence:5"
)

// Cases returns every conformance case.
func Cases() []Case {
	var cs []Case
	cs = append(cs, mediaCases()...)
	cs = append(cs, hangupCases()...)
	cs = append(cs, originateCases()...)
	cs = append(cs, queueCases()...)
	return cs
}

// caller is the usual single inbound call.
func caller(steps ...Step) []CallerScript {
	return []CallerScript{{From: CallerNumber, To: Extension, Steps: steps}}
}

// answered wraps a handler body: it answers first (recording "answer").
func answered(body func(ctx context.Context, env *Env, c adapter.Call) error) func(context.Context, *Env, adapter.Call) error {
	return func(ctx context.Context, env *Env, c adapter.Call) error {
		if err := c.Answer(ctx); err != nil {
			return fmt.Errorf("answer: %w", err)
		}
		return body(ctx, env, c)
	}
}

// endedBySwitch checks the usual end of a call the handler finished.
func endedBySwitch(t testing.TB, r *Result) {
	t.Helper()
	o := r.Callers[0]
	if !o.Answered || o.HungUpBy != BySwitch {
		t.Errorf("caller: answered %v, hung up by %q; want answered, hung up by %s (%s)", o.Answered, o.HungUpBy, BySwitch, o.Detail)
	}
}

// gather runs one Gather and records its digits, error and duration.
func gather(opt adapter.GatherOptions) func(context.Context, *Env, adapter.Call) error {
	return answered(func(ctx context.Context, env *Env, c adapter.Call) error {
		t0 := env.Clock.Now()
		digits, err := c.Gather(ctx, opt)
		env.Record("took", env.Since(t0))
		env.Record("digits", digits)
		env.Record("err", err)
		return nil
	})
}

// gatherCheck expects digits after took.
func gatherCheck(digits string, took time.Duration) func(testing.TB, *Result) {
	return func(t testing.TB, r *Result) {
		NoErr(t, r, "err")
		Equal(t, r, "digits", digits)
		Near(t, r, "took", took)
		endedBySwitch(t, r)
	}
}

func mediaCases() []Case {
	return []Case{
		{
			Name:    "answer",
			Callers: caller(Pause(time.Second)),
			Handler: func(ctx context.Context, env *Env, c adapter.Call) error {
				env.Record("cause before", c.Cause())
				env.Record("answer", c.Answer(ctx))
				env.Record("answer again", c.Answer(ctx))
				in := c.Info()
				env.Record("id", in.ID == c.ID() && c.ID() != "")
				env.Record("direction", in.Direction)
				env.Record("from", in.CallerNumber)
				env.Record("dialed", in.Dialed)
				env.Record("wait", c.Wait(ctx, 500*time.Millisecond))
				env.Record("cause up", c.Cause())
				return nil
			},
			Check: func(t testing.TB, r *Result) {
				NoErr(t, r, "answer")
				NoErr(t, r, "answer again")
				NoErr(t, r, "wait")
				Equal(t, r, "id", true)
				Equal(t, r, "direction", adapter.Inbound)
				Equal(t, r, "from", CallerNumber)
				Equal(t, r, "dialed", Extension)
				Equal(t, r, "cause before", adapter.CauseUnknown)
				Equal(t, r, "cause up", adapter.CauseUnknown)
				endedBySwitch(t, r)
			},
		},
		{
			Name:    "play a prompt",
			Callers: caller(),
			Handler: answered(func(ctx context.Context, env *Env, c adapter.Call) error {
				t0 := env.Clock.Now()
				d, err := c.Play(ctx, []adapter.Prompt{Hello}, adapter.PlayOptions{})
				env.Record("took", env.Since(t0))
				env.Record("digit", d)
				env.Record("err", err)
				return nil
			}),
			Check: func(t testing.TB, r *Result) {
				NoErr(t, r, "err")
				Equal(t, r, "digit", "")
				// The real prompt's length is the switch's business; it
				// plays for a while and ends.
				if took := Value[time.Duration](t, r, "took"); took < 200*time.Millisecond || took > 10*time.Second {
					t.Errorf("play took %v, want a prompt's length", took)
				}
				endedBySwitch(t, r)
			},
		},
		{
			Name:    "play with barge-in returns the digit",
			Callers: caller(Pause(700*time.Millisecond), DTMF("5")),
			Handler: answered(func(ctx context.Context, env *Env, c adapter.Call) error {
				t0 := env.Clock.Now()
				d, err := c.Play(ctx, []adapter.Prompt{Hello, Silence}, adapter.PlayOptions{BargeIn: true})
				env.Record("took", env.Since(t0))
				env.Record("digit", d)
				env.Record("err", err)
				return nil
			}),
			Check: func(t testing.TB, r *Result) {
				NoErr(t, r, "err")
				Equal(t, r, "digit", "5")
				Near(t, r, "took", 700*time.Millisecond)
				endedBySwitch(t, r)
			},
		},
		{
			Name:    "digits outside play and gather are discarded",
			Callers: caller(Pause(500*time.Millisecond), DTMF("9"), Pause(3*time.Second)),
			Handler: answered(func(ctx context.Context, env *Env, c adapter.Call) error {
				if err := c.Wait(ctx, 1500*time.Millisecond); err != nil {
					return fmt.Errorf("wait: %w", err)
				}
				if _, err := c.Play(ctx, []adapter.Prompt{Hello}, adapter.PlayOptions{}); err != nil {
					return fmt.Errorf("play: %w", err)
				}
				return gather(adapter.GatherOptions{MaxDigits: 1, FirstTimeout: time.Second})(ctx, env, c)
			}),
			Check: func(t testing.TB, r *Result) {
				NoErr(t, r, "err")
				Equal(t, r, "digits", "")
				Near(t, r, "took", time.Second)
				endedBySwitch(t, r)
			},
		},
		{
			Name:    "gather ends at the terminator",
			Callers: caller(Pause(500*time.Millisecond), DTMF("12#")),
			Handler: gather(adapter.GatherOptions{MaxDigits: 5, Terminator: "#", FirstTimeout: 3 * time.Second, InterDigitTimeout: 2 * time.Second}),
			Check:   gatherCheck("12", time.Second),
		},
		{
			Name: "gather ends at max digits",
			// The caller stays silent after the third key: sipp takes a BYE
			// that lands while it starts playing a key as unexpected, and
			// FreeSWITCH reports a key when it ends, so its hang-up after
			// "3" would meet a fourth key's start.
			Callers: caller(Pause(500*time.Millisecond), DTMF("123"), Pause(2*time.Second)),
			Handler: gather(adapter.GatherOptions{MaxDigits: 3, Terminator: "#", FirstTimeout: 3 * time.Second, InterDigitTimeout: 2 * time.Second}),
			Check:   gatherCheck("123", time.Second),
		},
		{
			Name:    "gather prompts take barge-in as the first digit",
			Callers: caller(Pause(500*time.Millisecond), DTMF("47")),
			Handler: gather(adapter.GatherOptions{Prompts: []adapter.Prompt{Hello, Silence}, MaxDigits: 2, FirstTimeout: 3 * time.Second, InterDigitTimeout: 2 * time.Second}),
			Check:   gatherCheck("47", 750*time.Millisecond),
		},
		{
			Name:    "gather first-digit timeout returns nothing",
			Callers: caller(Pause(3 * time.Second)),
			Handler: gather(adapter.GatherOptions{MaxDigits: 3, FirstTimeout: time.Second, InterDigitTimeout: 2 * time.Second}),
			Check:   gatherCheck("", time.Second),
		},
		{
			Name:    "gather inter-digit timeout returns the digits so far",
			Callers: caller(Pause(500*time.Millisecond), DTMF("12"), Pause(3*time.Second)),
			Handler: gather(adapter.GatherOptions{MaxDigits: 5, Terminator: "#", FirstTimeout: 3 * time.Second, InterDigitTimeout: time.Second}),
			// The second key arrives at 750ms; one second of silence follows.
			Check: gatherCheck("12", 1750*time.Millisecond),
		},
		{
			Name:    "record ends at max duration",
			Callers: caller(Audio(3 * time.Second)),
			Handler: record(adapter.RecordOptions{MaxDuration: 2 * time.Second, Terminator: "#"}),
			// Asterisk checks a recording's maximum about once a second:
			// a 2 s recording measured 2.4-2.95 s (duration 2-3 s).
			Check: recordCheck(2*time.Second, time.Second),
		},
		{
			Name:    "record ends at the terminator",
			Callers: caller(Audio(time.Second), DTMF("#"), Pause(3*time.Second)),
			Handler: record(adapter.RecordOptions{MaxDuration: 5 * time.Second, Terminator: "#"}),
			Check:   recordCheck(time.Second, 0),
		},
		{
			Name:    "wait",
			Callers: caller(),
			Handler: answered(func(ctx context.Context, env *Env, c adapter.Call) error {
				t0 := env.Clock.Now()
				env.Record("err", c.Wait(ctx, time.Second))
				env.Record("took", env.Since(t0))
				return nil
			}),
			Check: func(t testing.TB, r *Result) {
				NoErr(t, r, "err")
				Near(t, r, "took", time.Second)
				endedBySwitch(t, r)
			},
		},
	}
}

// record records once with a name unique to the run and records the
// recording, its error and the time it took.
func record(opt adapter.RecordOptions) func(context.Context, *Env, adapter.Call) error {
	return answered(func(ctx context.Context, env *Env, c adapter.Call) error {
		opt.Name = fmt.Sprintf("switchtest-%s-%d", c.ID(), env.Clock.Now().UnixNano())
		opt.Format = "wav"
		env.Record("name", opt.Name)
		t0 := env.Clock.Now()
		rec, err := c.Record(ctx, opt)
		env.Record("took", env.Since(t0))
		env.Record("recording", rec)
		env.Record("duration", rec.Duration)
		env.Record("err", err)
		return nil
	})
}

// recordCheck expects a recording of d, up to late longer.
func recordCheck(d, late time.Duration) func(testing.TB, *Result) {
	return func(t testing.TB, r *Result) {
		NoErr(t, r, "err")
		rec := Value[adapter.Recording](t, r, "recording")
		if want := Value[string](t, r, "name"); rec.Name != want || rec.Format != "wav" {
			t.Errorf("recording %q format %q, want %q wav", rec.Name, rec.Format, want)
		}
		if rec.Duration <= 0 {
			t.Errorf("recording duration %v, want > 0 (the caller spoke)", rec.Duration)
		}
		if rec.Prompt() != adapter.Prompt("recording:"+rec.Name) {
			t.Errorf("recording prompt %q", rec.Prompt())
		}
		Between(t, r, "duration", d, d+late)
		Between(t, r, "took", d, d+late)
		endedBySwitch(t, r)
	}
}
