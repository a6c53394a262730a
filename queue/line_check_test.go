package queue

import (
	"fmt"
	"time"

	"github.com/callflow/callflow/store"
)

// Every test of this package checks the line's tree and its summaries at
// each dispatch decision: a field changed without touch shows up here.
func init() {
	lineCheck = func(q *queueState, now time.Time, got *entry) {
		if err := q.line.verify(); err != nil {
			panic(fmt.Sprintf("queue %s: line broken: %v", q.cfg.Name, err))
		}
		if want := headEligibleWalk(q, now); got != want {
			panic(fmt.Sprintf("queue %s: head eligible %+v, a walk of the line finds %+v", q.cfg.Name, got, want))
		}
	}
}

// headEligibleWalk is the dispatch rule stated plainly: the first entry in
// line order that an agent may take, none when a reconciling entry comes
// first.
func headEligibleWalk(q *queueState, now time.Time) *entry {
	for _, en := range q.line.all() {
		if en.reconciling {
			return nil
		}
		if en.busy {
			continue
		}
		switch en.kind {
		case kindLive:
			if en.w != nil && !en.w.over {
				return en
			}
		case kindCallback:
			cb := en.cb
			if cb.State == store.Registered && !cb.NotBefore.After(now) &&
				(cb.NotAfter.IsZero() || now.Before(cb.NotAfter)) && q.cfg.Callback.Window.Open(now) {
				return en
			}
		}
	}
	return nil
}

// verify checks the tree: order, heap keys, sizes and summaries.
func (l *line) verify() error {
	var walk func(t *node, lo, hi *entry) error
	walk = func(t *node, lo, hi *entry) error {
		if t == nil {
			return nil
		}
		if lo != nil && !less(lo, t.en) || hi != nil && !less(t.en, hi) {
			return fmt.Errorf("entry seq %d out of line order", t.en.seq)
		}
		for _, c := range [2]*node{t.left, t.right} {
			if c != nil && c.heap > t.heap {
				return fmt.Errorf("entry seq %d: heap key above its parent's", c.en.seq)
			}
		}
		if err := walk(t.left, lo, t.en); err != nil {
			return err
		}
		if err := walk(t.right, t.en, hi); err != nil {
			return err
		}
		saved := *t
		t.pull()
		if saved != *t {
			*t = saved
			return fmt.Errorf("entry seq %d (%s): summary stale: has size %d reconciling %v live %v due %d, is %d %v %v %d",
				t.en.seq, t.en.kind, saved.size, saved.reconciling, saved.live, saved.due, t.size, t.reconciling, t.live, t.due)
		}
		return nil
	}
	return walk(l.root, nil, nil)
}
