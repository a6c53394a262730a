package queue

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/callflow/callflow/store"
)

// benchLine builds a line of n entries mixed as after a storm of callbacks:
// a quarter live callers already offered to an agent, a quarter reserved,
// half callbacks not due for an hour — and one eligible live caller at the
// very end, so take-first-eligible must look past every other entry (the
// worst case, and the one every dispatch plan meets while agents wait for
// callbacks to become due).
func benchLine(n int, now time.Time) (*queueState, []*entry) {
	q := &queueState{cfg: QueueConfig{Name: "bench"}}
	r := rand.New(rand.NewPCG(1, 2))
	ens := make([]*entry, 0, n)
	for i := range n - 1 {
		en := &entry{q: q, priority: 1 + r.IntN(3), joined: now.Add(-time.Duration(r.IntN(3600)) * time.Second), seq: int64(i)}
		switch k := r.IntN(4); k {
		case 0:
			en.kind, en.w, en.busy = kindLive, &waiter{}, true
		case 1:
			en.kind = kindReserved
		default:
			en.kind = kindCallback
			en.cb = store.Callback{ID: int64(i), State: store.Registered, NotBefore: now.Add(time.Hour)}
		}
		q.insert(en)
		ens = append(ens, en)
	}
	last := &entry{q: q, kind: kindLive, w: &waiter{}, joined: now, seq: int64(n)}
	q.insert(last)
	return q, append(ens, last)
}

// batch is how many operations run between two untimed clean-ups, so the
// line stays within batch entries of its size without a StopTimer per op.
const batch = 64

func BenchmarkLine(b *testing.B) {
	// The tests' cross-check walks the whole line at every decision.
	check := lineCheck
	lineCheck = nil
	defer func() { lineCheck = check }()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for _, n := range []int{100, 10_000, 100_000} {
		q, ens := benchLine(n, now)
		r := rand.New(rand.NewPCG(3, 4))
		b.Run(fmt.Sprintf("enqueue/%d", n), func(b *testing.B) {
			seq := int64(n)
			added := make([]*entry, 0, batch)
			for b.Loop() {
				seq++
				en := &entry{q: q, kind: kindLive, w: &waiter{}, priority: 1 + r.IntN(3), joined: now.Add(-time.Duration(r.IntN(3600)) * time.Second), seq: seq}
				q.insert(en)
				if added = append(added, en); len(added) == batch {
					b.StopTimer()
					for _, en := range added {
						q.remove(en)
					}
					added = added[:0]
					b.StartTimer()
				}
			}
			for _, en := range added {
				q.remove(en)
			}
		})
		b.Run(fmt.Sprintf("remove/%d", n), func(b *testing.B) {
			removed := make([]*entry, 0, batch)
			perm := r.Perm(len(ens) - 1) // never the eligible tail
			i := 0
			for b.Loop() {
				en := ens[perm[i%len(perm)]]
				i++
				if !q.remove(en) {
					b.Fatal("entry not in line")
				}
				if removed = append(removed, en); len(removed) == batch || i%len(perm) == 0 {
					b.StopTimer()
					for _, en := range removed {
						q.insert(en)
					}
					removed = removed[:0]
					b.StartTimer()
				}
			}
			for _, en := range removed {
				q.insert(en)
			}
		})
		b.Run(fmt.Sprintf("position/%d", n), func(b *testing.B) {
			for b.Loop() {
				if q.index(ens[r.IntN(len(ens))]) < 0 {
					b.Fatal("entry not in line")
				}
			}
		})
		b.Run(fmt.Sprintf("take-first-eligible/%d", n), func(b *testing.B) {
			for b.Loop() {
				if q.headEligible(now) != ens[len(ens)-1] {
					b.Fatal("wrong head")
				}
			}
		})
	}
}
