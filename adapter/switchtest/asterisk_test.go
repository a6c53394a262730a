package switchtest_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/adapter/asterisk"
	"github.com/callflow/callflow/adapter/switchtest"
	"github.com/callflow/callflow/ari"
	"github.com/callflow/callflow/clock"
	"github.com/callflow/callflow/internal/asterisktest"
	"github.com/callflow/callflow/internal/sipptest"
)

func TestMain(m *testing.M) { os.Exit(asterisktest.Main(m)) }

// AsteriskTolerance bounds timing comparisons on the real switch: SIP and
// RTP set-up, DTMF event latency and ARI round trips on a loaded 2-core
// machine (measured: at most 130 ms late, record max aside).
const AsteriskTolerance = 500 * time.Millisecond

// asteriskCaseTimeout bounds one case (sipp callers, UAS, handlers).
const asteriskCaseTimeout = 45 * time.Second

func TestAsterisk(t *testing.T) {
	if testing.Short() {
		t.Skip("real Asterisk: skipped with -short")
	}
	a := asterisktest.Require(t)
	h := newAsteriskHarness(t, a)
	t0 := time.Now()
	switchtest.Run(t, h)
	t.Logf("asterisk: whole suite took %v", time.Since(t0).Round(time.Millisecond))
}

// asteriskHarness plays cases on the real Asterisk: sipp callers dial the
// Stasis extension, sipp UAS answer as agents and as the customer trunk.
// One Switch serves the whole run (one Stasis websocket); cases run one
// at a time and the current one's handler takes every inbound call.
type asteriskHarness struct {
	a   *asterisktest.Asterisk
	sw  *asterisk.Switch
	log *zap.Logger

	mu      sync.Mutex
	current func(ctx context.Context, c adapter.Call)
}

func newAsteriskHarness(t *testing.T, a *asterisktest.Asterisk) *asteriskHarness {
	t.Helper()
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	sw, err := asterisk.New(asterisk.Config{
		ARI: ari.Config{BaseURL: a.ARIURL, User: a.User, Pass: a.Pass, App: a.App, RequestTimeout: 5 * time.Second},
	}, log)
	if err != nil {
		t.Fatalf("asterisk: %v", err)
	}
	h := &asteriskHarness{a: a, sw: sw, log: log}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	// Serve ends when stop is called in Cleanup.
	go func() { served <- sw.Serve(ctx, h.route) }()
	t.Cleanup(func() {
		stop()
		if err := <-served; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("serve: %v", err)
		}
	})
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := sw.WaitConnected(wctx); err != nil {
		t.Fatalf("asterisk: connect: %v", err)
	}
	return h
}

func (h *asteriskHarness) Name() string { return "asterisk" }

func (h *asteriskHarness) route(ctx context.Context, c adapter.Call) {
	h.mu.Lock()
	run := h.current
	h.mu.Unlock()
	if run == nil {
		h.log.Warn("inbound call with no case running", zap.String("call_id", c.ID()))
		return
	}
	run(ctx, c)
}

func agentEndpoint(i int) string { return fmt.Sprintf("PJSIP/agent%d", i+1) }

// asteriskTrunk reaches the customer UAS through the test Asterisk's trunk.
const asteriskTrunk = "PJSIP/{e164}@customer"

// sippSteps maps a timeline onto a sipp caller; a timeline without Hangup
// waits for the switch's BYE.
func sippSteps(cs switchtest.CallerScript) []sipptest.Step {
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

func uasOptions(p switchtest.Party, port int, logf func(string, ...any)) sipptest.UASOptions {
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

func (h *asteriskHarness) Run(t *testing.T, c switchtest.Case) *switchtest.Result {
	t.Helper()
	if len(c.Agents) > len(h.a.AgentPorts) {
		t.Fatalf("asterisk harness: %d agents, the test Asterisk has %d", len(c.Agents), len(h.a.AgentPorts))
	}
	if len(c.Customers) > 1 {
		t.Fatalf("asterisk harness: %d customers, the test trunk has one UAS", len(c.Customers))
	}
	ctx, cancel := context.WithTimeout(context.Background(), asteriskCaseTimeout)
	defer cancel()
	if err := h.a.Reset(ctx); err != nil {
		t.Fatalf("asterisk: reset: %v", err)
	}
	start := func(p switchtest.Party, port int) *sipptest.UAS {
		u, err := sipptest.StartUAS(ctx, uasOptions(p, port, t.Logf))
		if err != nil {
			t.Fatalf("asterisk harness: %v", err)
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
		agents[i] = start(p, h.a.AgentPorts[i])
	}
	customers := make([]*sipptest.UAS, len(c.Customers))
	for i, p := range c.Customers {
		customers[i] = start(p, h.a.CustomerPort)
	}

	env := switchtest.NewEnv(switchtest.EnvConfig{
		Switch: h.sw, Clock: clock.Real{}, Log: h.log, TempDir: t.TempDir(), Agent: agentEndpoint, Trunk: asteriskTrunk,
	})
	if c.Setup != nil {
		cleanup, err := c.Setup(ctx, env)
		if err != nil {
			t.Fatalf("asterisk harness: setup: %v", err)
		}
		if cleanup != nil {
			defer cleanup()
		}
	}
	res := &switchtest.Result{Harness: h.Name(), Tolerance: AsteriskTolerance}
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
			r, err := sipptest.RunCaller(ctx, sipptest.Caller{Extension: cs.To, From: cs.From, Events: sippSteps(cs)}, h.a.SIPPort)
			outs[i] = outcome{r, err}
		}()
	}
	callers.Wait()
	for range c.Callers {
		select {
		case <-finished:
			continue
		case <-ctx.Done():
			t.Errorf("asterisk harness: handlers still running when the case timed out")
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
			t.Errorf("asterisk harness: caller: %v\n%s", o.err, o.res.Screen)
		}
		res.Callers = append(res.Callers, sippOutcome(o.res, o.err))
	}
	res.Agents = make([][]switchtest.PartyCall, len(agents))
	for i, u := range agents {
		res.Agents[i] = partyCalls(u)
	}
	res.Customers = make([][]switchtest.PartyCall, len(customers))
	for i, u := range customers {
		res.Customers[i] = partyCalls(u)
	}
	return res
}

func partyCalls(u *sipptest.UAS) []switchtest.PartyCall {
	var out []switchtest.PartyCall
	for _, c := range u.Calls() {
		out = append(out, switchtest.PartyCall{From: c.From, To: c.To})
	}
	return out
}

// sipMessage is one SIP message of sipp's -trace_msg log.
type sipMessage struct {
	received bool
	first    string // request or status line
	headers  map[string]string
}

// msgHead starts a message in sipp's -trace_msg log, e.g. "UDP message
// sent (511 bytes):", "UDP message received [252] bytes :" or
// "Unexpected UDP message received:" (a repeat of one already logged).
var msgHead = regexp.MustCompile(`(?i)^(unexpected )?\w+ message (received|sent)\b`)

// parseMessages reads the first line and the headers of every message of
// sipp's message trace; a repeat logged as unexpected is skipped.
func parseMessages(log string) []sipMessage {
	var msgs []sipMessage
	var cur *sipMessage
	inHeaders := false
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if m := msgHead.FindStringSubmatch(line); m != nil {
			cur, inHeaders = nil, false
			if m[1] == "" {
				msgs = append(msgs, sipMessage{received: strings.EqualFold(m[2], "received"), headers: map[string]string{}})
				cur = &msgs[len(msgs)-1]
			}
			continue
		}
		switch {
		case cur == nil:
		case cur.first == "":
			if line != "" {
				cur.first, inHeaders = line, true
			}
		case line == "":
			inHeaders = false
		case inHeaders:
			if k, v, ok := strings.Cut(line, ":"); ok {
				k = strings.ToLower(strings.TrimSpace(k))
				if _, dup := cur.headers[k]; !dup {
					cur.headers[k] = strings.TrimSpace(v)
				}
			}
		}
	}
	return msgs
}

var q850 = regexp.MustCompile(`(?i)Q\.850\s*;\s*cause\s*=\s*(\d+)`)

// sipStatusCause maps a final SIP response to the cause it carries
// (RFC 3398 in reverse, for the statuses Asterisk sends).
func sipStatusCause(code int) adapter.Cause {
	switch code {
	case 404, 484:
		return adapter.CauseUnallocated
	case 486, 600:
		return adapter.CauseBusy
	case 408, 480:
		return adapter.CauseNoAnswer
	case 403, 603:
		return adapter.CauseRejected
	case 503:
		return adapter.CauseCongestion
	}
	return adapter.CauseFailure
}

// sippOutcome reads what the caller saw from its message trace.
func sippOutcome(r sipptest.Result, err error) switchtest.CallerOutcome {
	var o switchtest.CallerOutcome
	var lines []string
	for _, m := range parseMessages(r.Messages) {
		dir := "<-"
		if !m.received {
			dir = "->"
		}
		lines = append(lines, dir+" "+m.first)
		if !m.received {
			continue
		}
		cseq := strings.ToUpper(m.headers["cseq"])
		if code, ok := statusCode(m.first); ok && strings.HasSuffix(cseq, "INVITE") {
			switch {
			case code >= 200 && code < 300:
				o.Answered = true
			case code >= 300:
				o.HungUpBy = switchtest.BySwitch
				o.Cause = sipStatusCause(code)
				if rm := q850.FindStringSubmatch(m.headers["reason"]); rm != nil {
					n, _ := strconv.Atoi(rm[1])
					o.Cause = adapter.CauseFromQ850(n)
				}
			}
		}
		if strings.HasPrefix(m.first, "BYE ") {
			if rm := q850.FindStringSubmatch(m.headers["reason"]); rm != nil {
				n, _ := strconv.Atoi(rm[1])
				o.Cause = adapter.CauseFromQ850(n)
			}
		}
	}
	switch r.HungUpBy {
	case "remote":
		o.HungUpBy = switchtest.BySwitch
	case "local":
		o.HungUpBy = switchtest.ByCaller
	}
	o.Detail = fmt.Sprintf("sipp exit %d, hung up by %q, err %v: %s", r.ExitCode, r.HungUpBy, err, strings.Join(lines, "; "))
	return o
}

func statusCode(first string) (int, bool) {
	rest, ok := strings.CutPrefix(first, "SIP/2.0 ")
	if !ok || len(rest) < 3 {
		return 0, false
	}
	n, err := strconv.Atoi(rest[:3])
	return n, err == nil
}

// A trimmed sipp -trace_msg log of a caller rejected busy, and one of a
// call answered and ended by the switch with a Reason header.
const (
	sippRejected = `----------------------------------------------- 2026-11-25 15:17:28.990681
UDP message sent (511 bytes):

INVITE sip:200@127.0.0.1:5070 SIP/2.0
CSeq: 1 INVITE
Content-Type: application/sdp

v=0
a=rtpmap:8 PCMA/8000

----------------------------------------------- 2026-11-25 15:17:28.990863
UDP message received [252] bytes :

SIP/2.0 486 Busy Here
CSeq: 1 INVITE
Reason: Q.850;cause=17
Content-Length: 0


-----------------------------------------------
Unexpected UDP message received:

SIP/2.0 486 Busy Here
CSeq: 1 INVITE
`
	sippAnswered = `----------------------------------------------- 2026-11-25 15:17:28.990681
UDP message sent (511 bytes):

INVITE sip:200@127.0.0.1:5070 SIP/2.0
CSeq: 1 INVITE

----------------------------------------------- 2026-11-25 15:17:28.990863
UDP message received [252] bytes :

SIP/2.0 200 OK
CSeq: 1 INVITE

----------------------------------------------- 2026-11-25 15:17:29.990863
UDP message received [252] bytes :

BYE sip:sipp@127.0.0.1:40000 SIP/2.0
CSeq: 102 BYE
Reason: Q.850;cause=17

----------------------------------------------- 2026-11-25 15:17:29.990963
UDP message sent (100 bytes):

SIP/2.0 200 OK
CSeq: 102 BYE
`
)

func TestSippOutcome(t *testing.T) {
	tests := []struct {
		name string
		res  sipptest.Result
		err  error
		want switchtest.CallerOutcome
	}{
		{
			name: "rejected busy",
			res:  sipptest.Result{ExitCode: 1, Messages: sippRejected},
			err:  sipptest.ErrCallFailed,
			want: switchtest.CallerOutcome{HungUpBy: switchtest.BySwitch, Cause: adapter.CauseBusy},
		},
		{
			name: "rejected busy without reason",
			res:  sipptest.Result{ExitCode: 1, Messages: strings.ReplaceAll(sippRejected, "Reason: Q.850;cause=17\n", "")},
			err:  sipptest.ErrCallFailed,
			want: switchtest.CallerOutcome{HungUpBy: switchtest.BySwitch, Cause: adapter.CauseBusy},
		},
		{
			name: "answered, ended by the switch with a reason",
			res:  sipptest.Result{Messages: sippAnswered, HungUpBy: "remote"},
			want: switchtest.CallerOutcome{Answered: true, HungUpBy: switchtest.BySwitch, Cause: adapter.CauseBusy},
		},
		{
			name: "answered, the caller hung up",
			res:  sipptest.Result{Messages: sippAnswered[:strings.Index(sippAnswered, "-----------------------------------------------"+" 2026-11-25 15:17:29.990863")], HungUpBy: "local"},
			want: switchtest.CallerOutcome{Answered: true, HungUpBy: switchtest.ByCaller},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := sippOutcome(tc.res, tc.err)
			if got.Answered != tc.want.Answered || got.HungUpBy != tc.want.HungUpBy || got.Cause != tc.want.Cause {
				t.Errorf("outcome %+v, want %+v", got, tc.want)
			}
		})
	}
}
