package switchtest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/adapter/sim"
	"github.com/callflow/callflow/trace"
)

// SimStart is the virtual time every simulated case starts at.
var SimStart = time.Date(2026, time.January, 5, 8, 0, 0, 0, time.UTC)

// SimLimit bounds a simulated case in virtual time.
const SimLimit = 10 * time.Minute

// Sim runs cases on the simulated switch: exact, deterministic timings.
type Sim struct {
	Log *zap.Logger
	// Wrap, when set, wraps the switch the handlers see (tests of the suite
	// itself use it to break a driver on purpose).
	Wrap func(adapter.Switch) adapter.Switch
}

var _ Harness = (*Sim)(nil)

// NewSim returns the simulator harness.
func NewSim(log *zap.Logger) *Sim { return &Sim{Log: log} }

// Name is "sim".
func (*Sim) Name() string { return "sim" }

// SimAgent is the endpoint of Case.Agents[i] on the simulator.
func SimAgent(i int) string { return fmt.Sprintf("PJSIP/agent%d", i+1) }

// SimTrunk is the customer dial template on the simulator.
const SimTrunk = "PJSIP/{e164}@trunk"

// SimScenario maps a case onto a simulator scenario: caller timelines
// become DTMF items, speech and hang-up times counted from the call's start
// (the handlers answer at once); parties keep their behaviour, ringing time
// and hold time (as talk time).
func SimScenario(c Case) *sim.Scenario {
	sc := &sim.Scenario{Name: c.Name, Prompts: map[string]time.Duration{}}
	for i, cs := range c.Callers {
		cl := sim.Caller{ID: fmt.Sprintf("caller-%d", i+1), From: cs.From, To: cs.To}
		var at, speak time.Duration
		for _, s := range cs.Steps {
			switch s.Kind {
			case StepDTMF:
				cl.DTMF = append(cl.DTMF, sim.DTMF{At: at, Digits: s.Digits})
			case StepAudio:
				speak += s.D
			case StepHangup:
				h := at
				cl.HangupAt = &h
			}
			at += s.Length()
		}
		cl.Speak = &speak
		sc.Callers = append(sc.Callers, cl)
	}
	for i, p := range c.Agents {
		sp := simParty(p)
		sp.Endpoint = SimAgent(i)
		sc.Agents = append(sc.Agents, sp)
	}
	for _, p := range c.Customers {
		sp := simParty(p)
		sp.Number = p.Number
		sc.Customers = append(sc.Customers, sp)
	}
	return sc
}

func simParty(p Party) sim.Party {
	sp := sim.Party{AnswerAfter: p.AnswerAfter, Talk: p.Hold}
	if sp.Talk <= 0 {
		sp.Talk = 24 * time.Hour // until the switch hangs up
	}
	switch p.Behaviour {
	case Busy:
		sp.Behaviour = sim.Busy
	case NoAnswer:
		sp.Behaviour = sim.NoAnswer
	default:
		sp.Behaviour = sim.Answer
	}
	return sp
}

// Run plays c on a fresh simulated switch.
func (h *Sim) Run(t *testing.T, c Case) *Result {
	t.Helper()
	log := h.Log
	if log == nil {
		log = zap.NewNop()
	}
	sched := sim.NewScheduler(SimStart)
	rec := &trace.Recorder{}
	var sw adapter.Switch = sim.New(sched, SimScenario(c), rec, sim.Options{})
	if h.Wrap != nil {
		sw = h.Wrap(sw)
	}
	env := NewEnv(EnvConfig{
		Switch: sw, Clock: sched, Log: log.With(zap.String("switch", "sim")), Trace: rec,
		TempDir: t.TempDir(), Agent: SimAgent, Trunk: SimTrunk,
	})
	res := &Result{Harness: h.Name()}
	var mu sync.Mutex
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if c.Setup != nil {
		cleanup, err := c.Setup(ctx, env)
		if err != nil {
			t.Fatalf("sim: setup: %v", err)
		}
		if cleanup != nil {
			defer cleanup()
		}
	}
	err := sw.Serve(ctx, func(ctx context.Context, call adapter.Call) {
		err := c.Handler(ctx, env, call)
		mu.Lock()
		defer mu.Unlock()
		res.Handled++
		if err != nil {
			res.HandlerErrors = append(res.HandlerErrors, fmt.Errorf("%s: %w", call.ID(), err))
		}
	})
	if err != nil {
		t.Fatalf("sim: serve: %v", err)
	}
	if err := sched.Run(ctx, SimStart.Add(SimLimit)); err != nil {
		t.Fatalf("sim: run: %v", err)
	}
	// A background activity (a queue engine's timers) may keep virtual
	// time going after the calls are done; only running calls are a fault.
	if sched.ReachedUntil() && res.Handled < len(c.Callers) {
		t.Fatalf("sim: case still running after %v of virtual time", SimLimit)
	}
	res.Elapsed = sched.Now().Sub(SimStart)
	res.Observed = env.Observed()
	simOutcomes(res, c, rec.Events())
	return res
}

// simOutcomes reads what the far ends saw from the switch's trace.
func simOutcomes(res *Result, c Case, events []trace.Event) {
	res.Callers = make([]CallerOutcome, len(c.Callers))
	res.Agents = make([][]PartyCall, len(c.Agents))
	res.Customers = make([][]PartyCall, len(c.Customers))
	index := map[string]int{}
	for i := range c.Callers {
		index[fmt.Sprintf("caller-%d", i+1)] = i
	}
	var detail = make([][]string, len(c.Callers))
	for _, e := range events {
		if e.Source != trace.Switch {
			continue
		}
		if i, ok := index[e.Call]; ok {
			o := &res.Callers[i]
			detail[i] = append(detail[i], fmt.Sprintf("%s %s %s", e.At.Sub(SimStart), e.Kind, e.Text))
			switch e.Kind {
			case "answer":
				o.Answered = true
			case "hangup":
				cause, by, _ := strings.Cut(e.Text, " by ")
				if cc, err := adapter.ParseCause(cause); err == nil {
					o.Cause = cc
				}
				switch by {
				case "caller":
					o.HungUpBy = ByCaller
				case "app":
					o.HungUpBy = BySwitch
				}
			}
			continue
		}
		if e.Kind != "originate" {
			continue
		}
		ani := e.Attrs["ani"]
		if ani == "-" {
			ani = ""
		}
		if i := simAgentIndex(c, e.Text); i >= 0 {
			res.Agents[i] = append(res.Agents[i], PartyCall{From: ani, To: fmt.Sprintf("agent%d", i+1)})
			continue
		}
		for i, p := range c.Customers {
			if strings.Contains(e.Text, p.Number) {
				res.Customers[i] = append(res.Customers[i], PartyCall{From: ani, To: p.Number})
				break
			}
		}
	}
	for i := range res.Callers {
		res.Callers[i].Detail = strings.Join(detail[i], "; ")
	}
}

func simAgentIndex(c Case, endpoint string) int {
	for i := range c.Agents {
		if SimAgent(i) == endpoint {
			return i
		}
	}
	return -1
}
