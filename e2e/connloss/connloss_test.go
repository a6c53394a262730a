package connloss

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callflow/callflow/internal/e2etest"
	"github.com/callflow/callflow/internal/sipptest"
	"github.com/callflow/callflow/internal/tcpproxy"
)

// Dialled numbers of the test flows (testdata/flows).
const (
	extWait = "501" // straight into the queue, in-queue prompts then music
	extIVR  = "502" // an IVR with a pause, a prompt, then the queue
)

const (
	nEarly     = 4 // waiting callers on music at the cut
	nLate      = 3 // waiting callers in the in-queue flow's prompts at the cut
	nIVR       = 2 // callers in the IVR at the cut
	nCallbacks = 2 // callbacks waiting in the line at the cut
	nGap       = 1 // callers who dial while the connection is cut
)

const (
	// cutFor is how long the control connection stays cut.
	cutFor = 5 * time.Second
	// callerLife is how long after its answer every caller (but the
	// conversation's) stays on the line before hanging up itself.
	callerLife = 90 * time.Second
	// convLife: the conversation's caller hangs up after this, well after
	// the restore.
	convLife = 40 * time.Second
	// agentHold: the serving agents hang up after this.
	agentHold = 3 * time.Second
)

func TestControlConnectionCut(t *testing.T) { e2etest.EachSwitch(t, testCut) }

// caller is one sipp caller of the scenario.
type caller struct {
	name, from string
	run        *e2etest.CallRun
}

func testCut(t *testing.T, sw string) {
	flows, err := filepath.Abs("testdata/flows")
	if err != nil {
		t.Fatal(err)
	}
	// Closed after the rig's cleanup (registered first, run last), so the
	// service stops with its switch reachable.
	var proxy *tcpproxy.Proxy
	t.Cleanup(func() {
		if proxy != nil {
			proxy.Close()
		}
	})
	// agent1 and agent3 answer busy until the restore: the line stands
	// still but the dispatcher keeps offering its head to them (agent
	// retry 2 s), so offers are under way when the connection is cut.
	// agent2 takes the conversation and holds until the caller hangs up.
	r := e2etest.NewRig(t, e2etest.RigOptions{
		Switch: sw,
		Service: e2etest.Options{
			FlowsDir: flows, DefaultFlow: "wait",
			ByDialed:   map[string]string{extWait: "wait", extIVR: "ivr"},
			AgentRetry: 2 * time.Second,
			ControlVia: func(addr string) (string, error) {
				p, err := tcpproxy.Start(addr, t.Logf)
				if err != nil {
					return "", err
				}
				proxy = p
				return p.Addr(), nil
			},
		},
		AgentModes:   []sipptest.Mode{sipptest.Busy, sipptest.Answer, sipptest.Busy},
		CustomerMode: sipptest.Answer, CustomerHold: time.Second,
	})
	var callers []*caller
	dial := func(name, from, ext string, steps ...sipptest.Step) *caller {
		c := &caller{name: name, from: from}
		c.run = r.Call(sipptest.Caller{Extension: ext, From: from, Events: append(steps, sipptest.Hangup())})
		callers = append(callers, c)
		return c
	}

	// The conversation: agent1 is busy, agent2 answers.
	dial("conv", "+420601200001", extWait, sipptest.Pause(convLife))
	connected := r.Event(20*time.Second, e2etest.Match{Source: "queue", Kind: "connected", Text: "agent2"})
	for i := range nEarly {
		dial(fmt.Sprintf("early%d", i+1), fmt.Sprintf("+42060130000%d", i+1), extWait, sipptest.Pause(callerLife))
		time.Sleep(300 * time.Millisecond)
	}
	cbNumbers := map[int64]string{}
	for i := range nCallbacks {
		n := fmt.Sprintf("+42060150000%d", i+1)
		cbNumbers[createCallback(t, r, n)] = n
	}
	time.Sleep(4 * time.Second) // the early callers' prompts end: music
	for i := range nLate {
		dial(fmt.Sprintf("late%d", i+1), fmt.Sprintf("+42060160000%d", i+1), extWait, sipptest.Pause(callerLife))
		time.Sleep(200 * time.Millisecond)
	}
	before := waitQueue(t, r, func(q e2etest.Queue) bool { return len(q.Entries) == nEarly+nCallbacks+nLate }, "the line")
	// The IVR callers last: their prompt is asked for during the cut.
	for i := range nIVR {
		dial(fmt.Sprintf("ivr%d", i+1), fmt.Sprintf("+42060170000%d", i+1), extIVR, sipptest.Pause(callerLife))
	}
	waitFlows(t, r, 1+nEarly+nLate+nIVR)
	time.Sleep(time.Second) // the cut falls into the IVR callers' pause
	ivrCalls := ivrCallers(r, before, connected.Call)
	if len(ivrCalls) != nIVR {
		t.Fatalf("IVR callers %q, want %d", ivrCalls, nIVR)
	}
	for _, e := range before.Entries {
		t.Logf("line before the cut: %d %-8s %-10s call %s cb %d %s", e.Position, e.Kind, e.State, e.CallID, e.CallbackID, e.Number)
	}

	// The cut: every connection reset, new ones refused for cutFor.
	acceptedBefore := proxy.Accepted()
	cutAt := time.Now()
	reset := proxy.Cut()
	if reset == 0 {
		t.Fatal("the cut found no open connection to the switch")
	}
	downAfter := waitHealth(t, r, false, cutFor)
	t.Logf("cut at %v: %d connections reset; /healthz down after %v", cutAt.Format("15:04:05.000"), reset, downAfter.Round(time.Millisecond))
	// A caller who dials into the gap: FreeSWITCH hands the call over on
	// the socket hand-off, which is not cut; Asterisk's Stasis() fails
	// while the application has no websocket, and the shipped dialplan
	// tries again every second.
	for i := range nGap {
		dial(fmt.Sprintf("gap%d", i+1), fmt.Sprintf("+42060180000%d", i+1), extWait, sipptest.Pause(callerLife))
	}
	time.Sleep(time.Until(cutAt.Add(cutFor)))
	cutIndex := len(r.Trace()) - 1
	proxy.Restore()
	restoredAt := time.Now()
	upAfter := waitHealth(t, r, true, 40*time.Second)
	t.Logf("restored after %v; /healthz up %v after the restore", restoredAt.Sub(cutAt).Round(time.Millisecond), upAfter.Round(time.Millisecond))
	if proxy.Accepted() <= acceptedBefore {
		t.Errorf("no connection through the proxy after the restore (accepted %d before, %d after)", acceptedBefore, proxy.Accepted())
	}
	// The serving agents answer from now on.
	for _, i := range []int{0, 2} {
		if err := r.Agents[i].SetMode(r.Ctx(30*time.Second), sipptest.Answer, agentHold); err != nil {
			t.Fatal(err)
		}
	}

	// Every entry of the line and every IVR caller is offered an agent
	// after the restore; the line's entries in its order.
	var want []string
	for _, e := range before.Entries {
		want = append(want, entryKey(e))
	}
	waitFlows(t, r, 1+nEarly+nLate+nIVR+nGap)
	var gapCalls []string
	for _, id := range e2etest.InboundCalls(r.Trace()) {
		if id != connected.Call && !slices.Contains(callersOf(before), id) && !slices.Contains(ivrCalls, id) {
			gapCalls = append(gapCalls, id)
		}
	}
	later := append(slices.Clone(ivrCalls), gapCalls...)
	offered, offeredAt := waitOffers(t, r, cutIndex, append(slices.Clone(want), later...), 100*time.Second)
	violations := orderViolations(t, want, offered, offeredAt)
	// Every caller is connected to an agent.
	for _, id := range append(callersOf(before), later...) {
		if _, err := r.Svc.WaitEventFor(60*time.Second, e2etest.Match{Call: id, Source: "queue", Kind: "connected", After: e2etest.After(cutIndex)}); err != nil {
			t.Errorf("caller %s never connected to an agent after the restore: %v", id, err)
		}
	}

	// The conversation spans the cut: completed once.
	ends := waitCount(t, r, e2etest.Match{Call: connected.Call, Source: "queue", Kind: "conversation_end"}, 1, convLife+30*time.Second)
	if len(ends) != 1 {
		t.Errorf("the conversation across the cut ended %d times, want once", len(ends))
	}

	// Callbacks: completed once, the customer dialled once each.
	lost, doubled := 0, 0
	for id, number := range cbNumbers {
		if !waitCallback(r, id, "completed", 60*time.Second) {
			t.Errorf("callback %d (%s) not completed", id, number)
			lost++
			continue
		}
		done := e2etest.Filter(r.Trace(), e2etest.Match{Call: fmt.Sprintf("cb-%d", id), Source: "callback", Kind: "completed"})
		invites := 0
		for _, c := range r.Customer.Calls() {
			if c.To == number {
				invites++
			}
		}
		if len(done) != 1 || invites != 1 {
			t.Errorf("callback %d (%s): completed %d times, customer called %d times; want once each", id, number, len(done), invites)
			doubled++
		}
	}

	// The driver saw the loss and re-synced.
	log := r.Svc.Log()
	logLines(t, log, "websocket down", "resynced", "reconnected", "re-synced", "retrying", "while the connection was down",
		"while the event socket was down", "after reconnect", "originate failed")
	resynced := "ari resynced"
	if sw == e2etest.FreeSWITCH {
		resynced = "esl reconnected"
	}
	if !strings.Contains(log, resynced) {
		t.Errorf("no %q in the service's log", resynced)
	}

	// Every caller hangs up by themselves: nobody was hung up by us.
	dropped := 0
	for _, c := range callers {
		res, err := c.run.Wait(callerLife + 60*time.Second)
		if res.Dir != "" {
			res.Cleanup()
		}
		switch {
		case err != nil && res.HungUpBy == "remote":
			t.Errorf("caller %s (%s) was hung up by callflow: %v", c.name, c.from, err)
			dropped++
		case err != nil:
			t.Errorf("caller %s (%s): %v\n%s", c.name, c.from, err, res.Errors)
			dropped++
		case res.HungUpBy != "local":
			t.Errorf("caller %s (%s) ended by %q, want local", c.name, c.from, res.HungUpBy)
			dropped++
		}
	}
	stranded := 0
	for _, k := range append(slices.Clone(want), later...) {
		if !slices.Contains(offered, k) {
			stranded++
		}
	}
	t.Logf("CONNLOSS (%s): cut %v, %d connections reset, detected after %.3fs, reconnected %.3fs after the restore; offered after the restore=%d/%d stranded=%d dropped=%d callbacks lost=%d doubled=%d order violations=%d conversation ends=%d",
		sw, cutFor, reset, downAfter.Seconds(), upAfter.Seconds(), len(offered), len(want)+len(later), stranded, dropped, lost, doubled, violations, len(ends))
}

// ivrCallers returns the call ids of the callers that ran a flow but were
// not in the line before the cut and are not the conversation: the IVR
// callers.
func ivrCallers(r *e2etest.Rig, before e2etest.Queue, conv string) []string {
	inLine := callersOf(before)
	var out []string
	for _, id := range e2etest.InboundCalls(r.Trace()) {
		if slices.Contains(inLine, id) || id == conv {
			continue
		}
		out = append(out, id)
	}
	return out
}

// callersOf returns the call ids of the line's callers (not callbacks).
func callersOf(q e2etest.Queue) []string {
	var out []string
	for _, e := range q.Entries {
		if e.CallbackID == 0 {
			out = append(out, e.CallID)
		}
	}
	return out
}

// entryKey names a line entry: its call id, or cb-N for a callback (as
// the trace names them).
func entryKey(e e2etest.QueueEntry) string {
	if e.CallbackID != 0 {
		return fmt.Sprintf("cb-%d", e.CallbackID)
	}
	return e.CallID
}

// waitHealth polls /healthz until it reports the switch connected (up) or
// not, and returns how long that took; it fails the test after d.
func waitHealth(t *testing.T, r *e2etest.Rig, up bool, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		resp, err := http.Get(r.Svc.APIURL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if (resp.StatusCode == http.StatusOK) == up {
				return time.Since(start)
			}
		}
		if time.Since(start) > d {
			t.Fatalf("/healthz did not turn %v within %v (last: %v)", map[bool]string{true: "up", false: "down"}[up], d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitQueue polls the line until ok accepts it.
func waitQueue(t *testing.T, r *e2etest.Rig, ok func(e2etest.Queue) bool, what string) e2etest.Queue {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		q, err := r.Svc.Queue(r.Ctx(10*time.Second), "support")
		if err == nil && ok(q) {
			return q
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: line %+v (err %v)", what, q.Entries, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitFlows waits until n inbound calls ran a flow.
func waitFlows(t *testing.T, r *e2etest.Rig, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for len(e2etest.InboundCalls(r.Trace())) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d calls ran a flow, want %d", len(e2etest.InboundCalls(r.Trace())), n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitOffers waits until every key of want was offered an agent after the
// trace index after (agent_offered for a caller, dialing_agent for a
// callback) and returns the keys in the order of their first offer, with
// its time.
func waitOffers(t *testing.T, r *e2etest.Rig, after int, want []string, d time.Duration) ([]string, map[string]time.Time) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		var order []string
		at := map[string]time.Time{}
		for _, e := range r.Trace() {
			if e.Index <= after || !slices.Contains(want, e.Call) || slices.Contains(order, e.Call) {
				continue
			}
			if e.Source == "queue" && e.Kind == "agent_offered" || e.Source == "callback" && e.Kind == "dialing_agent" {
				order = append(order, e.Call)
				at[e.Call] = e.At
			}
		}
		if len(order) == len(want) || time.Now().After(deadline) {
			if len(order) != len(want) {
				t.Errorf("offered after the restore: %q, want every one of %q", order, want)
			}
			return order, at
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// sameRound bounds how far apart two offers of one dispatch round may be
// traced: when two agents come free together the dispatcher offers the
// next two entries at once, and their trace events may come in either
// order; a callback's offer (dialing_agent) is traced only after its
// dialing state is committed. Agents hold each call agentHold (3 s), so
// offers of different rounds are further apart.
const sameRound = time.Second

// orderViolations counts entries of want offered before an entry that
// stood ahead of them in the line (keys not in want are ignored).
func orderViolations(t *testing.T, want, offered []string, at map[string]time.Time) int {
	t.Helper()
	rank := map[string]int{}
	for i, k := range want {
		rank[k] = i
	}
	var seq []string
	for _, k := range offered {
		if _, ok := rank[k]; ok {
			seq = append(seq, k)
		}
	}
	n := 0
	for i := 1; i < len(seq); i++ {
		prev, cur := seq[i-1], seq[i]
		if rank[cur] > rank[prev] {
			continue
		}
		if at[cur].Sub(at[prev]) <= sameRound {
			t.Logf("%s and %s were offered in one dispatch round (%v apart)", prev, cur, at[cur].Sub(at[prev]))
			continue
		}
		t.Errorf("order violation: %s offered before %s (line order %q, offers %q)", prev, cur, want, seq)
		n++
	}
	return n
}

// waitCount waits until m selects n events (at most d) and returns them.
func waitCount(t *testing.T, r *e2etest.Rig, m e2etest.Match, n int, d time.Duration) []e2etest.Event {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		evs := e2etest.Filter(r.Trace(), m)
		if len(evs) >= n || time.Now().After(deadline) {
			if len(evs) < n {
				t.Errorf("%d events %v, want %d", len(evs), m, n)
			}
			return evs
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func waitCallback(r *e2etest.Rig, id int64, state string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		cb, err := r.Svc.Callback(r.Ctx(10*time.Second), id)
		if err == nil && cb.State == state {
			return true
		}
		time.Sleep(250 * time.Millisecond)
	}
	return false
}

// createCallback registers a callback through the API.
func createCallback(t *testing.T, r *e2etest.Rig, number string) int64 {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"queue": "support", "number": number})
	req, err := http.NewRequestWithContext(r.Ctx(10*time.Second), http.MethodPost, r.Svc.APIURL+"/v1/callbacks", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+r.Svc.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Callback struct {
			ID int64 `json:"id"`
		} `json:"callback"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusCreated || out.Callback.ID == 0 {
		t.Fatalf("create callback %s: status %d, %v", number, resp.StatusCode, err)
	}
	return out.Callback.ID
}

// logLines logs the service's log lines that contain any of words, so a
// run's reconnect is on record.
func logLines(t *testing.T, log string, words ...string) {
	t.Helper()
	for _, l := range strings.Split(log, "\n") {
		for _, w := range words {
			if strings.Contains(l, w) {
				t.Logf("service: %s", l)
				break
			}
		}
	}
}
