package nodes

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the fencing test steals the lease row

	"github.com/callflow/callflow/internal/e2etest"
	"github.com/callflow/callflow/internal/pgtest"
	"github.com/callflow/callflow/internal/sipptest"
)

const (
	extWait = "401" // straight into queue support, in-queue prompts then music
	extHold = "402" // stays in its flow: no agent is dialled for it
	// leaseTTL is the nodes' lease time in the takeover test.
	leaseTTL = 6 * time.Second
	nWaiting = 4
	// callerLife: the callers stay this long after their answer, then
	// hang up themselves.
	callerLife = 75 * time.Second
	agentHold  = 3 * time.Second
)

// nodeOptions is the service of a node of the test.
func nodeOptions(t *testing.T, dsn, id string, ttl time.Duration) e2etest.Options {
	t.Helper()
	flows, err := filepath.Abs("testdata/flows")
	if err != nil {
		t.Fatal(err)
	}
	return e2etest.Options{
		FlowsDir: flows, DefaultFlow: "wait", ByDialed: map[string]string{extWait: "wait", extHold: "hold"},
		AgentRetry: 40 * time.Second, Logf: t.Logf,
		Postgres: dsn, NodeID: id, LeaseTTL: ttl,
	}
}

// startNode starts another node on the rig's switch; it is stopped (and
// its trace and log shown on failure) in t.Cleanup.
func startNode(t *testing.T, r *e2etest.Rig, opt e2etest.Options) *e2etest.Service {
	t.Helper()
	return startNodeOn(t, r, r.PBX, opt)
}

// startNodeOn starts a node on pbx with the rig's agents.
func startNodeOn(t *testing.T, r *e2etest.Rig, pbx *e2etest.PBX, opt e2etest.Options) *e2etest.Service {
	t.Helper()
	opt.Agents = len(r.Agents)
	svc, err := e2etest.StartOn(r.Ctx(2*time.Minute), pbx, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() || testing.Verbose() {
			t.Logf("node %s trace:\n%s", opt.NodeID, svc.TraceText())
			t.Logf("node %s log (tail):\n%s", opt.NodeID, svc.LogTail(60))
		}
		if err := svc.Stop(); err != nil {
			t.Errorf("node %s: %v", opt.NodeID, err)
		}
	})
	return svc
}

// TestTakeoverAfterKill: node a serves the switch with callers waiting and
// a callback registered; node b stands by. a is killed with SIGKILL: b
// takes the lease once it expires, re-adopts the waiting callers (who are
// then served in their old order) and dials the callback once.
func TestTakeoverAfterKill(t *testing.T) {
	_, dsn := pgtest.RequirePrivate(t)
	// agent1 answers busy until the kill, so the line stands still on a.
	r := e2etest.NewRig(t, e2etest.RigOptions{
		Service:      nodeOptions(t, dsn, "a", leaseTTL),
		AgentModes:   []sipptest.Mode{sipptest.Busy},
		CustomerMode: sipptest.Answer, CustomerHold: time.Second,
	})
	a := r.Svc
	b := startNode(t, r, nodeOptions(t, dsn, "b", leaseTTL))

	nodes := getNodes(t, b)
	if nodes.Node != "b" || holder(nodes) != "a" {
		t.Fatalf("before the kill: %+v, want a holding the lease and b answering", nodes)
	}
	if v, _, err := b.Metric(r.Ctx(10*time.Second), "callflow_node_lease_held", map[string]string{"node": "b"}); err != nil || v != 0 {
		t.Fatalf("b's callflow_node_lease_held = %v (%v), want 0 on standby", v, err)
	}

	var runs []*e2etest.CallRun
	for i := range nWaiting {
		runs = append(runs, r.Call(sipptest.Caller{Extension: extWait, From: fmt.Sprintf("+42060180000%d", i+1),
			Events: []sipptest.Step{sipptest.Pause(callerLife), sipptest.Hangup()}}))
		time.Sleep(300 * time.Millisecond)
	}
	const cbNumber = "+420601900001"
	cbID := createCallback(t, a, cbNumber)
	before := waitQueue(t, a, func(q e2etest.Queue) bool { return len(q.Entries) == nWaiting+1 }, "the line on a")
	var want []string
	for _, e := range before.Entries {
		want = append(want, entryKey(e))
		t.Logf("line on a: %d %-8s %-10s call %s cb %d", e.Position, e.Kind, e.State, e.CallID, e.CallbackID)
	}
	time.Sleep(500 * time.Millisecond) // the last line rows reach the group commit

	if err := a.Kill(); err != nil {
		t.Fatal(err)
	}
	killedAt := time.Now()
	if err := r.Agents[0].SetMode(r.Ctx(30*time.Second), sipptest.Answer, agentHold); err != nil {
		t.Fatal(err)
	}

	// b takes the lease within the lease time (plus its polling).
	takeover := waitStoredEvent(t, b, "lease_takeover", 3*leaseTTL)
	took := takeover.At.Sub(killedAt)
	if takeover.Detail["node"] != "b" || takeover.Detail["previous"] != "a" {
		t.Errorf("takeover event %+v, want node b after a", takeover)
	}
	nodes = getNodes(t, b)
	if holder(nodes) != "b" {
		t.Errorf("after the takeover: %+v, want b holding the lease", nodes)
	}
	for _, n := range nodes.Nodes {
		if n.ID == "b" && n.Takeovers != 1 {
			t.Errorf("b's takeovers = %d, want 1", n.Takeovers)
		}
	}
	if v, _, err := b.Metric(r.Ctx(10*time.Second), "callflow_node_takeovers_total", map[string]string{"node": "b"}); err != nil || v != 1 {
		t.Errorf("callflow_node_takeovers_total on b = %v (%v), want 1", v, err)
	}

	// b re-adopts every waiting caller and serves the line in its order.
	offered := waitOffers(t, b, want, 90*time.Second)
	violations := 0
	for i, k := range offered {
		if i < len(want) && want[i] != k {
			violations++
		}
	}
	if violations > 0 {
		t.Errorf("offers on b %q, want the old line order %q", offered, want)
	}
	adopted, _, err := b.Metric(r.Ctx(10*time.Second), "callflow_adoptions_total", map[string]string{"queue": "support", "result": "waiting"})
	if err != nil {
		t.Fatal(err)
	}
	if adopted != nWaiting {
		t.Errorf("b adopted %v waiting callers, want %d", adopted, nWaiting)
	}

	// The callback: completed once, the customer dialled once.
	lost, doubled := 0, 0
	if !waitCallback(r, b, cbID, "completed", 60*time.Second) {
		t.Errorf("callback %d not completed by b", cbID)
		lost++
	}
	invites := 0
	for _, c := range r.Customer.Calls() {
		if c.To == cbNumber {
			invites++
		}
	}
	completed := len(e2etest.Filter(mustTrace(t, b), e2etest.Match{Call: fmt.Sprintf("cb-%d", cbID), Source: "callback", Kind: "completed"}))
	if invites > 1 || completed > 1 {
		t.Errorf("callback %d: customer called %d times, completed %d times; want once", cbID, invites, completed)
		doubled++
	}

	// Every caller hangs up by themselves: nobody was dropped.
	dropped := waitDropped(t, runs, callerLife+60*time.Second)
	t.Logf("TAKEOVER kill -9 (asterisk, lease %v): takeover after %.3fs, re-adopted=%v dropped=%d callbacks lost=%d doubled=%d order violations=%d",
		leaseTTL, took.Seconds(), adopted, dropped, lost, doubled, violations)
}

// TestPostgresDown: PostgreSQL is down for 10 s while node a serves
// callers and its agent keeps answering busy (a offers the agent again
// every second). While the database is down a dials nothing; it gives its
// lease up when the lease time has passed and exits, leaving the calls up.
// Once PostgreSQL is back, standby b takes the lease, re-adopts the
// callers and serves them and the callback.
func TestPostgresDown(t *testing.T) {
	const outage = 10 * time.Second
	pg, dsn := pgtest.RequirePrivate(t)
	optA := nodeOptions(t, dsn, "a", leaseTTL)
	optA.AgentRetry = time.Second
	r := e2etest.NewRig(t, e2etest.RigOptions{
		Service:      optA,
		AgentModes:   []sipptest.Mode{sipptest.Busy},
		CustomerMode: sipptest.Answer, CustomerHold: time.Second,
	})
	a := r.Svc
	b := startNode(t, r, nodeOptions(t, dsn, "b", leaseTTL))
	var runs []*e2etest.CallRun
	for i := range nWaiting - 1 {
		runs = append(runs, r.Call(sipptest.Caller{Extension: extWait, From: fmt.Sprintf("+42060170000%d", i+1),
			Events: []sipptest.Step{sipptest.Pause(callerLife), sipptest.Hangup()}}))
		time.Sleep(300 * time.Millisecond)
	}
	const cbNumber = "+420601900002"
	cbID := createCallback(t, a, cbNumber)
	before := waitQueue(t, a, func(q e2etest.Queue) bool { return len(q.Entries) == nWaiting }, "the line on a")
	var want []string
	for _, e := range before.Entries {
		want = append(want, entryKey(e))
	}
	if _, err := r.Agents[0].WaitCalls(r.Ctx(30*time.Second), 2); err != nil {
		t.Fatalf("a does not offer the busy agent again: %v", err)
	}
	time.Sleep(500 * time.Millisecond) // the last line rows reach the group commit

	pg.Crash()
	downAt := time.Now()
	select {
	case <-a.Done():
		t.Logf("a exited %.3fs after PostgreSQL went down", time.Since(downAt).Seconds())
	case <-time.After(outage):
		t.Errorf("a still runs %v after PostgreSQL went down (lease %v)", outage, leaseTTL)
	}
	time.Sleep(time.Until(downAt.Add(outage)))
	// Dials while the database was down: INVITEs the agent's phone saw
	// from a moment after the crash (a dial sent just before it is seen
	// at most phonePoll late) to the restart.
	during := 0
	for _, c := range r.Agents[0].Calls() {
		if c.At.After(downAt.Add(time.Second)) {
			during++
		}
	}
	if during != 0 {
		t.Errorf("the agent was dialled %d times while PostgreSQL was down", during)
	}
	if err := r.Agents[0].SetMode(r.Ctx(30*time.Second), sipptest.Answer, agentHold); err != nil {
		t.Fatal(err)
	}
	upAt := time.Now()
	if err := pg.Restart(r.Ctx(time.Minute)); err != nil {
		t.Fatal(err)
	}
	takeover := waitStoredEvent(t, b, "lease_takeover", 3*leaseTTL)
	offered := waitOffers(t, b, want, 90*time.Second)
	violations := 0
	for i, k := range offered {
		if i < len(want) && want[i] != k {
			violations++
		}
	}
	if violations > 0 {
		t.Errorf("offers on b %q, want the old line order %q", offered, want)
	}
	lost, doubled := 0, 0
	if !waitCallback(r, b, cbID, "completed", 60*time.Second) {
		t.Errorf("callback %d not completed by b", cbID)
		lost++
	}
	invites := 0
	for _, c := range r.Customer.Calls() {
		if c.To == cbNumber {
			invites++
		}
	}
	if invites > 1 {
		t.Errorf("callback %d: customer called %d times, want once", cbID, invites)
		doubled++
	}
	dropped := waitDropped(t, runs, callerLife+60*time.Second)
	t.Logf("POSTGRES DOWN %v (asterisk, lease %v): dials while down=%d, b took over %.3fs after PostgreSQL was started again, dropped=%d callbacks lost=%d doubled=%d order violations=%d",
		outage, leaseTTL, during, takeover.At.Sub(upAt).Seconds(), dropped, lost, doubled, violations)
}

// TestFencedNodeNeverDials: node a's lease row is taken in the database
// by another holder while a still runs and is connected to Asterisk, with
// a caller in a flow. A callback registered then asks a for an agent: a's
// claim of it carries the fence in its statement, so a claims and dials
// nothing, stops acting for the switch and exits, leaving the caller up.
func TestFencedNodeNeverDials(t *testing.T) {
	_, dsn := pgtest.RequirePrivate(t)
	// A long lease: the renewal (every 20 s) does not see the theft
	// before the dial does, so it is the fence that refuses.
	r := e2etest.NewRig(t, e2etest.RigOptions{
		Service:      nodeOptions(t, dsn, "a", time.Minute),
		AgentModes:   []sipptest.Mode{sipptest.Answer},
		AgentHold:    agentHold,
		CustomerMode: sipptest.Answer, CustomerHold: time.Second,
	})
	a := r.Svc
	run := r.Call(sipptest.Caller{Extension: extHold, From: "+420601800009",
		Events: []sipptest.Step{sipptest.Pause(20 * time.Second), sipptest.Hangup()}})
	r.InboundCall(30*time.Second, 0)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := r.Ctx(time.Minute)
	res, err := db.ExecContext(ctx, `UPDATE leases SET holder = 'intruder', token = token + 1, expires_at = now() + interval '1 hour' WHERE holder = 'a'`)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("%d lease rows of a, want 1", n)
	}
	createCallback(t, a, "+420601900009")

	select {
	case <-a.Done():
	case <-time.After(40 * time.Second):
		t.Fatalf("a still runs 40 s after its lease was taken\n%s", a.LogTail(30))
	}
	log := a.Log()
	for _, s := range []string{"not claiming callback: the switch lease is not this node's", "switch lease lost"} {
		if !strings.Contains(log, s) {
			t.Errorf("a's log lacks %q", s)
		}
	}
	if calls := r.Agents[0].Calls(); len(calls) != 0 {
		t.Errorf("the agent was dialled %d times by a node without the lease", len(calls))
	}
	if calls := r.Customer.Calls(); len(calls) != 0 {
		t.Errorf("the customer was dialled %d times by a node without the lease", len(calls))
	}
	var lostEvents int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM events WHERE kind = 'lease_lost'`).Scan(&lostEvents); err != nil || lostEvents != 1 {
		t.Errorf("%d lease_lost events (%v), want 1", lostEvents, err)
	}
	cres, err := run.Wait(60 * time.Second)
	if cres.Dir != "" {
		defer cres.Cleanup()
	}
	if err != nil || cres.HungUpBy != "local" {
		t.Errorf("the caller ended by %q (%v), want by themselves: the fenced node leaves calls up", cres.HungUpBy, err)
	}
	t.Logf("FENCING: dials by the fenced node: agent %d, customer %d", len(r.Agents[0].Calls()), len(r.Customer.Calls()))
}

// waitDropped waits (each at most d) for the callers, who must hang up by
// themselves, and counts those who did not: dropped by a node or failed.
func waitDropped(t *testing.T, runs []*e2etest.CallRun, d time.Duration) int {
	t.Helper()
	dropped := 0
	for _, run := range runs {
		res, err := run.Wait(d)
		if res.Dir != "" {
			res.Cleanup()
		}
		if err != nil || res.HungUpBy != "local" {
			t.Errorf("caller %s: ended by %q: %v", run.Caller.From, res.HungUpBy, err)
			dropped++
		}
	}
	return dropped
}

// nodesView is GET /v1/nodes.
type nodesView struct {
	Node  string `json:"node"`
	Nodes []struct {
		ID        string `json:"id"`
		Alive     bool   `json:"alive"`
		Takeovers int64  `json:"takeovers"`
		Leases    []struct {
			Name  string `json:"name"`
			Token int64  `json:"token"`
		} `json:"leases"`
	} `json:"nodes"`
}

func getNodes(t *testing.T, s *e2etest.Service) nodesView {
	t.Helper()
	var v nodesView
	if err := getJSON(s, "/v1/nodes", &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// holder is the node holding a lease ("" for none).
func holder(v nodesView) string {
	for _, n := range v.Nodes {
		if len(n.Leases) > 0 {
			return n.ID
		}
	}
	return ""
}

func getJSON(s *e2etest.Service, path string, v any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.APIURL+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+s.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d", path, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func waitStoredEvent(t *testing.T, s *e2etest.Service, kind string, d time.Duration) e2etest.StoredEvent {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		evs, err := s.Events(ctx, kind)
		cancel()
		if err == nil && len(evs) > 0 {
			return evs[len(evs)-1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s event within %v (%v)\n%s", kind, d, err, s.LogTail(30))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func mustTrace(t *testing.T, s *e2etest.Service) []e2etest.Event {
	t.Helper()
	evs, err := s.Trace()
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// waitOffers waits until every key of want was offered an agent by s and
// returns the keys in the order of their first offer.
func waitOffers(t *testing.T, s *e2etest.Service, want []string, d time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		var order []string
		for _, e := range mustTrace(t, s) {
			if !contains(want, e.Call) || contains(order, e.Call) {
				continue
			}
			if e.Source == "queue" && e.Kind == "agent_offered" || e.Source == "callback" && e.Kind == "dialing_agent" {
				order = append(order, e.Call)
			}
		}
		if len(order) == len(want) || time.Now().After(deadline) {
			if len(order) != len(want) {
				t.Errorf("offered by b: %q, want every one of %q", order, want)
			}
			return order
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func waitQueue(t *testing.T, s *e2etest.Service, ok func(e2etest.Queue) bool, what string) e2etest.Queue {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		q, err := s.Queue(ctx, "support")
		cancel()
		if err == nil && ok(q) {
			return q
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: line %+v (err %v)", what, q.Entries, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func waitCallback(r *e2etest.Rig, s *e2etest.Service, id int64, state string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		cb, err := s.Callback(r.Ctx(10*time.Second), id)
		if err == nil && cb.State == state {
			return true
		}
		time.Sleep(250 * time.Millisecond)
	}
	return false
}

// entryKey names a line entry as the trace does: its call id, or cb-N.
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

// createCallback registers a callback through s's API.
func createCallback(t *testing.T, s *e2etest.Service, number string) int64 {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"queue": "support", "number": number})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.APIURL+"/v1/callbacks", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.Token)
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
