// Package heap measures the memory each waiting caller costs: N callers wait
// in a queue with the benchmark's in-queue flow (an announcement loop on
// music on hold) on the simulated switch, with the real queue engine, flow
// VM and SQLite store.
package heap

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/callflow/callflow/adapter"
	"github.com/callflow/callflow/adapter/sim"
	"github.com/callflow/callflow/flowvm"
	"github.com/callflow/callflow/queue"
	"github.com/callflow/callflow/store"
	"github.com/callflow/callflow/trace"
)

// goalPerCall is the goal: at most 64 KiB of heap per waiting call.
const goalPerCall = 64 << 10

// usage is what one measurement saw.
type usage struct {
	waiting      int     // entries in the queue at the probe
	heapPerCall  float64 // bytes of live heap per waiting call
	stackPerCall float64 // bytes of goroutine stacks per waiting call
}

// measure runs n callers who join the bench queue one every 10 ms of
// virtual time and never leave, and compares the live heap (after a GC)
// just before the first caller with the live heap 60 s later.
func measure(tb testing.TB, n int) usage {
	tb.Helper()
	ctx := context.Background()
	prog, err := flowvm.Load(os.DirFS(filepath.Join("..", "callflow", "flows")), "bench.yaml", "bench-wait.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	st, err := store.OpenSQLite(ctx, filepath.Join(tb.TempDir(), "heap.db"))
	if err != nil {
		tb.Fatal(err)
	}
	defer st.Close()

	start := time.Date(2026, time.January, 5, 8, 0, 0, 0, time.UTC)
	sched := sim.NewScheduler(start)
	sc := &sim.Scenario{PromptDuration: 3 * time.Second}
	for i := range n {
		sc.Callers = append(sc.Callers, sim.Caller{
			ID: fmt.Sprintf("caller-%d", i+1), At: time.Second + time.Duration(i)*10*time.Millisecond,
			From: fmt.Sprintf("+42060100%04d", i), To: "700",
		})
	}
	sw := sim.New(sched, sc, trace.Nop{}, sim.Options{})
	// No agents: every caller waits for the whole run.
	cfg := queue.Config{Queues: []queue.QueueConfig{{Name: "bench", InQueueFlow: "bench-wait", MusicClass: "default"}}}
	log := zap.NewNop()
	eng, err := queue.New(cfg, queue.Deps{Switch: sw, Store: st, Clock: sched, Trace: trace.Nop{}, Log: log})
	if err != nil {
		tb.Fatal(err)
	}
	if err := eng.Start(ctx); err != nil {
		tb.Fatal(err)
	}
	rt := flowvm.Runtime{Switch: sw, Queues: eng, Clock: sched, Trace: trace.Nop{}, Log: log}
	if err := sw.Serve(ctx, func(ctx context.Context, c adapter.Call) {
		_ = prog.Run(ctx, c, rt) // ends with the run's shutdown hang-up
	}); err != nil {
		tb.Fatal(err)
	}
	sched.OnStop(eng.Stop)

	var before, after runtime.MemStats
	var waiting int
	sched.AfterFunc(500*time.Millisecond, func() { readLive(&before) })
	probeAt := time.Second + time.Duration(n)*10*time.Millisecond + 60*time.Second
	sched.AfterFunc(probeAt, func() {
		if snap, ok := eng.Snapshot("bench"); ok {
			waiting = len(snap.Entries)
		}
		readLive(&after)
	})
	if err := sched.Run(ctx, start.Add(probeAt+time.Second)); err != nil {
		tb.Fatal(err)
	}
	if waiting != n {
		tb.Fatalf("%d callers waiting at the probe, want %d", waiting, n)
	}
	return usage{
		waiting:      waiting,
		heapPerCall:  (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / float64(n),
		stackPerCall: (float64(after.StackInuse) - float64(before.StackInuse)) / float64(n),
	}
}

func readLive(m *runtime.MemStats) {
	runtime.GC()
	runtime.GC() // a second cycle frees what the first one's finalizers released
	runtime.ReadMemStats(m)
}

// TestHeapPerWaitingCall holds the goal: ≤ 64 KiB of heap per
// waiting call (goroutine stacks counted too).
func TestHeapPerWaitingCall(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a 200-caller simulation")
	}
	u := measure(t, 200)
	t.Logf("%d waiting: %.1f KiB heap + %.1f KiB stack per call", u.waiting, u.heapPerCall/1024, u.stackPerCall/1024)
	if total := u.heapPerCall + u.stackPerCall; total > goalPerCall {
		t.Errorf("%.1f KiB per waiting call, goal ≤ %d KiB", total/1024, goalPerCall>>10)
	}
}

// BenchmarkHeapPerWaitingCall reports the heap and stack bytes each of 1,000
// waiting callers costs (one simulation per iteration).
func BenchmarkHeapPerWaitingCall(b *testing.B) {
	var u usage
	for b.Loop() {
		u = measure(b, 1000)
	}
	b.ReportMetric(u.heapPerCall/1024, "heap-KiB/call")
	b.ReportMetric(u.stackPerCall/1024, "stack-KiB/call")
}
