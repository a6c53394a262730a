package switchtest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/callflow/callflow/adapter"
)

// callerHangsUp is a caller who hangs up one second after the answer,
// while op runs.
func callerHangsUp(name string, steps []Step, op func(ctx context.Context, c adapter.Call) error) Case {
	return Case{
		Name:    "caller hangs up during " + name,
		Callers: caller(append(steps, Hangup())...),
		Handler: answered(func(ctx context.Context, env *Env, c adapter.Call) error {
			t0 := env.Clock.Now()
			env.Record("err", op(ctx, c))
			env.Record("took", env.Since(t0))
			env.Record("cause", c.Cause())
			// Every later operation fails at once.
			t1 := env.Clock.Now()
			env.Record("wait after", c.Wait(ctx, 2*time.Second))
			env.Record("wait after took", env.Since(t1))
			env.Record("hangup after", c.Hangup(ctx, adapter.CauseNormal))
			return nil
		}),
		Check: func(t testing.TB, r *Result) {
			ErrIs(t, r, "err", adapter.ErrHangup)
			Near(t, r, "took", time.Second)
			Equal(t, r, "cause", adapter.CauseNormal)
			ErrIs(t, r, "wait after", adapter.ErrHangup)
			Near(t, r, "wait after took", 0)
			NoErr(t, r, "hangup after")
			if o := r.Callers[0]; !o.Answered || o.HungUpBy != ByCaller {
				t.Errorf("caller: answered %v, hung up by %q; want answered, hung up by %s (%s)", o.Answered, o.HungUpBy, ByCaller, o.Detail)
			}
		},
	}
}

func hangupCases() []Case {
	return []Case{
		{
			Name:    "hangup by us with cause busy",
			Callers: caller(Pause(3 * time.Second)),
			Handler: answered(func(ctx context.Context, env *Env, c adapter.Call) error {
				if err := c.Wait(ctx, 300*time.Millisecond); err != nil {
					return fmt.Errorf("wait: %w", err)
				}
				env.Record("hangup", c.Hangup(ctx, adapter.CauseBusy))
				env.Record("cause", c.Cause())
				env.Record("hangup again", c.Hangup(ctx, adapter.CauseNormal))
				env.Record("cause after second hangup", c.Cause())
				_, err := c.Play(ctx, []adapter.Prompt{Hello}, adapter.PlayOptions{})
				env.Record("play after", err)
				return nil
			}),
			Check: func(t testing.TB, r *Result) {
				NoErr(t, r, "hangup")
				NoErr(t, r, "hangup again")
				Equal(t, r, "cause", adapter.CauseBusy)
				Equal(t, r, "cause after second hangup", adapter.CauseBusy)
				ErrIs(t, r, "play after", adapter.ErrHangup)
				endedBySwitch(t, r)
				// Asterisk sends the cause in the BYE's Reason header.
				if c := r.Callers[0].Cause; c != adapter.CauseBusy {
					t.Errorf("caller was told cause %s, want busy (%s)", c, r.Callers[0].Detail)
				}
			},
		},
		{
			Name:    "reject before answer with cause busy",
			Callers: caller(),
			Handler: func(ctx context.Context, env *Env, c adapter.Call) error {
				env.Record("hangup", c.Hangup(ctx, adapter.CauseBusy))
				env.Record("cause", c.Cause())
				env.Record("answer after", c.Answer(ctx))
				return nil
			},
			Check: func(t testing.TB, r *Result) {
				NoErr(t, r, "hangup")
				Equal(t, r, "cause", adapter.CauseBusy)
				ErrIs(t, r, "answer after", adapter.ErrHangup)
				o := r.Callers[0]
				if o.Answered || o.HungUpBy != BySwitch || o.Cause != adapter.CauseBusy {
					t.Errorf("caller: answered %v, hung up by %q, cause %s; want not answered, rejected busy by %s (%s)", o.Answered, o.HungUpBy, o.Cause, BySwitch, o.Detail)
				}
			},
		},
		callerHangsUp("play", []Step{Pause(time.Second)}, func(ctx context.Context, c adapter.Call) error {
			_, err := c.Play(ctx, []adapter.Prompt{Long}, adapter.PlayOptions{})
			return err
		}),
		callerHangsUp("gather", []Step{Pause(time.Second)}, func(ctx context.Context, c adapter.Call) error {
			_, err := c.Gather(ctx, adapter.GatherOptions{MaxDigits: 3, FirstTimeout: 5 * time.Second, InterDigitTimeout: 5 * time.Second})
			return err
		}),
		callerHangsUp("record", []Step{Audio(time.Second)}, func(ctx context.Context, c adapter.Call) error {
			_, err := c.Record(ctx, adapter.RecordOptions{Name: fmt.Sprintf("switchtest-hangup-%s", c.ID()), Format: "wav", MaxDuration: 5 * time.Second})
			return err
		}),
		callerHangsUp("wait", []Step{Pause(time.Second)}, func(ctx context.Context, c adapter.Call) error {
			return c.Wait(ctx, 5*time.Second)
		}),
		{
			Name:    "context cancelled during play returns promptly",
			Callers: caller(),
			Handler: answered(func(ctx context.Context, env *Env, c adapter.Call) error {
				pctx, cancel := context.WithCancel(ctx)
				defer cancel()
				stop := env.Clock.AfterFunc(500*time.Millisecond, cancel)
				defer stop()
				t0 := env.Clock.Now()
				_, err := c.Play(pctx, []adapter.Prompt{Long}, adapter.PlayOptions{})
				env.Record("err", err)
				env.Record("took", env.Since(t0))
				env.Record("cause", c.Cause())
				_, err = c.Play(ctx, []adapter.Prompt{Hello}, adapter.PlayOptions{})
				env.Record("play after", err)
				return nil
			}),
			Check: func(t testing.TB, r *Result) {
				ErrIs(t, r, "err", context.Canceled)
				Near(t, r, "took", 500*time.Millisecond)
				Equal(t, r, "cause", adapter.CauseUnknown)
				NoErr(t, r, "play after")
				endedBySwitch(t, r)
			},
		},
	}
}

// originate dials Agents[0] (or the customer when customer is set) and
// records the outcome.
func originate(customer bool, timeout time.Duration) func(context.Context, *Env, adapter.Call) error {
	return answered(func(ctx context.Context, env *Env, c adapter.Call) error {
		req := adapter.OriginateRequest{Endpoint: env.AgentEndpoint(0), CallerID: AgentANI, Timeout: timeout, Tag: "agent"}
		if customer {
			req = adapter.OriginateRequest{Endpoint: env.CustomerEndpoint(CustomerNumber), CallerID: CustomerANI, Timeout: timeout, Tag: "customer"}
		}
		t0 := env.Clock.Now()
		oc, err := env.Switch.Originate(ctx, req)
		env.Record("took", env.Since(t0))
		env.Record("err", err)
		if err != nil {
			return nil
		}
		in := oc.Info()
		env.Record("direction", in.Direction)
		env.Record("endpoint", in.Endpoint)
		env.Record("cause up", oc.Cause())
		env.Record("play", errOf(oc.Play(ctx, []adapter.Prompt{Hello}, adapter.PlayOptions{})))
		env.Record("hangup", oc.Hangup(ctx, adapter.CauseNormal))
		env.Record("cause", oc.Cause())
		env.Record("caller cause", c.Cause())
		return nil
	})
}

func errOf(_ string, err error) error { return err }

// partySaw checks that the party got exactly one call from ani (and to
// the number, when to is set).
func partySaw(t testing.TB, what string, calls []PartyCall, ani, to string) {
	t.Helper()
	if len(calls) != 1 {
		t.Errorf("%s received %d calls %+v, want 1", what, len(calls), calls)
		return
	}
	if calls[0].From != ani || (to != "" && calls[0].To != to) {
		t.Errorf("%s saw %+v, want From %s To %s", what, calls[0], ani, to)
	}
}

func originateCases() []Case {
	answeredCheck := func(customer bool) func(testing.TB, *Result) {
		return func(t testing.TB, r *Result) {
			NoErr(t, r, "err")
			Near(t, r, "took", 500*time.Millisecond)
			Equal(t, r, "direction", adapter.Outbound)
			Equal(t, r, "cause up", adapter.CauseUnknown)
			NoErr(t, r, "play")
			NoErr(t, r, "hangup")
			Equal(t, r, "cause", adapter.CauseNormal)
			Equal(t, r, "caller cause", adapter.CauseUnknown)
			endedBySwitch(t, r)
			if customer {
				partySaw(t, "customer", r.Customers[0], CustomerANI, CustomerNumber)
			} else {
				partySaw(t, "agent", r.Agents[0], AgentANI, "")
			}
		}
	}
	failedCheck := func(target error, took time.Duration) func(testing.TB, *Result) {
		return func(t testing.TB, r *Result) {
			ErrIs(t, r, "err", target)
			for _, other := range []error{adapter.ErrBusy, adapter.ErrNoAnswer, adapter.ErrFailed, adapter.ErrHangup} {
				if err := Value[error](t, r, "err"); other != target && errors.Is(err, other) {
					t.Errorf("originate error %v also wraps %v", err, other)
				}
			}
			Between(t, r, "took", 0, took)
			partySaw(t, "agent", r.Agents[0], AgentANI, "")
			endedBySwitch(t, r)
		}
	}
	return []Case{
		{
			Name:    "originate agent answers",
			Callers: caller(),
			Agents:  []Party{{Behaviour: Answer, AnswerAfter: 500 * time.Millisecond}},
			Handler: originate(false, 5*time.Second),
			Check:   answeredCheck(false),
		},
		{
			Name:    "originate agent busy",
			Callers: caller(),
			Agents:  []Party{{Behaviour: Busy}},
			Handler: originate(false, 5*time.Second),
			Check:   failedCheck(adapter.ErrBusy, 1500*time.Millisecond),
		},
		{
			Name:    "originate agent no answer",
			Callers: caller(),
			Agents:  []Party{{Behaviour: NoAnswer}},
			Handler: originate(false, 2*time.Second),
			Check: func(t testing.TB, r *Result) {
				failedCheck(adapter.ErrNoAnswer, 2*time.Second)(t, r)
				Near(t, r, "took", 2*time.Second)
			},
		},
		{
			Name:      "originate customer through the trunk with the ANI",
			Callers:   caller(),
			Customers: []Party{{Number: CustomerNumber, Behaviour: Answer, AnswerAfter: 500 * time.Millisecond}},
			Handler:   originate(true, 5*time.Second),
			Check:     answeredCheck(true),
		},
		{
			Name:    "leaving a holding bridge at once does not hold the next prompt",
			Callers: caller(Pause(30 * time.Second)),
			Handler: answered(leaveHoldingAtOnce),
			Check: func(t testing.TB, r *Result) {
				for _, k := range []string{"holding", "rounds", "destroy holding"} {
					NoErr(t, r, k)
				}
				if d := Value[time.Duration](t, r, "longest play"); d > 6*time.Second {
					t.Errorf("a prompt after leaving the holding bridge took %v, want a prompt's length", d)
				}
				endedBySwitch(t, r)
			},
		},
		{
			Name:    "holding bridge then mixing bridge with an agent",
			Callers: caller(),
			Agents:  []Party{{Behaviour: Answer, AnswerAfter: 500 * time.Millisecond, Hold: 1500 * time.Millisecond}},
			Handler: answered(bridges),
			Check: func(t testing.TB, r *Result) {
				for _, k := range []string{"holding", "add holding", "wait in holding", "originate", "mixing", "add agent", "add caller", "remove caller", "play after", "destroy holding", "destroy mixing"} {
					NoErr(t, r, k)
				}
				ErrIs(t, r, "agent gone", adapter.ErrHangup)
				Near(t, r, "agent talked", 1500*time.Millisecond)
				Equal(t, r, "agent cause", adapter.CauseNormal)
				Equal(t, r, "caller cause", adapter.CauseUnknown)
				Equal(t, r, "bridge ids differ", true)
				partySaw(t, "agent", r.Agents[0], AgentANI, "")
				endedBySwitch(t, r)
			},
		},
	}
}

// leaveHoldingAtOnce: the caller joins a holding bridge and leaves it
// 0 to 100 ms later, then hears a prompt, six times. On FreeSWITCH the
// hold music starts a few frames after the switch took the broadcast, so
// a stop sent in that gap stops nothing, and music starting after it held
// every later prompt until the caller hung up (seen under load: a caller
// pressed 1 on the announcement, the engine restarted the music,
// start_callback took the caller out of the queue at once and the
// recording never began).
func leaveHoldingAtOnce(ctx context.Context, env *Env, c adapter.Call) error {
	hold, err := env.Switch.NewBridge(ctx, adapter.BridgeOptions{Kind: adapter.Holding, Name: "switchtest-hold-brief", MusicClass: "default"})
	env.Record("holding", err)
	if err != nil {
		return nil
	}
	var errs []error
	var longest time.Duration
	for round := range 6 {
		if err := hold.Add(ctx, c); err != nil {
			errs = append(errs, fmt.Errorf("round %d: add: %w", round, err))
			break
		}
		if round > 0 { // Wait(0) waits until ctx ends
			if err := c.Wait(ctx, time.Duration(round)*20*time.Millisecond); err != nil {
				errs = append(errs, fmt.Errorf("round %d: wait: %w", round, err))
				break
			}
		}
		if err := hold.Remove(ctx, c); err != nil {
			errs = append(errs, fmt.Errorf("round %d: remove: %w", round, err))
			break
		}
		pctx, cancel := context.WithTimeout(ctx, 8*time.Second)
		t0 := env.Clock.Now()
		_, err := c.Play(pctx, []adapter.Prompt{Hello}, adapter.PlayOptions{})
		cancel()
		longest = max(longest, env.Since(t0))
		if err != nil {
			errs = append(errs, fmt.Errorf("round %d: play after leaving: %w", round, err))
		}
	}
	env.Record("rounds", errors.Join(errs...))
	env.Record("longest play", longest)
	env.Record("destroy holding", hold.Destroy(ctx))
	return nil
}

// bridges: the caller waits in a holding bridge, an agent is dialed and
// both talk in a mixing bridge until the agent hangs up; the caller is
// still there and hears a prompt.
func bridges(ctx context.Context, env *Env, c adapter.Call) error {
	hold, err := env.Switch.NewBridge(ctx, adapter.BridgeOptions{Kind: adapter.Holding, Name: "switchtest-hold", MusicClass: "default"})
	env.Record("holding", err)
	if err != nil {
		return nil
	}
	env.Record("add holding", hold.Add(ctx, c))
	env.Record("wait in holding", c.Wait(ctx, time.Second))
	agent, err := env.Switch.Originate(ctx, adapter.OriginateRequest{Endpoint: env.AgentEndpoint(0), CallerID: AgentANI, Timeout: 5 * time.Second, Tag: "agent"})
	env.Record("originate", err)
	if err != nil {
		return nil
	}
	mix, err := env.Switch.NewBridge(ctx, adapter.BridgeOptions{Kind: adapter.Mixing, Name: "switchtest-talk"})
	env.Record("mixing", err)
	if err != nil {
		return nil
	}
	env.Record("bridge ids differ", hold.ID() != mix.ID() && hold.ID() != "" && mix.ID() != "")
	env.Record("add agent", mix.Add(ctx, agent))
	t0 := env.Clock.Now()
	env.Record("add caller", mix.Add(ctx, c)) // moves the caller out of the holding bridge
	env.Record("agent gone", agent.Wait(ctx, 0))
	env.Record("agent talked", env.Since(t0))
	env.Record("agent cause", agent.Cause())
	env.Record("caller cause", c.Cause())
	env.Record("remove caller", mix.Remove(ctx, c))
	_, err = c.Play(ctx, []adapter.Prompt{Hello}, adapter.PlayOptions{})
	env.Record("play after", err)
	env.Record("destroy holding", hold.Destroy(ctx))
	env.Record("destroy mixing", mix.Destroy(ctx))
	return nil
}
