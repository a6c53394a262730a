package store

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func lineRow(call string, prio int, seq int64) LineEntry {
	return LineEntry{CallID: call, Queue: "sales", State: LineWaiting, Priority: prio,
		JoinedAt: t0.Add(time.Duration(seq) * time.Second), Seq: seq, InQueue: true, Resume: "main/wait", UpdatedAt: t0}
}

func TestLineRowsSurviveReopenInOrder(t *testing.T) {
	s, path := openTemp(t)
	ctx := context.Background()
	s.SaveLine(lineRow("c3", 0, 3))
	s.SaveLine(lineRow("c1", 0, 1))
	s.SaveLine(lineRow("c2", 5, 2)) // higher priority: first
	gone := lineRow("c4", 0, 4)
	s.SaveLine(gone)
	s.DropLine("c4")
	res := lineRow("c1", 0, 1)
	res.State, res.InQueue = LineReserved, false
	s.SaveLine(res) // replaces c1's row
	conv := lineRow("c5", 0, 5)
	conv.State, conv.Agent, conv.AgentCallID = LineConversation, "PJSIP/agent1", "leg-1"
	s.SaveLine(conv)
	// Close commits what was queued, without a FlushLine.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	rows, bad, err := s2.ListLine(ctx)
	if err != nil || len(bad) != 0 {
		t.Fatalf("list: %v, refused %v", err, bad)
	}
	var got []string
	for _, r := range rows {
		got = append(got, fmt.Sprintf("%s:%s:%v", r.CallID, r.State, r.InQueue))
	}
	want := "c2:waiting:true c1:reserved:false c3:waiting:true c5:conversation:true"
	if strings.Join(got, " ") != want {
		t.Fatalf("rows %q, want %q", strings.Join(got, " "), want)
	}
	if !rows[0].JoinedAt.Equal(t0.Add(2*time.Second)) || rows[3].AgentCallID != "leg-1" || rows[0].Resume != "main/wait" {
		t.Fatalf("row fields lost: %+v", rows)
	}
}

func TestLineRegisterReplacesCallersRow(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	r := lineRow("call-1", 1, 1)
	r.State = LineReserved
	s.SaveLine(r)
	// newCB's CallerCallID is call-1: the callback takes the place.
	if _, _, err := s.Register(ctx, newCB("sales", "+420601000001", 1), true); err != nil {
		t.Fatal(err)
	}
	rows, _, err := s.ListLine(ctx)
	if err != nil || len(rows) != 0 {
		t.Fatalf("rows after register %+v %v, want none", rows, err)
	}
}

func TestLineRowsRideEventCommits(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	written := func() bool {
		s.lmu.Lock()
		defer s.lmu.Unlock()
		return s.lineWritten == s.lineQueued
	}
	start := time.Now()
	s.SaveLine(lineRow("c1", 0, 1))
	if err := s.AppendEvents(ctx, []Event{{Kind: "joined", Queue: "sales", CallID: "c1"}}); err != nil {
		t.Fatal(err)
	}
	// The committer waits lineLinger before writing rows alone: before
	// that, only the events' commit can have written this one.
	if !written() && time.Since(start) < lineLinger {
		t.Fatal("the row queued before the events was not written with them")
	}

	// A batch the store refuses does not take the rows with it.
	s.SaveLine(lineRow("c2", 0, 2))
	if err := s.AppendEvents(ctx, []Event{{Kind: "left", CallID: "c1"}, {Queue: "sales"}}); err == nil {
		t.Fatal("an event without a kind was accepted")
	}
	if !written() && time.Since(start) < lineLinger {
		t.Fatal("the row queued before a refused batch was not written")
	}
	if err := s.FlushLine(ctx); err != nil {
		t.Fatalf("flush after a refused batch: %v", err)
	}
	rows, _, err := s.ListLine(ctx)
	if err != nil || len(rows) != 2 {
		t.Fatalf("rows %+v %v, want c1 and c2", rows, err)
	}
	var n int
	if err := s.db.QueryRow(`SELECT count(*) FROM events`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d events (%v), want the first batch's one", n, err)
	}
}

func TestLineRefusesCorruptedRows(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	s.SaveLine(lineRow("good", 0, 1))
	if err := s.FlushLine(ctx); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO line_entries (call_id, queue, state, priority, joined_at, seq, updated_at) VALUES ('b1', 'sales', 'dancing', 0, '2026-03-02T09:00:00.000000000Z', 1, '2026-03-02T09:00:00.000000000Z')`,
		`INSERT INTO line_entries (call_id, queue, state, priority, joined_at, seq, updated_at) VALUES ('b2', 'sales', 'waiting', 0, 'yesterday', 1, '2026-03-02T09:00:00.000000000Z')`,
		`INSERT INTO line_entries (call_id, queue, state, priority, joined_at, seq, updated_at) VALUES ('b3', 'sales', 'conversation', 0, '2026-03-02T09:00:00.000000000Z', 1, '2026-03-02T09:00:00.000000000Z')`,
		`INSERT INTO line_entries (call_id, queue, state, priority, joined_at, seq, resume, updated_at) VALUES ('b4', 'sales', 'waiting', 0, '2026-03-02T09:00:00.000000000Z', 1, 'nowhere', '2026-03-02T09:00:00.000000000Z')`,
		`INSERT INTO line_entries (call_id, queue, state, priority, joined_at, seq, updated_at) VALUES ('b5', 'sales', 'waiting', 'high', '2026-03-02T09:00:00.000000000Z', 1, '2026-03-02T09:00:00.000000000Z')`,
	} {
		if _, err := s.db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	rows, bad, err := s.ListLine(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].CallID != "good" {
		t.Fatalf("rows %+v, want only good", rows)
	}
	reasons := map[string]string{}
	for _, b := range bad {
		reasons[b.CallID] = b.Reason
	}
	for id, want := range map[string]string{"b1": "unknown state", "b2": "bad joined_at", "b3": "without its agent leg", "b4": "bad resume point", "b5": ""} {
		if got, ok := reasons[id]; !ok || !strings.Contains(got, want) {
			t.Errorf("%s refused with %q (present %v), want %q", id, got, ok, want)
		}
	}
}

// BenchmarkRegisterWithLine is BenchmarkRegister while every registration
// also saves and drops line rows, as a busy queue does: the rows ride the
// same group commits.
func BenchmarkRegisterWithLine(b *testing.B) {
	s, _ := openTemp(b)
	ctx := context.Background()
	var n atomic.Int64
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			call := fmt.Sprintf("call-%d", i)
			s.SaveLine(lineRow(call, 0, i))
			cb := newCB("sales", fmt.Sprintf("+4206%08d", i), i)
			cb.CallerCallID = call
			if _, _, err := s.Register(ctx, cb, true); err != nil {
				b.Error(err)
				return
			}
			s.DropLine(call)
		}
	})
	if err := s.FlushLine(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "registrations/s")
}
