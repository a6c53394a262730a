package freeswitch

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/adapter/switchtest"
	"github.com/callflow/callflow/clock"
	"github.com/callflow/callflow/esl/esltest"
)

// esltestHarness runs switchtest cases against the driver and an esltest
// server in real time (TimeScale 1): callers are DialOutbound sessions
// whose timelines the harness plays with SendDTMF and Hangup, agents and
// customers are scripted endpoints (user/agentN,
// sofia/gateway/trunk/E164).
type esltestHarness struct{ log *zap.Logger }

func (h *esltestHarness) Name() string { return "freeswitch-esltest" }

// harnessTrunk is the customer dial template; harnessCustomer applies it.
const harnessTrunk = "sofia/gateway/trunk/{e164}"

func harnessAgent(i int) string          { return fmt.Sprintf("user/agent%d", i+1) }
func harnessCustomer(e164 string) string { return strings.ReplaceAll(harnessTrunk, "{e164}", e164) }
func harnessFate(p switchtest.Party) esltest.Fate {
	switch p.Behaviour {
	case switchtest.Busy:
		return esltest.Fate{Outcome: esltest.Busy}
	case switchtest.NoAnswer:
		return esltest.Fate{Outcome: esltest.NoAnswer}
	}
	return esltest.Fate{Outcome: esltest.Answer, After: p.AnswerAfter}
}

var originateRx = regexp.MustCompile(`^bgapi originate \{(?:\^\^.)?origination_uuid=([A-Za-z0-9._-]+)`)

func (h *esltestHarness) Run(t *testing.T, c switchtest.Case) *switchtest.Result {
	t.Helper()
	srv, err := esltest.NewServer(esltest.Options{TimeScale: 1, PlaybackLength: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for i, p := range c.Agents {
		srv.Script(harnessAgent(i), harnessFate(p))
	}
	for _, p := range c.Customers {
		srv.Script(harnessCustomer(p.Number), harnessFate(p))
	}
	sw, err := New(Config{Inbound: srv.Addr(), Password: "ClueCon", OutboundListen: "127.0.0.1:0", RecordDir: "/srv/rec"}, h.log)
	if err != nil {
		t.Fatal(err)
	}
	env := switchtest.NewEnv(switchtest.EnvConfig{Switch: sw, Clock: clock.Real{}, Log: h.log,
		TempDir: t.TempDir(), Agent: harnessAgent, Trunk: harnessTrunk})
	res := &switchtest.Result{Harness: h.Name(), Tolerance: 400 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var mu sync.Mutex
	var handlers sync.WaitGroup
	served := make(chan error, 1)
	go func() { // ends with ctx
		served <- sw.Serve(ctx, func(ctx context.Context, call adapter.Call) {
			handlers.Add(1)
			defer handlers.Done()
			err := c.Handler(ctx, env, call)
			mu.Lock()
			defer mu.Unlock()
			res.Handled++
			if err != nil {
				res.HandlerErrors = append(res.HandlerErrors, fmt.Errorf("%s: %w", call.ID(), err))
			}
		})
	}()
	select {
	case <-sw.Ready():
	case err := <-served:
		t.Fatalf("serve: %v", err)
	}
	cleanup := func() {}
	if c.Setup != nil {
		cl, err := c.Setup(ctx, env)
		if err != nil {
			t.Fatalf("setup: %v", err)
		}
		if cl != nil {
			cleanup = cl
		}
	}
	t0 := time.Now()
	// Parties with a Hold hang up that long after they answered.
	stopHold := h.holdParties(ctx, srv, c)
	outcomes := make([]switchtest.CallerOutcome, len(c.Callers))
	var callers sync.WaitGroup
	for i, cs := range c.Callers {
		oc, err := srv.DialOutbound(ctx, sw.OutboundAddr(), esltest.Caller{Number: cs.From, Destination: cs.To})
		if err != nil {
			t.Fatal(err)
		}
		callers.Add(1)
		go func() { // ends when the caller's socket closed
			defer callers.Done()
			outcomes[i] = playCaller(ctx, srv, oc, cs)
		}()
	}
	callers.Wait()
	handlers.Wait()
	stopHold()
	cleanup()
	res.Elapsed = time.Since(t0)
	cancel()
	<-served
	res.Observed = env.Observed()
	res.Callers = outcomes
	res.Agents, res.Customers = partyCalls(srv, c)
	return res
}

// playCaller plays a caller's timeline from its answer and reports what
// the caller saw.
func playCaller(ctx context.Context, srv *esltest.Server, oc *esltest.OutboundCall, cs switchtest.CallerScript) switchtest.CallerOutcome {
	var o switchtest.CallerOutcome
	ended := func() bool {
		select {
		case <-oc.Done():
			return true
		default:
		}
		ch, _ := srv.Channel(oc.UUID)
		return ch.HungUp
	}
	sleep := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return !ended()
		case <-oc.Done():
			return false
		case <-ctx.Done():
			return false
		}
	}
	for !ended() {
		if ch, _ := srv.Channel(oc.UUID); ch.Answered {
			break
		}
		if !sleep(2 * time.Millisecond) {
			break
		}
	}
	hungUp := false
steps:
	for _, st := range cs.Steps {
		if ended() {
			break
		}
		switch st.Kind {
		case switchtest.StepPause, switchtest.StepAudio:
			if !sleep(st.D) {
				break steps
			}
		case switchtest.StepDTMF:
			for i := 0; i < len(st.Digits); i++ {
				srv.SendDTMF(oc.UUID, st.Digits[i:i+1])
				if !sleep(switchtest.DigitGap) {
					break steps
				}
			}
		case switchtest.StepHangup:
			hungUp = oc.Hangup("NORMAL_CLEARING")
		}
	}
	select {
	case <-oc.Done():
	case <-ctx.Done():
	}
	ch, _ := srv.Channel(oc.UUID)
	o.Answered = ch.Answered
	o.HungUpBy = switchtest.BySwitch
	if hungUp {
		o.HungUpBy = switchtest.ByCaller
	}
	o.Cause = ParseCause(ch.Cause, "")
	o.Detail = fmt.Sprintf("esltest channel %s cause %s", ch.UUID, ch.Cause)
	return o
}

// holdParties hangs up answered parties with a Hold after that long.
func (h *esltestHarness) holdParties(ctx context.Context, srv *esltest.Server, c switchtest.Case) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // ends with ctx (stop)
		defer wg.Done()
		answeredAt := map[string]time.Time{}
		for ctx.Err() == nil {
			for _, cmd := range srv.Received() {
				m := originateRx.FindStringSubmatch(cmd.Line)
				if m == nil {
					continue
				}
				ch, ok := srv.Channel(m[1])
				p, isParty := partyOf(c, ch.Name)
				if !ok || !isParty || p.Hold <= 0 || !ch.Answered || ch.HungUp {
					continue
				}
				if at, seen := answeredAt[m[1]]; !seen {
					answeredAt[m[1]] = time.Now()
				} else if time.Since(at) >= p.Hold {
					srv.Hangup(m[1], "NORMAL_CLEARING")
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return func() { cancel(); wg.Wait() }
}

func partyOf(c switchtest.Case, endpoint string) (switchtest.Party, bool) {
	for i, p := range c.Agents {
		if harnessAgent(i) == endpoint {
			return p, true
		}
	}
	for _, p := range c.Customers {
		if harnessCustomer(p.Number) == endpoint {
			return p, true
		}
	}
	return switchtest.Party{}, false
}

// partyCalls lists the originates each party received, with the ANI the
// channel carried.
func partyCalls(srv *esltest.Server, c switchtest.Case) (agents, customers [][]switchtest.PartyCall) {
	agents, customers = make([][]switchtest.PartyCall, len(c.Agents)), make([][]switchtest.PartyCall, len(c.Customers))
	for _, cmd := range srv.Received() {
		m := originateRx.FindStringSubmatch(cmd.Line)
		if m == nil {
			continue
		}
		ch, ok := srv.Channel(m[1])
		if !ok {
			continue
		}
		ani := ch.Vars["origination_caller_id_number"]
		for i := range c.Agents {
			if harnessAgent(i) == ch.Name {
				agents[i] = append(agents[i], switchtest.PartyCall{From: ani, To: fmt.Sprintf("agent%d", i+1)})
			}
		}
		for i, p := range c.Customers {
			if harnessCustomer(p.Number) == ch.Name {
				customers[i] = append(customers[i], switchtest.PartyCall{From: ani, To: p.Number})
			}
		}
	}
	return agents, customers
}

// TestConformance runs the shared suite on the esltest harness: every
// case, none skipped.
func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("conformance suite runs in real time")
	}
	h := &esltestHarness{log: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))}
	switchtest.Run(t, h)
}
