// Package sippharness plays switchtest cases on a real switch with sipp:
// sipp callers (RTP audio, RFC 4733 DTMF) dial the switch's SIP port, sipp
// UAS answer as the agents and as the customer trunk. The Asterisk and the
// FreeSWITCH conformance runs share it; only the switch, its SIP port and
// how it reaches a UAS differ (Config).
package sippharness

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/adapter/switchtest"
	"github.com/callflow/callflow/clock"
	"github.com/callflow/callflow/internal/sipptest"
)

// Config describes the switch a Harness plays on.
type Config struct {
	Name   string
	Switch adapter.Switch
	Log    *zap.Logger
	// SIPPort is the switch's SIP port on 127.0.0.1; callers dial it.
	SIPPort int
	// AgentPorts are the UAS ports the switch's agent endpoints reach, in
	// order; nil lets every case pick free ports.
	AgentPorts []int
	// CustomerPort is the UAS port of the customer trunk; 0 picks one.
	CustomerPort int
	// Agent is the endpoint of agent i whose UAS listens on port.
	Agent func(i, port int) string
	// Trunk is the customer dial template ("{e164}" is the number) for a
	// UAS listening on port.
	Trunk func(port int) string
	// Reset, when set, runs before each case (hang up leftovers).
	Reset func(ctx context.Context) error
	// Tolerance bounds timing comparisons.
	Tolerance time.Duration
	// CaseTimeout bounds one case (default 45 s).
	CaseTimeout time.Duration
}

// Harness runs cases on the switch of its Config. One Switch serves the
// whole run; cases run one at a time and the current one's handler takes
// every inbound call (Route).
type Harness struct {
	cfg Config

	mu      sync.Mutex
	current func(ctx context.Context, c adapter.Call)
}

// New returns a Harness; pass its Route to the Switch's Serve.
func New(cfg Config) *Harness {
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.CaseTimeout == 0 {
		cfg.CaseTimeout = 45 * time.Second
	}
	return &Harness{cfg: cfg}
}

// Name is Config.Name.
func (h *Harness) Name() string { return h.cfg.Name }

// Route hands an inbound call to the running case's handler.
func (h *Harness) Route(ctx context.Context, c adapter.Call) {
	h.mu.Lock()
	run := h.current
	h.mu.Unlock()
	if run == nil {
		h.cfg.Log.Warn("inbound call with no case running", zap.String("call_id", c.ID()))
		return
	}
	run(ctx, c)
}

// Steps maps a timeline onto a sipp caller; a timeline without Hangup
// waits for the switch's BYE.
func Steps(cs switchtest.CallerScript) []sipptest.Step {
	var out []sipptest.Step
	for _, s := range cs.Steps {
		switch s.Kind {
		case switchtest.StepPause:
			out = append(out, sipptest.Pause(s.D))
		case switchtest.StepDTMF:
			out = append(out, sipptest.DTMF(s.Digits))
		case switchtest.StepAudio:
			out = append(out, sipptest.Audio(s.D))
		case switchtest.StepHangup:
			out = append(out, sipptest.Hangup())
		}
	}
	if !cs.HangsUp() {
		out = append(out, sipptest.ExpectBye())
	}
	return out
}

// UASOptions maps a party onto a sipp UAS.
func UASOptions(p switchtest.Party, port int, logf func(string, ...any)) sipptest.UASOptions {
	opt := sipptest.UASOptions{Port: port, RingFor: p.AnswerAfter, Hold: p.Hold, Logf: logf}
	switch p.Behaviour {
	case switchtest.Busy:
		opt.Mode = sipptest.Busy
	case switchtest.NoAnswer:
		opt.Mode = sipptest.NoAnswer
	default:
		opt.Mode = sipptest.Answer
	}
	return opt
}

// Run plays c: UAS for its parties, one sipp caller per CallerScript.
func (h *Harness) Run(t *testing.T, c switchtest.Case) *switchtest.Result {
	t.Helper()
	name := h.cfg.Name
	if h.cfg.AgentPorts != nil && len(c.Agents) > len(h.cfg.AgentPorts) {
		t.Fatalf("%s harness: %d agents, the switch has %d", name, len(c.Agents), len(h.cfg.AgentPorts))
	}
	if len(c.Customers) > 1 {
		t.Fatalf("%s harness: %d customers, the test trunk has one UAS", name, len(c.Customers))
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.CaseTimeout)
	defer cancel()
	if h.cfg.Reset != nil {
		if err := h.cfg.Reset(ctx); err != nil {
			t.Fatalf("%s: reset: %v", name, err)
		}
	}
	start := func(p switchtest.Party, port int) *sipptest.UAS {
		u, err := sipptest.StartUAS(ctx, UASOptions(p, port, t.Logf))
		if err != nil {
			t.Fatalf("%s harness: %v", name, err)
		}
		t.Cleanup(func() {
			if err := u.Stop(); err != nil {
				t.Errorf("%v", err)
			}
		})
		return u
	}
	agents := make([]*sipptest.UAS, len(c.Agents))
	for i, p := range c.Agents {
		port := 0
		if h.cfg.AgentPorts != nil {
			port = h.cfg.AgentPorts[i]
		}
		agents[i] = start(p, port)
	}
	customers := make([]*sipptest.UAS, len(c.Customers))
	custPort := h.cfg.CustomerPort
	for i, p := range c.Customers {
		customers[i] = start(p, h.cfg.CustomerPort)
		custPort = customers[i].Port
	}
	agentEndpoint := func(i int) string {
		port := 0
		switch {
		case i < len(agents):
			port = agents[i].Port
		case h.cfg.AgentPorts != nil && i < len(h.cfg.AgentPorts):
			port = h.cfg.AgentPorts[i]
		}
		return h.cfg.Agent(i, port)
	}
	env := switchtest.NewEnv(switchtest.EnvConfig{
		Switch: h.cfg.Switch, Clock: clock.Real{}, Log: h.cfg.Log, TempDir: t.TempDir(),
		Agent: agentEndpoint, Trunk: h.cfg.Trunk(custPort),
	})
	if c.Setup != nil {
		cleanup, err := c.Setup(ctx, env)
		if err != nil {
			t.Fatalf("%s harness: setup: %v", name, err)
		}
		if cleanup != nil {
			defer cleanup()
		}
	}
	res := &switchtest.Result{Harness: name, Tolerance: h.cfg.Tolerance}
	var (
		mu      sync.Mutex
		handled int     // guarded by mu: handlers may outlive a timed-out case
		herrs   []error // guarded by mu
	)
	// finished gets one token per handler run; extra runs (a stray call)
	// never block.
	finished := make(chan struct{}, len(c.Callers))
	h.mu.Lock()
	h.current = func(_ context.Context, call adapter.Call) {
		err := c.Handler(ctx, env, call)
		mu.Lock()
		handled++
		if err != nil {
			herrs = append(herrs, fmt.Errorf("%s: %w", call.ID(), err))
		}
		mu.Unlock()
		select {
		case finished <- struct{}{}:
		default:
		}
	}
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		h.current = nil
		h.mu.Unlock()
	}()

	t0 := time.Now()
	type outcome struct {
		res sipptest.Result
		err error
	}
	outs := make([]outcome, len(c.Callers))
	var callers sync.WaitGroup
	for i, cs := range c.Callers {
		callers.Add(1)
		// Ends when sipp exits: the scenario ends or ctx does.
		go func() {
			defer callers.Done()
			r, err := sipptest.RunCaller(ctx, sipptest.Caller{Extension: cs.To, From: cs.From, Events: Steps(cs)}, h.cfg.SIPPort)
			outs[i] = outcome{r, err}
		}()
	}
	callers.Wait()
	for range c.Callers {
		select {
		case <-finished:
			continue
		case <-ctx.Done():
			t.Errorf("%s harness: handlers still running when the case timed out", name)
		}
		break
	}
	res.Elapsed = time.Since(t0)
	res.Observed = env.Observed()
	mu.Lock()
	res.Handled, res.HandlerErrors = handled, append([]error(nil), herrs...)
	mu.Unlock()

	for _, o := range outs {
		defer o.res.Cleanup()
		if o.err != nil && !errors.Is(o.err, sipptest.ErrCallFailed) {
			t.Errorf("%s harness: caller: %v\n%s", name, o.err, o.res.Screen)
		}
		res.Callers = append(res.Callers, Outcome(o.res, o.err))
	}
	res.Agents = make([][]switchtest.PartyCall, len(agents))
	for i, u := range agents {
		res.Agents[i] = PartyCalls(u)
	}
	res.Customers = make([][]switchtest.PartyCall, len(customers))
	for i, u := range customers {
		res.Customers[i] = PartyCalls(u)
	}
	return res
}

// PartyCalls lists the calls a UAS received.
func PartyCalls(u *sipptest.UAS) []switchtest.PartyCall {
	var out []switchtest.PartyCall
	for _, c := range u.Calls() {
		out = append(out, switchtest.PartyCall{From: c.From, To: c.To})
	}
	return out
}
