package nodes

import (
	"fmt"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/callflow/callflow/internal/e2etest"
	"github.com/callflow/callflow/internal/fstest"
	"github.com/callflow/callflow/internal/pgtest"
	"github.com/callflow/callflow/internal/sipptest"
)

// TestTwoSwitchesOneLine: node a serves the Asterisk, node b the
// FreeSWITCH, on one PostgreSQL; both are active (each holds its own
// switch's lease). One agent phone is reachable from both switches and is
// named agent1 on both nodes. Callers join alternately on the two
// switches, and a callback is registered through b after the third; the
// agent's phone must ring for them in the order they joined, across the
// switches, and never for two at once; the callback is dialled once.
func TestTwoSwitchesOneLine(t *testing.T) {
	const (
		nCallers = 6
		gap      = 1500 * time.Millisecond // between joins
		talk     = 2500 * time.Millisecond // the agent hangs up after this
		// life: each caller hangs up after this; the last one is served
		// about 40 s after the first joined.
		life = 55 * time.Second
	)
	_, dsn := pgtest.RequirePrivate(t)
	optA := nodeOptions(t, dsn, "a", leaseTTL)
	optA.AgentNames = true
	r := e2etest.NewRig(t, e2etest.RigOptions{
		Service:    optA,
		AgentModes: []sipptest.Mode{sipptest.Answer},
		AgentHold:  talk,
		// A callback's agent call (prompt, customer ring, talk) lasts
		// longer than talk, as the one-call-at-a-time check expects.
		CustomerMode: sipptest.Answer, CustomerHold: talk,
	})
	a := r.Svc
	// The FreeSWITCH dials the Asterisk rig's agent and customer phones
	// (sofia/callflow/agent1@127.0.0.1:PORT): one person, two switches.
	// This package's Asterisk holds the machine-wide switch lock, so no
	// other package's switch runs now; the FreeSWITCH beside it takes a
	// lock of its own instead of waiting for that one.
	fs, err := e2etest.FreeSWITCHPBX(fstest.Require(t, fstest.Options{LockPath: filepath.Join(t.TempDir(), "switch.lock")}))
	if err != nil {
		t.Fatal(err)
	}
	fs.AgentPorts, fs.CustomerPort = r.PBX.AgentPorts, r.PBX.CustomerPort
	optB := nodeOptions(t, dsn, "b", leaseTTL)
	optB.AgentNames = true
	b := startNodeOn(t, r, fs, optB)

	// Both nodes are active, each for its own switch.
	nodes := getNodes(t, b)
	active := 0
	for _, n := range nodes.Nodes {
		if n.Alive && len(n.Leases) == 1 {
			active++
		}
	}
	if active != 2 {
		t.Fatalf("/v1/nodes on b: %+v, want a and b alive, each holding its switch's lease", nodes)
	}

	// Callers alternate: a1 on the Asterisk, b1 on the FreeSWITCH, a2, …
	var runs []*e2etest.CallRun
	var joined []string // caller numbers in join order
	const cbNumber = "+420601900003"
	var cbID int64
	for i := range nCallers {
		from := fmt.Sprintf("+42060160%04d", i+1)
		c := sipptest.Caller{Extension: extWait, From: from,
			Events: []sipptest.Step{sipptest.Pause(life), sipptest.Hangup()}}
		port, svc := r.PBX.SIPPort, a
		if i%2 == 1 {
			port, svc = fs.SIPPort, b
		}
		runs = append(runs, e2etest.StartCaller(r.Ctx(life+time.Minute), c, port))
		joined = append(joined, from)
		// The caller is in its switch's line before the next one calls.
		waitQueue(t, svc, func(q e2etest.Queue) bool { return hasNumber(q, from) || servedBy(r, from) }, "caller "+from)
		time.Sleep(gap)
		if i == 2 {
			// The agent's phone shows a callback as the queue's ANI.
			cbID = createCallback(t, b, cbNumber)
			joined = append(joined, b.ANI)
			time.Sleep(gap)
		}
	}

	// Every caller reaches the agent once, in join order, one at a time.
	ctx := r.Ctx(3 * time.Minute)
	if _, err := r.Agents[0].WaitCalls(ctx, len(joined)); err != nil {
		t.Fatalf("the agent's phone rang %d times, want %d: %v", len(r.Agents[0].Calls()), len(joined), err)
	}
	calls := r.Agents[0].Calls()
	sort.SliceStable(calls, func(i, j int) bool { return calls[i].At.Before(calls[j].At) })
	var rang []string
	for _, c := range calls {
		rang = append(rang, c.From)
	}
	violations := 0
	for i := range joined {
		if i >= len(rang) || rang[i] != joined[i] {
			violations++
		}
	}
	if violations > 0 {
		t.Errorf("the agent rang for %q, want the join order %q", rang, joined)
	}
	// One call at a time: the agent talks `talk`, then wraps up; the next
	// INVITE cannot come sooner (less the phone's polling slack).
	overlaps := 0
	var handovers []time.Duration
	for i := 1; i < len(calls); i++ {
		d := calls[i].At.Sub(calls[i-1].At)
		if d < talk-500*time.Millisecond {
			overlaps++
			t.Errorf("the agent rang for %s %v after %s: two calls at once", calls[i].From, d.Round(time.Millisecond), calls[i-1].From)
		}
		// From the agent's hang-up to the next ring, wrap-up included;
		// across switches when the two callers are on different nodes.
		handovers = append(handovers, d-talk)
	}
	sort.Slice(handovers, func(i, j int) bool { return handovers[i] < handovers[j] })

	// The callback: completed by b, the customer dialled once.
	lost, doubled := 0, 0
	if !waitCallback(r, b, cbID, "completed", time.Minute) {
		t.Errorf("callback %d not completed by b", cbID)
		lost++
	}
	if n := len(r.Customer.Calls()); n != 1 {
		t.Errorf("the customer was dialled %d times, want once", n)
		doubled += max(0, n-1)
	}

	// Nobody was dropped: every caller hangs up by themselves.
	dropped := waitDropped(t, runs, life+time.Minute)
	t.Logf("TWO SWITCHES (asterisk node a, freeswitch node b, one agent): %d callers and 1 callback, order violations=%d, agent double-booked=%d, dropped=%d, callbacks lost=%d doubled=%d, next ring after hang-up min %v median %v max %v (wrap-up %v)",
		nCallers, violations, overlaps, dropped, lost, doubled, handovers[0].Round(time.Millisecond),
		handovers[len(handovers)/2].Round(time.Millisecond), handovers[len(handovers)-1].Round(time.Millisecond), e2etest.DefaultWrapUp)
}

// hasNumber tells whether the line holds a caller from number.
func hasNumber(q e2etest.Queue, number string) bool {
	for _, e := range q.Entries {
		if e.Number == number {
			return true
		}
	}
	return false
}

// servedBy tells whether the agent's phone already rang for number (a
// caller offered at once never shows in the line).
func servedBy(r *e2etest.Rig, number string) bool {
	for _, c := range r.Agents[0].Calls() {
		if c.From == number {
			return true
		}
	}
	return false
}
