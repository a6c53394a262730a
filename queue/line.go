package queue

import (
	"iter"
	"math"
	"math/rand/v2"
	"time"

	"github.com/callflow/callflow/store"
)

// line is a queue's entries in line order (less), kept in a treap: a binary
// search tree on the line order whose nodes also carry random heap keys, so
// it stays balanced in expectation whatever order entries arrive in. Each
// node knows its subtree's size, which gives a position in O(log n), and a
// summary of what its subtree holds for dispatch (a reconciling entry, a
// live caller an agent may take, the earliest time a callback becomes due),
// which finds the first eligible entry in O(log n) instead of a walk past
// every busy entry and every callback not yet due.
//
// The summaries are computed from the entries' fields, so whoever changes a
// field that matters for dispatch (busy, reconciling, kind, w, w.over, cb)
// on an entry in a line calls touch afterwards. Line order fields (priority,
// joined, seq) never change while an entry is in a line.
//
// No Go library we know of offers an order-statistic tree with custom
// subtree summaries; a sorted slice costs O(n) per insert and remove.
type line struct {
	root *node
	rnd  *rand.Rand
}

type node struct {
	en          *entry
	left, right *node
	heap        uint64
	size        int
	// Summary of the subtree.
	reconciling bool  // an entry settles an interrupted dispatch
	live        bool  // a live caller an agent may take
	due         int64 // earliest NotBefore (Unix ns) of a registered, idle callback; never if none
	wake        int64 // earliest NotAfter, or NextAt in retry_wait, of an idle callback; never if none
}

// never is a due time no callback reaches.
const never = math.MaxInt64

func (l *line) Len() int { return size(l.root) }

func size(n *node) int {
	if n == nil {
		return 0
	}
	return n.size
}

// liveEligible: a caller in the holding bridge no agent is being offered.
func liveEligible(en *entry) bool {
	return en.kind == kindLive && !en.busy && en.w != nil && !en.w.over
}

// dueAt is when a callback entry may be dispatched (ignoring the window and
// NotAfter, which dispatch checks on the entry found); never for others.
func dueAt(en *entry) int64 {
	if en.kind != kindCallback || en.busy || en.cb.State != store.Registered {
		return never
	}
	return unixNano(en.cb.NotBefore)
}

// wakeAt is when an idle callback entry next needs the planner: its
// NotAfter (to expire it) or, in retry_wait, its NextAt (to promote it).
func wakeAt(en *entry) int64 {
	if en.kind != kindCallback || en.busy {
		return never
	}
	t := int64(never)
	if !en.cb.NotAfter.IsZero() {
		t = en.cb.NotAfter.UnixNano()
	}
	if en.cb.State == store.RetryWait {
		t = min(t, unixNano(en.cb.NextAt))
	}
	return t
}

// unixNano is t in Unix ns, the zero time as the earliest instant.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return math.MinInt64
	}
	return t.UnixNano()
}

func (n *node) pull() {
	n.size = 1 + size(n.left) + size(n.right)
	n.reconciling = n.en.reconciling
	n.live = liveEligible(n.en)
	n.due = dueAt(n.en)
	n.wake = wakeAt(n.en)
	for _, c := range [2]*node{n.left, n.right} {
		if c == nil {
			continue
		}
		n.reconciling = n.reconciling || c.reconciling
		n.live = n.live || c.live
		n.due = min(n.due, c.due)
		n.wake = min(n.wake, c.wake)
	}
}

// insert adds en at its place in line order.
func (l *line) insert(en *entry) {
	if l.rnd == nil {
		l.rnd = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	n := &node{en: en, heap: l.rnd.Uint64()}
	n.pull()
	l.root = insertNode(l.root, n)
}

func insertNode(t, n *node) *node {
	if t == nil {
		return n
	}
	if n.heap > t.heap {
		n.left, n.right = split(t, n.en)
		n.pull()
		return n
	}
	if less(n.en, t.en) {
		t.left = insertNode(t.left, n)
	} else {
		t.right = insertNode(t.right, n)
	}
	t.pull()
	return t
}

// split cuts t into the entries before en and the rest.
func split(t *node, en *entry) (*node, *node) {
	if t == nil {
		return nil, nil
	}
	if less(t.en, en) {
		l, r := split(t.right, en)
		t.right = l
		t.pull()
		return t, r
	}
	l, r := split(t.left, en)
	t.left = r
	t.pull()
	return l, t
}

func merge(a, b *node) *node {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case a.heap > b.heap:
		a.right = merge(a.right, b)
		a.pull()
		return a
	default:
		b.left = merge(a, b.left)
		b.pull()
		return b
	}
}

// remove takes en out of the line; it reports whether it was there.
func (l *line) remove(en *entry) bool {
	var found bool
	l.root = removeNode(l.root, en, &found)
	return found
}

func removeNode(t *node, en *entry, found *bool) *node {
	if t == nil {
		return nil
	}
	if t.en == en {
		*found = true
		return merge(t.left, t.right)
	}
	if less(en, t.en) {
		t.left = removeNode(t.left, en, found)
	} else {
		t.right = removeNode(t.right, en, found)
	}
	if *found {
		t.pull()
	}
	return t
}

// touch recomputes the summaries above en after a change to its dispatch
// fields; an entry not in the line is ignored.
func (l *line) touch(en *entry) {
	touchNode(l.root, en)
}

func touchNode(t *node, en *entry) bool {
	if t == nil {
		return false
	}
	var found bool
	switch {
	case t.en == en:
		found = true
	case less(en, t.en):
		found = touchNode(t.left, en)
	default:
		found = touchNode(t.right, en)
	}
	if found {
		t.pull()
	}
	return found
}

// index is en's 0-based position, -1 when it is not in the line.
func (l *line) index(en *entry) int {
	before := 0
	for t := l.root; t != nil; {
		switch {
		case t.en == en:
			return before + size(t.left)
		case less(en, t.en):
			t = t.left
		default:
			before += size(t.left) + 1
			t = t.right
		}
	}
	return -1
}

// all yields the entries in line order with their 0-based positions. The
// caller may change entries' fields (and touch them) while iterating, but
// not insert or remove.
func (l *line) all() iter.Seq2[int, *entry] {
	return func(yield func(int, *entry) bool) {
		i := 0
		var walk func(*node) bool
		walk = func(t *node) bool {
			if t == nil {
				return true
			}
			if !walk(t.left) {
				return false
			}
			if !yield(i, t.en) {
				return false
			}
			i++
			return walk(t.right)
		}
		walk(l.root)
	}
}

// first is the first entry in line order that is reconciling or that an
// agent may take at now (cbOpen: the callback window is open): a walk down
// the summaries, O(log n) but for callbacks past their NotAfter that the
// next dispatch plan expires.
func (l *line) first(now time.Time, cbOpen bool) *entry {
	at := now.UnixNano()
	var find func(*node) *entry
	worth := func(t *node) bool {
		return t != nil && (t.reconciling || t.live || cbOpen && t.due <= at)
	}
	find = func(t *node) *entry {
		if !worth(t) {
			return nil
		}
		if en := find(t.left); en != nil {
			return en
		}
		en := t.en
		if en.reconciling || liveEligible(en) ||
			cbOpen && dueAt(en) <= at && (en.cb.NotAfter.IsZero() || now.Before(en.cb.NotAfter)) {
			return en
		}
		return find(t.right)
	}
	return find(l.root)
}

// overdue lists, in line order, the idle callbacks whose NotAfter or
// retry time has come (wakeAt ≤ now): O(k log n) for k of them.
func (l *line) overdue(now time.Time) []*entry {
	at := now.UnixNano()
	var out []*entry
	var walk func(*node)
	walk = func(t *node) {
		if t == nil || t.wake > at {
			return
		}
		walk(t.left)
		if wakeAt(t.en) <= at {
			out = append(out, t.en)
		}
		walk(t.right)
	}
	walk(l.root)
	return out
}

// nextWake is the earliest wakeAt in the line, never when there is none.
func (l *line) nextWake() int64 {
	if l.root == nil {
		return never
	}
	return l.root.wake
}

// nextDue is the earliest NotBefore of an idle registered callback, never
// when there is none.
func (l *line) nextDue() int64 {
	if l.root == nil {
		return never
	}
	return l.root.due
}
