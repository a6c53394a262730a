package queue

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
	_ "time/tzdata" // zone data built in, so the zoned rows never skip

	"github.com/callflow/callflow/store"
)

func TestLineOrder(t *testing.T) {
	at := func(s int) time.Time { return simStart.Add(time.Duration(s) * time.Second) }
	tests := []struct {
		name    string
		entries []*entry // inserted in this order
		want    []int64  // seqs in line order
	}{
		{name: "join time", entries: []*entry{{joined: at(2), seq: 2}, {joined: at(1), seq: 1}, {joined: at(3), seq: 3}}, want: []int64{1, 2, 3}},
		{name: "priority beats join time", entries: []*entry{{joined: at(1), seq: 1}, {joined: at(5), seq: 2, priority: 3}, {joined: at(2), seq: 3, priority: 1}}, want: []int64{2, 3, 1}},
		{name: "seq breaks ties", entries: []*entry{{joined: at(1), seq: 7}, {joined: at(1), seq: 4}, {joined: at(1), seq: 5}}, want: []int64{4, 5, 7}},
		{name: "negative priority last", entries: []*entry{{joined: at(9), seq: 1, priority: -1}, {joined: at(10), seq: 2}}, want: []int64{2, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := &queueState{}
			for _, en := range tc.entries {
				q.insert(en)
			}
			for i, en := range q.line.all() {
				if en.seq != tc.want[i] {
					var got []int64
					for _, x := range q.line.all() {
						got = append(got, x.seq)
					}
					t.Fatalf("line %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestHeadEligible(t *testing.T) {
	now := simStart.Add(time.Hour) // Monday 10:00 UTC
	live := func(seq int64) *entry { return &entry{kind: kindLive, seq: seq, w: &waiter{}} }
	cb := func(seq int64, st store.State, mod func(*store.Callback)) *entry {
		c := store.Callback{ID: seq, State: st}
		if mod != nil {
			mod(&c)
		}
		return &entry{kind: kindCallback, seq: seq, cb: c}
	}
	prague, err := time.LoadLocation("Europe/Prague")
	if err != nil {
		t.Fatalf("no time zone data: %v", err)
	}
	afternoon := &Window{Location: prague, Hours: []Hours{{Days: []time.Weekday{time.Monday}, From: 14 * 60, To: 18 * 60}}}
	morning := &Window{Location: prague, Hours: []Hours{{Days: []time.Weekday{time.Monday}, From: 8 * 60, To: 12 * 60}}}
	tests := []struct {
		name   string
		window *Window
		line   []*entry
		want   int64 // seq of the head eligible entry, 0 = none
	}{
		{name: "live head", line: []*entry{live(1), cb(2, store.Registered, nil)}, want: 1},
		{name: "registered callback head", line: []*entry{cb(1, store.Registered, nil), live(2)}, want: 1},
		{name: "reserved skipped", line: []*entry{{kind: kindReserved, seq: 1}, live(2)}, want: 2},
		{name: "held skipped", line: []*entry{{kind: kindHeld, seq: 1}, live(2)}, want: 2},
		{name: "agent ringing skipped", line: []*entry{{kind: kindLive, seq: 1, w: &waiter{}, busy: true}, live(2)}, want: 2},
		{name: "timed out skipped", line: []*entry{{kind: kindLive, seq: 1, w: &waiter{over: true}}, live(2)}, want: 2},
		{name: "retry_wait skipped", line: []*entry{cb(1, store.RetryWait, func(c *store.Callback) { c.NextAt = now.Add(time.Minute) }), live(2)}, want: 2},
		{name: "dialing skipped", line: []*entry{cb(1, store.Dialing, nil), live(2)}, want: 2},
		{name: "not yet due skipped", line: []*entry{cb(1, store.Registered, func(c *store.Callback) { c.NotBefore = now.Add(time.Second) }), live(2)}, want: 2},
		{name: "due exactly now", line: []*entry{cb(1, store.Registered, func(c *store.Callback) { c.NotBefore = now }), live(2)}, want: 1},
		{name: "past not_after skipped", line: []*entry{cb(1, store.Registered, func(c *store.Callback) { c.NotAfter = now }), live(2)}, want: 2},
		{name: "out of window skipped", window: afternoon, line: []*entry{cb(1, store.Registered, nil), live(2)}, want: 2},
		{name: "inside window", window: morning, line: []*entry{cb(1, store.Registered, nil), live(2)}, want: 1},
		{name: "reconciling first blocks", line: []*entry{{kind: kindCallback, seq: 1, busy: true, reconciling: true}, live(2)}, want: 0},
		{name: "reconciling behind the head", line: []*entry{live(1), {kind: kindCallback, seq: 2, busy: true, reconciling: true}}, want: 1},
		{name: "nothing eligible", line: []*entry{{kind: kindReserved, seq: 1}, cb(2, store.Dialing, nil)}, want: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := &queueState{cfg: QueueConfig{Callback: CallbackPolicy{Window: tc.window}}}
			for _, en := range tc.line {
				en.q = q
				q.insert(en)
			}
			got := q.headEligible(now)
			switch {
			case tc.want == 0 && got != nil:
				t.Fatalf("head %d, want none", got.seq)
			case tc.want != 0 && (got == nil || got.seq != tc.want):
				t.Fatalf("head %v, want seq %d", got, tc.want)
			}
		})
	}
}

func TestEWT(t *testing.T) {
	tests := []struct {
		name     string
		position int
		mean     time.Duration
		agents   int
		want     time.Duration
	}{
		{name: "one agent", position: 3, mean: 2 * time.Minute, agents: 1, want: 6 * time.Minute},
		{name: "four agents", position: 3, mean: 2 * time.Minute, agents: 4, want: 90 * time.Second},
		{name: "no agents counts as one", position: 2, mean: time.Minute, agents: 0, want: 2 * time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := EWT(tc.position, tc.mean, tc.agents); got != tc.want {
				t.Fatalf("EWT = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestMeanHandle(t *testing.T) {
	q := &queueState{cfg: QueueConfig{HandleTime: 3 * time.Minute}}
	if got := q.meanHandle(); got != 3*time.Minute {
		t.Fatalf("seeded mean %v, want 3m", got)
	}
	q.recordHandle(time.Minute)
	q.recordHandle(2 * time.Minute)
	if got := q.meanHandle(); got != 90*time.Second {
		t.Fatalf("mean %v, want 90s", got)
	}
	for range handleSamples {
		q.recordHandle(10 * time.Second)
	}
	if got := q.meanHandle(); got != 10*time.Second || len(q.handles) != handleSamples {
		t.Fatalf("mean over last %d: %v (%d samples), want 10s", handleSamples, got, len(q.handles))
	}
}

// TestLineRandomOps drives the tree through random inserts, removes and
// changes of dispatch fields and compares each answer with a plain sorted
// slice walked from the front.
func TestLineRandomOps(t *testing.T) {
	now := simStart
	r := rand.New(rand.NewPCG(7, 8))
	q := &queueState{}
	var ref []*entry // the same entries, in line order
	random := func(seq int64) *entry {
		en := &entry{q: q, priority: r.IntN(3), joined: now.Add(time.Duration(r.IntN(50)) * time.Second), seq: seq}
		mutate(r, en, now)
		return en
	}
	for step := range 5000 {
		switch op := r.IntN(10); {
		case op < 4 || len(ref) == 0:
			en := random(int64(step))
			q.insert(en)
			i := 0
			for i < len(ref) && less(ref[i], en) {
				i++
			}
			ref = append(ref[:i], append([]*entry{en}, ref[i:]...)...)
		case op < 7:
			i := r.IntN(len(ref))
			if !q.remove(ref[i]) {
				t.Fatalf("step %d: remove of an entry in the line failed", step)
			}
			if q.remove(ref[i]) {
				t.Fatalf("step %d: second remove succeeded", step)
			}
			ref = append(ref[:i], ref[i+1:]...)
		default:
			en := ref[r.IntN(len(ref))]
			mutate(r, en, now)
			en.touch()
		}
		if err := q.line.verify(); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		if q.line.Len() != len(ref) {
			t.Fatalf("step %d: len %d, want %d", step, q.line.Len(), len(ref))
		}
		if len(ref) > 0 {
			i := r.IntN(len(ref))
			if got := q.index(ref[i]); got != i {
				t.Fatalf("step %d: index %d, want %d", step, got, i)
			}
		}
		at := now.Add(time.Duration(r.IntN(120)-30) * time.Second)
		if got, want := q.headEligible(at), headEligibleWalk(q, at); got != want {
			t.Fatalf("step %d: head %+v, want %+v", step, got, want)
		}
		var overdue []*entry
		for _, en := range q.line.all() {
			if en.kind == kindCallback && !en.busy && (!en.cb.NotAfter.IsZero() && !at.Before(en.cb.NotAfter) ||
				en.cb.State == store.RetryWait && !at.Before(en.cb.NextAt)) {
				overdue = append(overdue, en)
			}
		}
		if got := q.line.overdue(at); !slices.Equal(got, overdue) {
			t.Fatalf("step %d: %d overdue, want %d", step, len(got), len(overdue))
		}
	}
	for i, en := range q.line.all() {
		if ref[i] != en {
			t.Fatalf("position %d: order differs from the reference", i)
		}
	}
}

// mutate sets en's dispatch fields at random, as the engine's activities do.
func mutate(r *rand.Rand, en *entry, now time.Time) {
	en.busy = r.IntN(4) == 0
	en.reconciling = r.IntN(40) == 0
	en.w = nil
	switch r.IntN(4) {
	case 0:
		en.kind = kindLive
		en.w = &waiter{over: r.IntN(5) == 0}
	case 1:
		en.kind = kindReserved
	case 2:
		en.kind = kindHeld
	default:
		en.kind = kindCallback
		states := []store.State{store.Registered, store.Registered, store.RetryWait, store.Dialing}
		en.cb = store.Callback{State: states[r.IntN(len(states))]}
		if r.IntN(2) == 0 {
			en.cb.NotBefore = now.Add(time.Duration(r.IntN(60)) * time.Second)
		}
		if en.cb.State == store.RetryWait {
			en.cb.NextAt = now.Add(time.Duration(r.IntN(60)) * time.Second)
		}
		if r.IntN(4) == 0 {
			en.cb.NotAfter = now.Add(time.Duration(r.IntN(90)) * time.Second)
		}
	}
}
