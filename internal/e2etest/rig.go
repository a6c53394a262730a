package e2etest

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/callflow/callflow/internal/asterisktest"
	"github.com/callflow/callflow/internal/sipptest"
)

// CallRun is a sipp caller running in the background.
type CallRun struct {
	Caller sipptest.Caller
	done   chan struct{}
	res    sipptest.Result
	err    error
}

// StartCaller places c against Asterisk's SIP port in the background. The
// run ends when sipp's scenario ends (sipp bounds it with its own timeout)
// or ctx is done.
func StartCaller(ctx context.Context, c sipptest.Caller, sipPort int) *CallRun {
	r := &CallRun{Caller: c, done: make(chan struct{})}
	go func() { // ends with the sipp run
		defer close(r.done)
		r.res, r.err = sipptest.RunCaller(ctx, c, sipPort)
	}()
	return r
}

// Done is closed when the caller's sipp run has ended.
func (r *CallRun) Done() <-chan struct{} { return r.done }

// Wait waits for the run (at most d) and returns its result; the caller
// should Cleanup the result's folder.
func (r *CallRun) Wait(d time.Duration) (sipptest.Result, error) {
	select {
	case <-r.done:
		return r.res, r.err
	case <-time.After(d):
		return sipptest.Result{}, fmt.Errorf("e2etest: caller %s from %s still running after %v", r.Caller.Extension, r.Caller.From, d)
	}
}

// RigOptions configure NewRig.
type RigOptions struct {
	// Switch is the switch the rig runs on: Asterisk (default) or
	// FreeSWITCH.
	Switch  string
	Service Options
	// AgentModes is the mode of each agent's phone, agent1 first; its
	// length is the number of agents (default one answering agent).
	AgentModes []sipptest.Mode
	// AgentHold: an answering agent hangs up after this (0: waits for BYE).
	AgentHold time.Duration
	// AgentRingFor: an answering agent's phone rings this long before it
	// answers (0: at once).
	AgentRingFor time.Duration
	// CustomerMode and CustomerHold for the customer trunk's phone.
	CustomerMode sipptest.Mode
	CustomerHold time.Duration
}

// Rig is one test's set-up: a switch (Asterisk or FreeSWITCH), a callflow
// service of its own, a phone per agent and the customers' phone.
type Rig struct {
	T   testing.TB
	PBX *PBX
	// Ast is the Asterisk when the rig runs on Asterisk, else nil.
	Ast      *asterisktest.Asterisk
	Svc      *Service
	Agents   []*Phone
	Customer *Phone
}

// NewRig requires the switch (RequirePBX: Asterisk fails when it cannot
// run, skipped only on CALLFLOW_SKIP_ASTERISK=1; FreeSWITCH skipped when not
// installed, outside CI only), starts the phones and the service, and
// stops everything in t.Cleanup. When the test failed, the cleanup logs the
// trace, the service's log and the phones' SIP logs.
func NewRig(t testing.TB, opt RigOptions) *Rig {
	t.Helper()
	pbx := RequirePBX(t, opt.Switch)
	ast := pbx.Ast
	r := &Rig{T: t, PBX: pbx, Ast: ast}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	modes := opt.AgentModes
	if len(modes) == 0 {
		modes = []sipptest.Mode{sipptest.Answer}
	}
	if len(modes) > len(pbx.AgentPorts) {
		t.Fatalf("e2etest: %d agents, the switch has %d", len(modes), len(pbx.AgentPorts))
	}
	t.Cleanup(r.cleanup)
	for i, m := range modes {
		p, err := StartPhone(ctx, "agent"+strconv.Itoa(i+1), sipptest.UASOptions{
			Port: pbx.AgentPorts[i], Mode: m, Hold: opt.AgentHold, RingFor: opt.AgentRingFor, Logf: t.Logf,
		})
		if err != nil {
			t.Fatal(err)
		}
		r.Agents = append(r.Agents, p)
	}
	p, err := StartPhone(ctx, "customer", sipptest.UASOptions{
		Port: pbx.CustomerPort, Mode: opt.CustomerMode, Hold: opt.CustomerHold, Logf: t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	r.Customer = p
	so := opt.Service
	so.Agents = len(modes)
	if so.Logf == nil {
		so.Logf = t.Logf
	}
	if r.Svc, err = StartOn(ctx, pbx, so); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *Rig) cleanup() {
	t := r.T
	if r.Svc != nil {
		if t.Failed() || testing.Verbose() {
			t.Logf("trace:\n%s", r.Svc.TraceText())
			t.Logf("callflow log (tail):\n%s", r.Svc.LogTail(60))
		}
		if err := r.Svc.Stop(); err != nil {
			t.Errorf("%v", err)
		}
	}
	for _, p := range append(append([]*Phone(nil), r.Agents...), r.Customer) {
		if p == nil {
			continue
		}
		if err := p.Stop(); err != nil {
			t.Errorf("%v", err)
		}
		if t.Failed() {
			t.Logf("%s", p.Log())
		}
	}
}

// Call starts a caller against the rig's switch; the run is bounded by
// sipp's own timeout.
func (r *Rig) Call(c sipptest.Caller) *CallRun {
	return StartCaller(context.Background(), c, r.PBX.SIPPort)
}

// Finish waits for a caller and fails the test when sipp reports a
// failed call; it removes sipp's folder.
func (r *Rig) Finish(run *CallRun, d time.Duration) sipptest.Result {
	r.T.Helper()
	res, err := run.Wait(d)
	if res.Dir != "" {
		defer res.Cleanup()
	}
	if err != nil {
		r.T.Fatalf("caller from %s: %v\n%s\n%s", run.Caller.From, err, res.Errors, res.Messages)
	}
	return res
}

// Event waits (at most d) for the first trace event m selects, or fails
// the test.
func (r *Rig) Event(d time.Duration, m Match) Event {
	r.T.Helper()
	e, err := r.Svc.WaitEventFor(d, m)
	if err != nil {
		r.T.Fatal(err)
	}
	return e
}

// InboundCall waits (at most d) for the (n+1)-th caller's call id.
func (r *Rig) InboundCall(d time.Duration, n int) string {
	r.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	id, err := r.Svc.WaitInboundCall(ctx, n)
	if err != nil {
		r.T.Fatal(err)
	}
	return id
}

// Trace returns the trace so far or fails the test.
func (r *Rig) Trace() []Event {
	r.T.Helper()
	evs, err := r.Svc.Trace()
	if err != nil {
		r.T.Fatal(err)
	}
	return evs
}

// Ctx returns a context that ends after d and with the test.
func (r *Rig) Ctx(d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	r.T.Cleanup(cancel)
	return ctx
}
