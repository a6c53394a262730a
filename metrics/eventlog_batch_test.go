package metrics

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/callflow/callflow/store"
	"github.com/callflow/callflow/trace"
)

// TestEventLogBatchesTrickle: lines that arrive one at a time, as calls
// progress, share commits instead of each taking its own.
func TestEventLogBatchesTrickle(t *testing.T) {
	tests := []struct {
		name       string
		lines      int
		gap        time.Duration
		maxCommits int
	}{
		{name: "steady trickle", lines: 40, gap: 2 * time.Millisecond, maxCommits: 8},
		{name: "burst above one batch", lines: eventLogBatch + 10, maxCommits: 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &flaky{}
			el := NewEventLog(f, zaptest.NewLogger(t))
			for i := range tc.lines {
				el.Emit(trace.Event{At: simStart, Call: fmt.Sprintf("c%d", i), Source: trace.Queue, Kind: "joined", Attrs: map[string]string{"queue": "q"}})
				if tc.gap > 0 {
					time.Sleep(tc.gap)
				}
			}
			if err := el.Close(); err != nil {
				t.Fatal(err)
			}
			if len(f.got) != tc.lines {
				t.Fatalf("wrote %d lines, want %d", len(f.got), tc.lines)
			}
			if f.calls > tc.maxCommits {
				t.Errorf("%d lines took %d commits, want ≤ %d", tc.lines, f.calls, tc.maxCommits)
			}
		})
	}
}

// TestEventLogCloseDoesNotLinger: Close writes a pending line at once
// instead of waiting out the batch linger.
func TestEventLogCloseDoesNotLinger(t *testing.T) {
	f := &flaky{}
	el := NewEventLog(f, zaptest.NewLogger(t))
	el.Emit(trace.Event{At: simStart, Call: "c1", Source: trace.Queue, Kind: "joined", Attrs: map[string]string{"queue": "q"}})
	start := time.Now()
	if err := el.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d >= eventLogLinger {
		t.Errorf("Close took %v, want < %v", d, eventLogLinger)
	}
	if len(f.got) != 1 {
		t.Fatalf("wrote %d lines, want 1", len(f.got))
	}
}

// BenchmarkEventLogTrickle writes lines to a real SQLite store (WAL,
// synchronous=FULL) arriving 1 ms apart, as under call load, and reports
// the commits each line costs.
func BenchmarkEventLogTrickle(b *testing.B) {
	st, err := store.OpenSQLite(b.Context(), filepath.Join(b.TempDir(), "ev.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	c := &countingAppender{st: st}
	el := NewEventLog(c, zap.NewNop())
	ev := trace.Event{At: simStart, Call: "c1", Source: trace.Queue, Kind: "joined", Attrs: map[string]string{"queue": "q"}}
	n := 0
	for b.Loop() {
		el.Emit(ev)
		time.Sleep(time.Millisecond)
		n++
	}
	if err := el.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(c.calls)/float64(n), "commits/line")
}

type countingAppender struct {
	st    *store.SQLite
	calls int // only the writer goroutine touches it until Close returns
}

func (c *countingAppender) AppendEvents(ctx context.Context, evs []store.Event) error {
	c.calls++
	return c.st.AppendEvents(ctx, evs)
}
