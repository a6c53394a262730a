package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func openTemp(t testing.TB) (*SQLite, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "callflow.db")
	s, err := OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func newCB(queue, number string, seq int64) Callback {
	return Callback{Queue: queue, Number: number, ANI: "+420200000000", Media: []string{"recording:vm-1"},
		Priority: 1, JoinedAt: t0.Add(time.Duration(seq) * time.Second), Seq: seq, CreatedAt: t0, CallerCallID: "call-1"}
}

func TestMigrationsIdempotent(t *testing.T) {
	s, path := openTemp(t)
	ctx := context.Background()
	if n, err := migrate(ctx, s.db, t0); err != nil || n != 0 {
		t.Fatalf("second migrate applied %d, err %v; want 0, nil", n, err)
	}
	var v int
	if err := s.db.QueryRow(`SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil || v != LatestVersion() {
		t.Fatalf("version %d (err %v), want %d", v, err, LatestVersion())
	}
	var mode string
	if err := s.db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal mode %q (err %v), want wal", mode, err)
	}
	var sync int
	if err := s.db.QueryRow(`PRAGMA synchronous`).Scan(&sync); err != nil || sync != 2 {
		t.Fatalf("synchronous %d (err %v), want 2 (FULL)", sync, err)
	}
	s.Close()
	s2, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	s2.Close()
}

func TestRefusesNewerSchema(t *testing.T) {
	s, path := openTemp(t)
	if _, err := s.db.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'future', ?)`, LatestVersion()+1, fmtTime(t0)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err := OpenSQLite(context.Background(), path)
	if !errors.Is(err, ErrNewerSchema) {
		t.Fatalf("open newer db: err %v, want ErrNewerSchema", err)
	}
}

func TestTransitions(t *testing.T) {
	tests := []struct {
		name    string
		path    []State // states to walk through from registered
		from    State
		to      State
		wantErr error
	}{
		{name: "registered to dialing", from: Registered, to: Dialing},
		{name: "dialing to connected", path: []State{Dialing}, from: Dialing, to: Connected},
		{name: "connected to completed", path: []State{Dialing, Connected}, from: Connected, to: Completed},
		{name: "dialing back to registered", path: []State{Dialing}, from: Dialing, to: Registered},
		{name: "dialing to retry_wait", path: []State{Dialing}, from: Dialing, to: RetryWait},
		{name: "retry_wait to registered", path: []State{Dialing, RetryWait}, from: RetryWait, to: Registered},
		{name: "registered to expired", from: Registered, to: Expired},
		{name: "registered to cancelled", from: Registered, to: Cancelled},
		{name: "registered to completed is illegal", from: Registered, to: Completed, wantErr: ErrIllegal},
		{name: "completed to registered is illegal", path: []State{Dialing, Connected, Completed}, from: Completed, to: Registered, wantErr: ErrIllegal},
		{name: "connected to failed is illegal", path: []State{Dialing, Connected}, from: Connected, to: Failed, wantErr: ErrIllegal},
		{name: "stale from state conflicts", path: []State{Dialing}, from: Registered, to: Dialing, wantErr: ErrConflict},
	}
	s, _ := openTemp(t)
	ctx := context.Background()
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cb, out, err := s.Register(ctx, newCB("sales", fmt.Sprintf("+42060100%04d", i), int64(i)), true)
			if err != nil || out != Inserted {
				t.Fatalf("register: %v %v", out, err)
			}
			cur := Registered
			for _, st := range tc.path {
				if _, err := s.Transition(ctx, cb.ID, cur, st, Change{At: t0}); err != nil {
					t.Fatalf("walk %s → %s: %v", cur, st, err)
				}
				cur = st
			}
			two := 2
			got, err := s.Transition(ctx, cb.ID, tc.from, tc.to, Change{At: t0.Add(time.Minute), Attempts: &two, NextAt: t0.Add(time.Hour)})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err %v, want %v", err, tc.wantErr)
				}
				back, gerr := s.Get(ctx, cb.ID)
				if gerr != nil || back.State != cur {
					t.Fatalf("state after refused transition %s (err %v), want %s", back.State, gerr, cur)
				}
				return
			}
			if err != nil {
				t.Fatalf("transition: %v", err)
			}
			if got.State != tc.to || got.Attempts != 2 || !got.NextAt.Equal(t0.Add(time.Hour)) || !got.UpdatedAt.Equal(t0.Add(time.Minute)) {
				t.Fatalf("after transition: %+v", got)
			}
		})
	}
	if _, err := s.Transition(ctx, 9999, Registered, Dialing, Change{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown id: %v, want ErrNotFound", err)
	}
}

func TestConcurrentClaimOnce(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	cb, _, err := s.Register(ctx, newCB("sales", "+420601000001", 1), false)
	if err != nil {
		t.Fatal(err)
	}
	var wins, conflicts atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Transition(ctx, cb.ID, Registered, Dialing, Change{At: t0})
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, ErrConflict):
				conflicts.Add(1)
			default:
				t.Errorf("claim: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 || conflicts.Load() != 7 {
		t.Fatalf("wins %d conflicts %d, want 1 and 7", wins.Load(), conflicts.Load())
	}
}

func TestDedupe(t *testing.T) {
	tests := []struct {
		name      string
		first     State // state the first callback is moved to
		dedupe    bool
		wantOut   RegisterOutcome
		wantSameI bool
	}{
		{name: "open registered is a duplicate", first: Registered, dedupe: true, wantOut: Duplicate, wantSameI: true},
		{name: "open retry_wait is a duplicate", first: RetryWait, dedupe: true, wantOut: Duplicate, wantSameI: true},
		{name: "completed is not a duplicate", first: Completed, dedupe: true, wantOut: Inserted},
		{name: "dedupe off inserts", first: Registered, dedupe: false, wantOut: Inserted},
	}
	paths := map[State][]State{Registered: nil, RetryWait: {Dialing, RetryWait}, Completed: {Dialing, Connected, Completed}}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := openTemp(t)
			ctx := context.Background()
			num := fmt.Sprintf("+42060200%04d", i)
			first, _, err := s.Register(ctx, newCB("sales", num, 1), true)
			if err != nil {
				t.Fatal(err)
			}
			cur := Registered
			for _, st := range paths[tc.first] {
				if _, err := s.Transition(ctx, first.ID, cur, st, Change{At: t0}); err != nil {
					t.Fatal(err)
				}
				cur = st
			}
			// Another queue never counts.
			if _, out, err := s.Register(ctx, newCB("support", num, 2), true); err != nil || out != Inserted {
				t.Fatalf("other queue: %v %v", out, err)
			}
			got, out, err := s.Register(ctx, newCB("sales", num, 3), tc.dedupe)
			if err != nil || out != tc.wantOut {
				t.Fatalf("second register: %v %v, want %v", out, err, tc.wantOut)
			}
			if (got.ID == first.ID) != tc.wantSameI {
				t.Fatalf("second register id %d, first %d", got.ID, first.ID)
			}
		})
	}
}

func TestRestartKeepsEverything(t *testing.T) {
	s, path := openTemp(t)
	ctx := context.Background()
	cb := newCB("sales", "+420603000001", 7)
	cb.NotBefore, cb.NotAfter = t0.Add(time.Hour), t0.Add(5*time.Hour)
	reg, _, err := s.Register(ctx, cb, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Transition(ctx, reg.ID, Registered, Dialing, Change{At: t0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	aid, err := s.StartAttempt(ctx, Attempt{CallbackID: reg.ID, N: 1, Leg: LegAgent, Endpoint: "PJSIP/agent1", ANI: "+420200000000", StartedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.EndAttempt(ctx, aid, t0.Add(time.Second), "chan-1", "answered", "normal"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.StartAttempt(ctx, Attempt{CallbackID: reg.ID, N: 1, Leg: LegCustomer, Endpoint: "PJSIP/+420603000001@trunk", StartedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendEvent(ctx, Event{At: t0, Kind: "abandon", Queue: "sales", CallID: "call-9", Detail: map[string]string{"position": "2"}}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s2, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	open, err := s2.ListOpen(ctx)
	if err != nil || len(open) != 1 {
		t.Fatalf("open after restart: %v %v", open, err)
	}
	got := open[0]
	if got.State != Dialing || got.Number != cb.Number || !got.JoinedAt.Equal(cb.JoinedAt) || got.Seq != 7 ||
		!got.NotBefore.Equal(cb.NotBefore) || !got.NotAfter.Equal(cb.NotAfter) || len(got.Media) != 1 || got.Media[0] != "recording:vm-1" {
		t.Fatalf("callback after restart: %+v", got)
	}
	n, err := s2.CloseOpenAttempts(ctx, got.ID, t0.Add(time.Hour), "interrupted")
	if err != nil || n != 1 {
		t.Fatalf("close open attempts: %d %v, want 1", n, err)
	}
	atts, err := s2.Attempts(ctx, got.ID)
	if err != nil || len(atts) != 2 || atts[0].ChannelID != "chan-1" || atts[1].Outcome != "interrupted" {
		t.Fatalf("attempts: %+v %v", atts, err)
	}
	evs, err := s2.ListEvents(ctx)
	if err != nil || len(evs) != 1 || evs[0].Kind != "abandon" || evs[0].Detail["position"] != "2" {
		t.Fatalf("events: %+v %v", evs, err)
	}
}

func TestGroupCommitConcurrentRegistrations(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	const n = 100
	var wg sync.WaitGroup
	ids := make([]int64, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Every number twice: dedupe must let exactly one in.
			cb, _, err := s.Register(ctx, newCB("sales", fmt.Sprintf("+42060400%04d", i/2), int64(i)), true)
			if err != nil {
				t.Errorf("register %d: %v", i, err)
			}
			ids[i] = cb.ID
		}()
	}
	wg.Wait()
	open, err := s.ListOpen(ctx)
	if err != nil || len(open) != n/2 {
		t.Fatalf("open callbacks %d (err %v), want %d", len(open), err, n/2)
	}
	for i := 0; i < n; i += 2 {
		if ids[i] != ids[i+1] || ids[i] == 0 {
			t.Fatalf("pair %d got ids %d and %d, want one shared id", i/2, ids[i], ids[i+1])
		}
	}
}

func TestRegisterAfterClose(t *testing.T) {
	s, _ := openTemp(t)
	s.Close()
	if _, _, err := s.Register(context.Background(), newCB("sales", "+420601000001", 1), true); !errors.Is(err, ErrClosed) {
		t.Fatalf("register after close: %v, want ErrClosed", err)
	}
}

// BenchmarkRegister measures durable registrations per second (WAL,
// synchronous=FULL) with concurrent callers sharing group commits.
func BenchmarkRegister(b *testing.B) {
	s, _ := openTemp(b)
	ctx := context.Background()
	var n atomic.Int64
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			if _, _, err := s.Register(ctx, newCB("sales", fmt.Sprintf("+4206%08d", i), i), true); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "registrations/s")
}

// BenchmarkRegisterSerial is one caller at a time: every registration
// pays its own synchronous commit (the baseline group commit improves on).
func BenchmarkRegisterSerial(b *testing.B) {
	s, _ := openTemp(b)
	ctx := context.Background()
	for i := range b.N {
		if _, _, err := s.Register(ctx, newCB("sales", fmt.Sprintf("+4206%08d", i), int64(i)), true); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "registrations/s")
}

func TestMemoryDatabase(t *testing.T) {
	ctx := context.Background()
	s, err := OpenSQLite(ctx, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cb, out, err := s.Register(ctx, newCB("sales", "+420601000001", 1), true)
	if err != nil || out != Inserted {
		t.Fatalf("register: %v %v", out, err)
	}
	if _, err := s.Transition(ctx, cb.ID, Registered, Dialing, Change{At: t0}); err != nil {
		t.Fatal(err)
	}
	open, err := s.ListOpen(ctx)
	if err != nil || len(open) != 1 || open[0].State != Dialing {
		t.Fatalf("open %+v %v", open, err)
	}
}
