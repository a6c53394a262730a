package restart

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3" // the test writes bad line rows into the stopped service's store

	"github.com/callflow/callflow/internal/e2etest"
	"github.com/callflow/callflow/internal/sipptest"
)

// Dialled numbers of the test flows (testdata/flows). On Asterisk they
// enter through Stasis (deploy/asterisk's 30x extensions hand calls over
// FastAGI); on FreeSWITCH through the dialplan's callflow-by-number.
const (
	extWait       = "401" // queue with the announce in-queue flow
	extIVR        = "402" // lingers in the IVR; resume point joins the queue
	extReserve    = "403" // queue whose in-queue flow offers a callback
	extIVRReserve = "404" // reserves a callback in the IVR
)

// The population of issue 11 (20 waiting, 3 IVR, 2 reserved, 3 callbacks,
// 2 conversations) with 12 waiting callers instead of 20: every category,
// and one restart scenario takes about a minute and a half on a shared
// 2-core machine (the callers stay on the line for callerLife).
const (
	nEarly     = 6 // waiting callers on music at the restart
	nLate      = 6 // waiting callers still in the in-queue flow's prompts
	nIVR       = 3
	nCallbacks = 3
	nConv      = 2
)

const (
	// callerLife is how long after its answer every caller (but the
	// conversations) stays on the line before hanging up itself.
	callerLife = 85 * time.Second
	// convLife: the conversations' callers hang up after this, once the
	// restarted process has taken the conversation back.
	convLife = 28 * time.Second
	// agentHold: the serving agents hang up after this (a callback needs
	// the whisper and the customer's answer within it).
	agentHold = 5 * time.Second
)

func TestKillAndRestart(t *testing.T) {
	e2etest.EachSwitch(t, func(t *testing.T, sw string) { testKillAndRestart(t, sw) })
}

func testKillAndRestart(t *testing.T, sw string) {
	runScenario(t, sw, "kill -9", func(t *testing.T, r *e2etest.Rig) {
		if err := r.Svc.Kill(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestSIGTERMAndNewProcess(t *testing.T) {
	e2etest.EachSwitch(t, func(t *testing.T, sw string) { testSIGTERMAndNewProcess(t, sw) })
}

func testSIGTERMAndNewProcess(t *testing.T, sw string) {
	runScenario(t, sw, "SIGTERM", func(t *testing.T, r *e2etest.Rig) {
		if err := syscall.Kill(r.Svc.PID(), syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case <-r.Svc.Done():
		case <-time.After(20 * time.Second):
			t.Fatal("callflow did not exit within 20 s of SIGTERM")
		}
		if log := r.Svc.Log(); !strings.Contains(log, "callflow drained") {
			t.Fatalf("no drain in the log:\n%s", r.Svc.LogTail(20))
		}
	})
}

// caller is one sipp caller of the scenario.
type caller struct {
	name, from, ext string
	run             *e2etest.CallRun
}

// runScenario builds the population, stops the service with stop, starts
// a new process on the same store and checks what the callers, phones and
// trace saw.
func runScenario(t *testing.T, sw, name string, stop func(*testing.T, *e2etest.Rig)) {
	flows, err := filepath.Abs("testdata/flows")
	if err != nil {
		t.Fatal(err)
	}
	// agent1 and agent4 serve the line after the restart; before it they
	// answer busy, so the line stands still. agent2 and agent3 take the
	// conversations and hold until the other side hangs up.
	r := e2etest.NewRig(t, e2etest.RigOptions{
		Switch: sw,
		Service: e2etest.Options{
			FlowsDir: flows, DefaultFlow: "wait",
			ByDialed:   map[string]string{extWait: "wait", extIVR: "ivr", extReserve: "reserve", extIVRReserve: "ivr-reserve"},
			AgentRetry: 40 * time.Second,
		},
		AgentModes:   []sipptest.Mode{sipptest.Busy, sipptest.Answer, sipptest.Answer, sipptest.Busy},
		CustomerMode: sipptest.Answer, CustomerHold: time.Second,
	})
	start := time.Now()
	var callers []*caller
	dial := func(name, from, ext string, steps ...sipptest.Step) *caller {
		c := &caller{name: name, from: from, ext: ext}
		c.run = r.Call(sipptest.Caller{Extension: ext, From: from, Events: append(steps, sipptest.Hangup())})
		callers = append(callers, c)
		return c
	}
	live := func(extra time.Duration) sipptest.Step { return sipptest.Pause(callerLife - extra) }

	// Two conversations: agent1 is busy, so agent2 and agent3 answer.
	for i := range nConv {
		dial(fmt.Sprintf("conv%d", i+1), fmt.Sprintf("+42060120000%d", i+1), extWait, sipptest.Pause(convLife))
		r.Event(20*time.Second, e2etest.Match{Source: "queue", Kind: "connected", Text: r.PBX.AgentEndpoint(i + 2)})
	}
	// Callers on music by the restart.
	for i := range nEarly {
		dial(fmt.Sprintf("early%d", i+1), fmt.Sprintf("+42060130000%d", i+1), extWait, live(0))
		time.Sleep(300 * time.Millisecond)
	}
	// Callbacks registered through the API, in line behind them.
	cbNumbers := map[int64]string{}
	for i := range nCallbacks {
		n := fmt.Sprintf("+42060150000%d", i+1)
		cbNumbers[createCallback(t, r, n)] = n
	}
	// A reservation from the in-queue flow: 1 at the offer, then silence
	// at the confirmation.
	dial("reserve-queue", "+420601400001", extReserve, sipptest.Pause(2500*time.Millisecond), sipptest.DTMF("1"), live(2500*time.Millisecond))
	waitQueue(t, r, func(q e2etest.Queue) bool { return countKind(q, "reserved") == 1 }, "the in-queue reservation")
	time.Sleep(4 * time.Second) // the early callers' prompts end: music
	// Callers still in the in-queue flow's prompts at the restart.
	for i := range nLate {
		dial(fmt.Sprintf("late%d", i+1), fmt.Sprintf("+42060160000%d", i+1), extWait, live(0))
		time.Sleep(200 * time.Millisecond)
	}
	// A reservation in the IVR, last in the line.
	dial("reserve-ivr", "+420601400002", extIVRReserve, live(0))
	// Callers in the IVR.
	for i := range nIVR {
		dial(fmt.Sprintf("ivr%d", i+1), fmt.Sprintf("+42060170000%d", i+1), extIVR, live(0))
	}
	before := waitQueue(t, r, func(q e2etest.Queue) bool {
		return len(q.Entries) == nEarly+nLate+nCallbacks+2 && countKind(q, "reserved") == 2
	}, "the whole line")
	waitFlows(t, r, nConv+nEarly+nLate+2+nIVR)
	time.Sleep(500 * time.Millisecond) // the last row changes reach the group commit
	for _, e := range before.Entries {
		t.Logf("line before the restart: %d %-8s %-10s call %s cb %d %s", e.Position, e.Kind, e.State, e.CallID, e.CallbackID, e.Number)
	}

	stop(t, r)
	t.Logf("%s at %v", name, time.Since(start).Round(time.Millisecond))
	beforeRestart := len(r.Trace()) - 1
	// The serving agents answer from now on; the process is down.
	for _, i := range []int{0, 3} {
		if err := r.Agents[i].SetMode(r.Ctx(30*time.Second), sipptest.Answer, agentHold); err != nil {
			t.Fatal(err)
		}
	}
	writeBadRows(t, r.Svc.StorePath)
	restartAt := time.Now()
	if err := r.Svc.Restart(r.Ctx(time.Minute)); err != nil {
		t.Fatal(err)
	}
	t.Logf("new process healthy %v after start", time.Since(restartAt).Round(time.Millisecond))

	// The restart gap: from the new process's start to the first caller
	// hearing their flow again. A waiting caller's return to the queue
	// ("joined … returned to its place") is followed at once by the
	// holding bridge's music and the in-queue flow's first prompt; the
	// trace writes a play notation only once its prompts have ended, so
	// the first one gives an upper bound.
	back := r.Event(30*time.Second, e2etest.Match{Source: "queue", Kind: "joined", Text: "returned to its place", After: e2etest.After(beforeRestart)})
	prompt := r.Event(30*time.Second, e2etest.Match{Source: "flow", Kind: "play", After: e2etest.After(beforeRestart)})
	gap := max(back.At.Sub(restartAt), 0) // trace times are whole milliseconds
	playGap := max(prompt.At.Sub(restartAt), 0)

	// Every entry of the old line is offered an agent, in the old order.
	var want []string
	for _, e := range before.Entries {
		want = append(want, entryKey(e))
	}
	offered := waitOffers(t, r, beforeRestart, want, 100*time.Second)
	violations := orderViolations(t, want, offered)

	// Conversations: completed once each, by the new process.
	ends := waitCount(t, r, e2etest.Match{Source: "queue", Kind: "conversation_end", Attrs: map[string]string{"adopted": "true"}, After: e2etest.After(beforeRestart)}, nConv, 40*time.Second)
	if n := len(e2etest.Filter(r.Trace(), e2etest.Match{Source: "queue", Kind: "conversation_end", Text: ""})); n < nConv {
		t.Errorf("%d conversation ends in the trace, want at least %d", n, nConv)
	}
	convEnds := map[string]int{}
	for _, e := range ends {
		convEnds[e.Call]++
	}
	for call, n := range convEnds {
		if n != 1 {
			t.Errorf("conversation of %s ended %d times, want once", call, n)
		}
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

	// Refused rows: logged with their reason, the rest adopted.
	log := r.Svc.Log()
	for _, id := range []string{"corrupted-row", "foreign-row"} {
		if !strings.Contains(log, "line row refused") || !strings.Contains(log, id) {
			t.Errorf("row %s was not refused with a logged reason", id)
		}
	}
	adoptions := map[string]float64{}
	for _, k := range []struct{ queue, result string }{
		{"support", "waiting"}, {"support", "declined"}, {"support", "conversation"}, {"", "ivr"}, {"", "refused"},
	} {
		v, _, err := r.Svc.Metric(r.Ctx(10*time.Second), "callflow_adoptions_total", map[string]string{"queue": k.queue, "result": k.result})
		if err != nil {
			t.Fatal(err)
		}
		adoptions[k.result] = v
	}
	wantAdopt := map[string]float64{"waiting": nEarly + nLate, "declined": 2, "conversation": nConv, "ivr": nIVR, "refused": 2}
	for k, v := range wantAdopt {
		if adoptions[k] != v {
			t.Errorf("callflow_adoptions_total result=%s = %v, want %v", k, adoptions[k], v)
		}
	}

	// Every caller hangs up by themselves: nobody was hung up by us.
	dropped, stranded := 0, 0
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
	for _, k := range want {
		if !contains(offered, k) {
			stranded++
		}
	}
	t.Logf("RESTART %s (%s): re-adopted=%d stranded=%d dropped=%d callbacks lost=%d doubled=%d order violations=%d conversations completed=%d restart gap=%.3fs (caller %s back in the queue; first prompt finished after %.3fs)",
		name, sw, int(adoptions["waiting"]+adoptions["declined"]+adoptions["conversation"]+adoptions["ivr"]), stranded, dropped, lost, doubled,
		violations, len(ends), gap.Seconds(), back.Call, playGap.Seconds())
}

func countKind(q e2etest.Queue, kind string) int {
	n := 0
	for _, e := range q.Entries {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

// entryKey names a line entry: its call id, or cb-N for a callback (as
// the trace names them).
func entryKey(e e2etest.QueueEntry) string {
	if e.CallbackID != 0 {
		return fmt.Sprintf("cb-%d", e.CallbackID)
	}
	return e.CallID
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
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
// restart (agent_offered for a caller, dialing_agent for a callback) and
// returns the keys of want in the order of their first offer, with its
// time.
func waitOffers(t *testing.T, r *e2etest.Rig, after int, want []string, d time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		var order []string
		for _, e := range r.Trace() {
			if e.Index <= after || !contains(want, e.Call) || contains(order, e.Call) {
				continue
			}
			if e.Source == "queue" && e.Kind == "agent_offered" || e.Source == "callback" && e.Kind == "agent_assigned" {
				order = append(order, e.Call)
			}
		}
		if len(order) == len(want) || time.Now().After(deadline) {
			if len(order) != len(want) {
				t.Errorf("offered after the restart: %q, want every one of %q", order, want)
			}
			return order
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// orderViolations counts entries offered before an entry that stood ahead
// of them in the line before the restart. The dispatcher traces its
// assignments (agent_offered for a caller, agent_assigned for a callback)
// in line order before any of their work starts, so the trace order is the
// decision order.
func orderViolations(t *testing.T, want, offered []string) int {
	t.Helper()
	rank := map[string]int{}
	for i, k := range want {
		rank[k] = i
	}
	n := 0
	for i := 1; i < len(offered); i++ {
		if rank[offered[i]] < rank[offered[i-1]] {
			t.Errorf("order violation: %s offered before %s (line order %q, offers %q)", offered[i-1], offered[i], want, offered)
			n++
		}
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

// writeBadRows puts a corrupted and a foreign line row into the stopped
// service's store: the next process must refuse both and adopt the rest.
func writeBadRows(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now().UTC().Format("2006-01-02T15:04:05.000000000Z")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO line_entries (call_id, queue, state, priority, joined_at, seq, updated_at) VALUES (?, 'support', 'waiting', 0, 'not a time', 1, ?)`,
			[]any{"corrupted-row", now}},
		{`INSERT INTO line_entries (call_id, queue, state, priority, joined_at, seq, resume, updated_at) VALUES (?, 'elsewhere', 'waiting', 0, ?, 1, 'wait/line', ?)`,
			[]any{"foreign-row", now, now}},
	} {
		if _, err := db.ExecContext(ctx, q.sql, q.args...); err != nil {
			t.Fatalf("write bad row: %v", err)
		}
	}
}
