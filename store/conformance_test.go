package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callflow/callflow/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// opener is one database of a backend. open opens a new store instance on
// it each time it is called, as another process would; every instance is
// closed when the test ends. raw opens a handle that does not migrate.
type opener struct {
	open func() (*DB, error)
	raw  func(t *testing.T) *conn
}

// backend gives a test a fresh, empty database.
type backend func(t *testing.T) opener

func sqliteBackend(t *testing.T) opener {
	path := filepath.Join(t.TempDir(), "callflow.db")
	return opener{
		open: closing(t, func() (*DB, error) { return OpenSQLite(context.Background(), path) }),
		raw: func(t *testing.T) *conn {
			db, err := sql.Open("sqlite3", "file:"+path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return newConn(db, &sqliteDialect)
		},
	}
}

func postgresBackend(t *testing.T) opener {
	_, dsn := pgtest.Require(t)
	return opener{
		open: closing(t, func() (*DB, error) { return OpenPostgres(context.Background(), dsn) }),
		raw: func(t *testing.T) *conn {
			db, err := sql.Open("pgx", dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return newConn(db, &postgresDialect)
		},
	}
}

func closing(t *testing.T, open func() (*DB, error)) func() (*DB, error) {
	return func() (*DB, error) {
		s, err := open()
		if err == nil {
			t.Cleanup(func() { s.Close() })
		}
		return s, err
	}
}

var backends = []struct {
	name string
	b    backend
}{
	{"sqlite", sqliteBackend},
	{"postgres", postgresBackend},
}

func mustOpen(t *testing.T, open opener) *DB {
	t.Helper()
	s, err := open.open()
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return s
}

// TestConformance runs every store operation against SQLite and a real
// PostgreSQL with the same expectations.
func TestConformance(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) { runConformance(t, be.b) })
	}
}

// runConformance is the store conformance suite: each case gets a fresh
// database from b.
func runConformance(t *testing.T, b backend) {
	cases := []struct {
		name string
		run  func(t *testing.T, open opener)
	}{
		{"migrations", confMigrations},
		{"newer schema refused, nothing written", confNewerSchema},
		{"transitions", confTransitions},
		{"concurrent transition claims once", confClaimOnce},
		{"dedupe", confDedupe},
		{"the callbacks of a call", confFromCall},
		{"group commit", confGroupCommit},
		{"group commit dedupe across instances", confDedupeAcrossInstances},
		{"claim next in line order", confClaimNextOrder},
		{"two instances never claim one callback", confClaimNextTwoInstances},
		{"attempts", confAttempts},
		{"crash reconciliation", confCrashReconciliation},
		{"events", confEvents},
		{"query callbacks", confQueryCallbacks},
		{"register after close", confRegisterAfterClose},
		{"leases hand over with fencing tokens", confLeaseSteps},
		{"a fenced claim needs the lease", confFencedClaim},
		{"a fenced transition needs the lease", confFencedTransition},
		{"one lease winner among concurrent acquirers", confLeaseRace},
		{"durable line", confLine},
		{"nodes and the fence check", confNodes},
		{"agents and line heads across switches", confDispatch},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, b(t)) })
	}
}

func confMigrations(t *testing.T, open opener) {
	s := mustOpen(t, open)
	ctx := context.Background()
	if n, err := migrate(ctx, s.db, t0); err != nil || n != 0 {
		t.Fatalf("second migrate applied %d, err %v; want 0, nil", n, err)
	}
	var v int
	if err := s.db.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil || v != LatestVersion() {
		t.Fatalf("version %d (err %v), want %d", v, err, LatestVersion())
	}
	// A second process opening the same database migrates nothing.
	mustOpen(t, open)
}

func confNewerSchema(t *testing.T, open opener) {
	s := mustOpen(t, open)
	ctx := context.Background()
	if _, _, err := s.Register(ctx, newCB("sales", "+420601000001", 1), false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'future', ?)`,
		LatestVersion()+1, fmtTime(t0)); err != nil {
		t.Fatal(err)
	}
	before := dump(t, s)
	s.Close()
	_, err := open.open()
	if !errors.Is(err, ErrNewerSchema) {
		t.Fatalf("open newer database: err %v, want ErrNewerSchema", err)
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("version %d", LatestVersion()+1)) {
		t.Fatalf("error %q does not say the database's version", err)
	}
	// Look again through a raw handle: the refused open wrote nothing.
	raw := open.raw(t)
	if after := dumpConn(t, raw); after != before {
		t.Fatalf("refused open changed the database:\nbefore %s\nafter  %s", before, after)
	}
}

// dump renders what a refused open must leave alone.
func dump(t *testing.T, s *DB) string { return dumpConn(t, s.db) }

func dumpConn(t *testing.T, c *conn) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	rows, err := c.QueryContext(ctx, `SELECT version, name FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var v int
		var n string
		if err := rows.Scan(&v, &n); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%d:%s ", v, n)
	}
	rows.Close()
	var cbs, evs int
	if err := c.QueryRowContext(ctx, `SELECT COUNT(*) FROM callbacks`).Scan(&cbs); err != nil {
		t.Fatal(err)
	}
	if err := c.QueryRowContext(ctx, `SELECT COUNT(*) FROM events`).Scan(&evs); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "callbacks=%d events=%d", cbs, evs)
	return b.String()
}

func confTransitions(t *testing.T, open opener) {
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
		{name: "dialing to failed", path: []State{Dialing}, from: Dialing, to: Failed},
		{name: "registered to completed is illegal", from: Registered, to: Completed, wantErr: ErrIllegal},
		{name: "completed to registered is illegal", path: []State{Dialing, Connected, Completed}, from: Completed, to: Registered, wantErr: ErrIllegal},
		{name: "connected to failed is illegal", path: []State{Dialing, Connected}, from: Connected, to: Failed, wantErr: ErrIllegal},
		{name: "stale from state conflicts", path: []State{Dialing}, from: Registered, to: Dialing, wantErr: ErrConflict},
	}
	s := mustOpen(t, open)
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
	if _, err := s.Transition(ctx, 999999, Registered, Dialing, Change{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown id: %v, want ErrNotFound", err)
	}
	if _, err := s.Get(ctx, 999999); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get unknown id: %v, want ErrNotFound", err)
	}
	// Attempts nil keeps the count; a zero NextAt clears next_at.
	cb, _, err := s.Register(ctx, newCB("sales", "+420609999999", 99), false)
	if err != nil {
		t.Fatal(err)
	}
	three := 3
	if _, err := s.Transition(ctx, cb.ID, Registered, Dialing, Change{At: t0, Attempts: &three, NextAt: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Transition(ctx, cb.ID, Dialing, Registered, Change{At: t0.Add(time.Second)})
	if err != nil || got.Attempts != 3 || !got.NextAt.IsZero() {
		t.Fatalf("keep attempts, clear next_at: %+v %v", got, err)
	}
}

func confClaimOnce(t *testing.T, open opener) {
	a, b := mustOpen(t, open), mustOpen(t, open)
	ctx := context.Background()
	cb, _, err := a.Register(ctx, newCB("sales", "+420601000001", 1), false)
	if err != nil {
		t.Fatal(err)
	}
	var wins, conflicts atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		s := a
		if i%2 == 1 {
			s = b
		}
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

func confDedupe(t *testing.T, open opener) {
	tests := []struct {
		name     string
		first    State // state the first callback is moved to
		dedupe   bool
		wantOut  RegisterOutcome
		wantSame bool
	}{
		{name: "open registered is a duplicate", first: Registered, dedupe: true, wantOut: Duplicate, wantSame: true},
		{name: "open dialing is a duplicate", first: Dialing, dedupe: true, wantOut: Duplicate, wantSame: true},
		{name: "open retry_wait is a duplicate", first: RetryWait, dedupe: true, wantOut: Duplicate, wantSame: true},
		{name: "completed is not a duplicate", first: Completed, dedupe: true, wantOut: Inserted},
		{name: "cancelled is not a duplicate", first: Cancelled, dedupe: true, wantOut: Inserted},
		{name: "dedupe off inserts", first: Registered, dedupe: false, wantOut: Inserted},
	}
	paths := map[State][]State{Registered: nil, Dialing: {Dialing}, RetryWait: {Dialing, RetryWait},
		Completed: {Dialing, Connected, Completed}, Cancelled: {Cancelled}}
	s := mustOpen(t, open)
	ctx := context.Background()
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
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
			if (got.ID == first.ID) != tc.wantSame {
				t.Fatalf("second register id %d, first %d", got.ID, first.ID)
			}
			found, ok, err := s.FindOpen(ctx, "sales", num)
			if err != nil || !ok {
				t.Fatalf("find open: %v %v", ok, err)
			}
			if tc.wantSame && found.ID != first.ID {
				t.Fatalf("find open %d, want %d", found.ID, first.ID)
			}
		})
	}
	if _, ok, err := s.FindOpen(ctx, "sales", "+420000000000"); err != nil || ok {
		t.Fatalf("find open of unknown number: %v %v", ok, err)
	}
}

func confFromCall(t *testing.T, open opener) {
	s := mustOpen(t, open)
	ctx := context.Background()
	reg := func(queue, number, call string) Callback {
		t.Helper()
		cb := newCB(queue, number, 1)
		cb.CallerCallID = call
		got, _, err := s.Register(ctx, cb, false)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	first := reg("sales", "+420603000001", "call-a")
	reg("sales", "+420603000001", "call-a") // a second one (no dedupe): the oldest is found
	reg("support", "+420603000002", "call-a")
	reg("sales", "+420603000002", "call-b")
	reg("sales", "+420603000003", "")
	for _, st := range []State{Dialing, Connected, Completed} {
		cur, err := s.Get(ctx, first.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Transition(ctx, first.ID, cur.State, st, Change{At: t0}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		queue, number, call string
		want                int64 // 0: none
	}{
		{"sales", "+420603000001", "call-a", first.ID}, // completed still counts
		{"sales", "+420603000002", "call-a", 0},        // another number
		{"support", "+420603000001", "call-a", 0},      // another queue
		{"sales", "+420603000001", "call-b", 0},        // another call
		{"sales", "+420603000003", "", 0},              // no call (the API)
	}
	for _, tc := range tests {
		got, ok, err := s.FromCall(ctx, tc.queue, tc.number, tc.call)
		if err != nil {
			t.Fatal(err)
		}
		if (tc.want != 0) != ok || (ok && got.ID != tc.want) {
			t.Errorf("FromCall(%s, %s, %q): %d %v, want %d", tc.queue, tc.number, tc.call, got.ID, ok, tc.want)
		}
	}
}

func confGroupCommit(t *testing.T, open opener) {
	s := mustOpen(t, open)
	ctx := context.Background()
	const n = 200
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
	open2, err := s.ListOpen(ctx)
	if err != nil || len(open2) != n/2 {
		t.Fatalf("open callbacks %d (err %v), want %d", len(open2), err, n/2)
	}
	for i := 0; i < n; i += 2 {
		if ids[i] != ids[i+1] || ids[i] == 0 {
			t.Fatalf("pair %d got ids %d and %d, want one shared id", i/2, ids[i], ids[i+1])
		}
	}
	// A registration the committer acknowledged is durable: another
	// instance reads it.
	other := mustOpen(t, open)
	all, err := other.ListAll(ctx)
	if err != nil || len(all) != n/2 {
		t.Fatalf("another instance sees %d callbacks (err %v), want %d", len(all), err, n/2)
	}
	// One bad request in a batch does not fail the others.
	var bad, good atomic.Int32
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cb := newCB("sales", fmt.Sprintf("+42060500%04d", i), int64(i))
			if i == 7 {
				cb.Media = []string{"ok"}
				cb.Priority = 1
				cb.JoinedAt = time.Time{}
				cb.CreatedAt = time.Time{}
				cb.Queue = strings.Repeat("x", 10) + "\x00" // NUL is refused by PostgreSQL text and accepted by SQLite
			}
			if _, _, err := s.Register(ctx, cb, true); err != nil {
				bad.Add(1)
			} else {
				good.Add(1)
			}
		}()
	}
	wg.Wait()
	if good.Load() < 19 {
		t.Fatalf("%d of 20 registrations committed (%d refused), want at least the 19 good ones", good.Load(), bad.Load())
	}
}

func confDedupeAcrossInstances(t *testing.T, open opener) {
	a, b := mustOpen(t, open), mustOpen(t, open)
	ctx := context.Background()
	const n = 100
	var wg sync.WaitGroup
	ids := make([]int64, 2*n)
	for i := range 2 * n {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cb, _, err := s.Register(ctx, newCB("sales", fmt.Sprintf("+42060600%04d", i/2), int64(i)), true)
			if err != nil {
				t.Errorf("register %d: %v", i, err)
			}
			ids[i] = cb.ID
		}()
	}
	wg.Wait()
	all, err := a.ListAll(ctx)
	if err != nil || len(all) != n {
		t.Fatalf("%d callbacks (err %v), want %d: two instances both inserted one number", len(all), err, n)
	}
	for i := 0; i < 2*n; i += 2 {
		if ids[i] != ids[i+1] {
			t.Fatalf("number %d got ids %d and %d", i/2, ids[i], ids[i+1])
		}
	}
}

func confClaimNextOrder(t *testing.T, open opener) {
	s := mustOpen(t, open)
	ctx := context.Background()
	now := t0.Add(time.Hour)
	reg := func(number string, prio int, joined time.Duration, seq int64, nb, na time.Time) int64 {
		cb := newCB("sales", number, seq)
		cb.Priority, cb.JoinedAt, cb.NotBefore, cb.NotAfter = prio, t0.Add(joined), nb, na
		got, _, err := s.Register(ctx, cb, false)
		if err != nil {
			t.Fatal(err)
		}
		return got.ID
	}
	late := reg("+420601000001", 0, 1*time.Second, 1, time.Time{}, time.Time{})
	early := reg("+420601000002", 0, 0, 2, time.Time{}, time.Time{})
	tieB := reg("+420601000003", 0, 5*time.Second, 9, time.Time{}, time.Time{})
	tieA := reg("+420601000004", 0, 5*time.Second, 8, time.Time{}, time.Time{})
	vip := reg("+420601000005", 5, 10*time.Second, 3, time.Time{}, time.Time{})
	reg("+420601000006", 9, 0, 4, now.Add(time.Minute), time.Time{}) // not yet
	reg("+420601000007", 9, 0, 5, time.Time{}, now)                  // window over
	inWin := reg("+420601000008", 0, 20*time.Second, 6, now, now.Add(time.Hour))
	if _, _, err := s.Register(ctx, newCB("support", "+420601000009", 0), false); err != nil {
		t.Fatal(err)
	}
	var got []int64
	for {
		cb, ok, err := s.ClaimNext(ctx, "sales", now, Fence{})
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		if cb.State != Dialing || !cb.UpdatedAt.Equal(now) {
			t.Fatalf("claimed %+v, want dialing updated at now", cb)
		}
		got = append(got, cb.ID)
	}
	want := []int64{vip, early, late, tieA, tieB, inWin}
	if !slices.Equal(got, want) {
		t.Fatalf("claim order %v, want %v", got, want)
	}
}

// confClaimNextTwoInstances: two stores on one database (two nodes), each
// with several claimers, take every callback exactly once.
func confClaimNextTwoInstances(t *testing.T, open opener) {
	a, b := mustOpen(t, open), mustOpen(t, open)
	ctx := context.Background()
	const n = 300
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := a.Register(ctx, newCB("sales", fmt.Sprintf("+42060700%04d", i), int64(i)), false); err != nil {
				t.Errorf("register: %v", err)
			}
		}()
	}
	wg.Wait()
	var mu sync.Mutex
	claimed := map[int64]int{}
	perNode := map[string]int{}
	for i := range 8 {
		s, node := a, "a"
		if i%2 == 1 {
			s, node = b, "b"
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				cb, ok, err := s.ClaimNext(ctx, "sales", t0.Add(time.Hour), Fence{})
				if err != nil {
					t.Errorf("claim: %v", err)
					return
				}
				if !ok {
					return
				}
				mu.Lock()
				claimed[cb.ID]++
				perNode[node]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(claimed) != n {
		t.Fatalf("%d callbacks claimed, want %d", len(claimed), n)
	}
	for id, c := range claimed {
		if c != 1 {
			t.Fatalf("callback %d claimed %d times", id, c)
		}
	}
	if perNode["a"] == 0 || perNode["b"] == 0 {
		t.Logf("claims per instance %v (one instance took them all)", perNode)
	}
	open2, err := b.ListOpen(ctx)
	if err != nil || len(open2) != n {
		t.Fatalf("open %d (err %v)", len(open2), err)
	}
	for _, cb := range open2 {
		if cb.State != Dialing {
			t.Fatalf("callback %d is %s after the claims, want dialing", cb.ID, cb.State)
		}
	}
}

func confAttempts(t *testing.T, open opener) {
	s := mustOpen(t, open)
	ctx := context.Background()
	cb, _, err := s.Register(ctx, newCB("sales", "+420601000001", 1), false)
	if err != nil {
		t.Fatal(err)
	}
	agent, err := s.StartAttempt(ctx, Attempt{CallbackID: cb.ID, N: 1, Leg: LegAgent, Endpoint: "PJSIP/agent1", ANI: "+420200000000", ChannelID: "cf-a1", StartedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	cust, err := s.StartAttempt(ctx, Attempt{CallbackID: cb.ID, N: 1, Leg: LegCustomer, Endpoint: "PJSIP/+420601000001@trunk", StartedAt: t0.Add(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.EndAttempt(ctx, agent, t0.Add(2*time.Second), "", "answered", "normal"); err != nil {
		t.Fatal(err)
	}
	if err := s.EndAttempt(ctx, cust, t0.Add(3*time.Second), "cf-c1", "busy", "user_busy"); err != nil {
		t.Fatal(err)
	}
	if err := s.EndAttempt(ctx, cust, t0.Add(4*time.Second), "", "again", ""); !errors.Is(err, ErrConflict) {
		t.Fatalf("ending a leg twice: %v, want ErrConflict", err)
	}
	if _, err := s.StartAttempt(ctx, Attempt{CallbackID: cb.ID, N: 2, Leg: "fax", Endpoint: "x", StartedAt: t0}); err == nil {
		t.Fatal("a leg that is neither agent nor customer was accepted")
	}
	if _, err := s.StartAttempt(ctx, Attempt{CallbackID: 999999, N: 1, Leg: LegAgent, Endpoint: "x", StartedAt: t0}); err == nil {
		t.Fatal("an attempt of an unknown callback was accepted")
	}
	atts, err := s.Attempts(ctx, cb.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := []Attempt{
		{ID: agent, CallbackID: cb.ID, N: 1, Leg: LegAgent, Endpoint: "PJSIP/agent1", ANI: "+420200000000", ChannelID: "cf-a1",
			StartedAt: t0, EndedAt: t0.Add(2 * time.Second), Outcome: "answered", Cause: "normal"},
		{ID: cust, CallbackID: cb.ID, N: 1, Leg: LegCustomer, Endpoint: "PJSIP/+420601000001@trunk", ChannelID: "cf-c1",
			StartedAt: t0.Add(time.Second), EndedAt: t0.Add(3 * time.Second), Outcome: "busy", Cause: "user_busy"},
	}
	if len(atts) != len(want) {
		t.Fatalf("attempts %+v, want %+v", atts, want)
	}
	for i := range want {
		if !attemptEqual(atts[i], want[i]) {
			t.Fatalf("attempt %d: %+v, want %+v", i, atts[i], want[i])
		}
	}
}

func attemptEqual(a, b Attempt) bool {
	return a.ID == b.ID && a.CallbackID == b.CallbackID && a.N == b.N && a.Leg == b.Leg && a.Endpoint == b.Endpoint &&
		a.ANI == b.ANI && a.ChannelID == b.ChannelID && a.StartedAt.Equal(b.StartedAt) && a.EndedAt.Equal(b.EndedAt) &&
		a.Outcome == b.Outcome && a.Cause == b.Cause
}

// confCrashReconciliation: a process dies mid-dispatch (its store is never
// closed); the next process finds every open callback with its sort key,
// its unfinished legs, and puts things right with the recovery operations.
func confCrashReconciliation(t *testing.T, open opener) {
	ctx := context.Background()
	dead := mustOpen(t, open)
	cb := newCB("sales", "+420603000001", 7)
	cb.NotBefore, cb.NotAfter = t0.Add(time.Hour), t0.Add(5*time.Hour)
	dialing, _, err := dead.Register(ctx, cb, true)
	if err != nil {
		t.Fatal(err)
	}
	talking, _, err := dead.Register(ctx, newCB("sales", "+420603000002", 8), true)
	if err != nil {
		t.Fatal(err)
	}
	waiting, _, err := dead.Register(ctx, newCB("sales", "+420603000003", 9), true)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []int64{dialing.ID, talking.ID} {
		if _, err := dead.Transition(ctx, id, Registered, Dialing, Change{At: t0.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	one := 1
	if _, err := dead.Transition(ctx, talking.ID, Dialing, Connected, Change{At: t0.Add(2 * time.Minute), Attempts: &one}); err != nil {
		t.Fatal(err)
	}
	aid, err := dead.StartAttempt(ctx, Attempt{CallbackID: dialing.ID, N: 1, Leg: LegAgent, Endpoint: "PJSIP/agent1", StartedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	if err := dead.EndAttempt(ctx, aid, t0.Add(time.Second), "chan-1", "answered", "normal"); err != nil {
		t.Fatal(err)
	}
	if _, err := dead.StartAttempt(ctx, Attempt{CallbackID: dialing.ID, N: 1, Leg: LegCustomer, Endpoint: "PJSIP/+420603000001@trunk", StartedAt: t0}); err != nil {
		t.Fatal(err)
	}
	for _, leg := range []string{LegAgent, LegCustomer} {
		if _, err := dead.StartAttempt(ctx, Attempt{CallbackID: talking.ID, N: 1, Leg: leg, Endpoint: "PJSIP/" + leg, StartedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	if err := dead.AppendEvent(ctx, Event{At: t0, Kind: "abandon", Queue: "sales", CallID: "call-9", Detail: map[string]string{"position": "2"}}); err != nil {
		t.Fatal(err)
	}
	// dead is never closed: the next process opens the database beside it.
	s := mustOpen(t, open)
	open2, err := s.ListOpen(ctx)
	if err != nil || len(open2) != 3 {
		t.Fatalf("open after crash: %+v %v", open2, err)
	}
	if got := ids(open2); !slices.Equal(got, []int64{dialing.ID, talking.ID, waiting.ID}) {
		t.Fatalf("line after crash %v, want %v", got, []int64{dialing.ID, talking.ID, waiting.ID})
	}
	got := open2[0]
	if got.State != Dialing || got.Number != cb.Number || !got.JoinedAt.Equal(cb.JoinedAt) || got.Seq != 7 || got.ANI != cb.ANI ||
		!got.NotBefore.Equal(cb.NotBefore) || !got.NotAfter.Equal(cb.NotAfter) || !slices.Equal(got.Media, cb.Media) ||
		got.CallerCallID != "call-1" || !got.CreatedAt.Equal(t0) || !got.UpdatedAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("callback after crash: %+v", got)
	}
	if open2[1].State != Connected || open2[1].Attempts != 1 || open2[2].State != Registered {
		t.Fatalf("states after crash: %s/%d, %s", open2[1].State, open2[1].Attempts, open2[2].State)
	}
	// Interrupted dispatch: close its legs, back to the line.
	n, err := s.CloseOpenAttempts(ctx, dialing.ID, t0.Add(time.Hour), "interrupted")
	if err != nil || n != 1 {
		t.Fatalf("close open attempts: %d %v, want 1", n, err)
	}
	if n, err := s.CloseOpenAttempts(ctx, dialing.ID, t0.Add(time.Hour), "interrupted"); err != nil || n != 0 {
		t.Fatalf("close again: %d %v, want 0", n, err)
	}
	if _, err := s.Transition(ctx, dialing.ID, Dialing, Registered, Change{At: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	// Conversation that is gone: legs closed, completed once.
	if n, err := s.CloseOpenAttempts(ctx, talking.ID, t0.Add(time.Hour), "gone"); err != nil || n != 2 {
		t.Fatalf("close talking legs: %d %v, want 2", n, err)
	}
	if _, err := s.Transition(ctx, talking.ID, Connected, Completed, Change{At: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := dead.Transition(ctx, talking.ID, Connected, Completed, Change{At: t0.Add(time.Hour)}); !errors.Is(err, ErrConflict) {
		t.Fatalf("the dead process completing again: %v, want ErrConflict", err)
	}
	atts, err := s.Attempts(ctx, dialing.ID)
	if err != nil || len(atts) != 2 || atts[0].ChannelID != "chan-1" || atts[0].Outcome != "answered" ||
		atts[1].Outcome != "interrupted" || !atts[1].EndedAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("attempts: %+v %v", atts, err)
	}
	evs, err := s.ListEvents(ctx)
	if err != nil || len(evs) != 1 || evs[0].Kind != "abandon" || evs[0].Detail["position"] != "2" || !evs[0].At.Equal(t0) {
		t.Fatalf("events: %+v %v", evs, err)
	}
	after, err := s.ListOpen(ctx)
	if err != nil || !slices.Equal(ids(after), []int64{dialing.ID, waiting.ID}) || after[0].State != Registered {
		t.Fatalf("line after reconciliation: %+v %v", after, err)
	}
}

func confEvents(t *testing.T, open opener) {
	s := mustOpen(t, open)
	ctx := context.Background()
	seedQuery(t, s)
	if err := s.AppendEvent(ctx, Event{At: t0, Kind: "joined", Queue: "sales", CallID: "c1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendEvent(ctx, Event{Kind: ""}); err == nil {
		t.Fatal("an event without a kind was accepted")
	}
	batch := []Event{
		{At: t0.Add(time.Minute), Kind: "abandon", Queue: "sales", CallID: "c1", Detail: map[string]string{"position": "1", "why": "timeout"}},
		{At: t0.Add(2 * time.Minute), Kind: "callback_registered", Queue: "support", CallbackID: 2},
		{At: t0.Add(3 * time.Minute), Kind: "joined", Queue: "support", CallID: "c2"},
	}
	if err := s.AppendEvents(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendEvents(ctx, []Event{{Kind: "joined"}, {Kind: ""}}); err == nil {
		t.Fatal("an event without a kind was accepted")
	}
	tests := []struct {
		name     string
		f        EventFilter
		want     []string // kind/queue
		wantNext int64
		wantErr  error
	}{
		{name: "all oldest first", want: []string{"joined/sales", "abandon/sales", "callback_registered/support", "joined/support"}},
		{name: "kind", f: EventFilter{Kinds: []string{"joined"}}, want: []string{"joined/sales", "joined/support"}},
		{name: "kinds and queue", f: EventFilter{Kinds: []string{"joined", "abandon"}, Queue: "sales"}, want: []string{"joined/sales", "abandon/sales"}},
		{name: "callback", f: EventFilter{CallbackID: 2}, want: []string{"callback_registered/support"}},
		{name: "since until", f: EventFilter{Since: t0.Add(time.Minute), Until: t0.Add(3 * time.Minute)}, want: []string{"abandon/sales", "callback_registered/support"}},
		{name: "page", f: EventFilter{Limit: 3}, want: []string{"joined/sales", "abandon/sales", "callback_registered/support"}, wantNext: 3},
		{name: "after cursor", f: EventFilter{After: 3}, want: []string{"joined/support"}},
		{name: "bad limit", f: EventFilter{Limit: MaxLimit + 1}, wantErr: ErrBadFilter},
		{name: "negative cursor", f: EventFilter{After: -1}, wantErr: ErrBadFilter},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			page, err := s.QueryEvents(ctx, tc.f)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr != nil {
				return
			}
			got := []string{}
			for _, ev := range page.Events {
				got = append(got, ev.Kind+"/"+ev.Queue)
			}
			if !slices.Equal(got, tc.want) || page.Next != tc.wantNext {
				t.Fatalf("got %v next %d, want %v next %d", got, page.Next, tc.want, tc.wantNext)
			}
		})
	}
	evs, err := s.ListEvents(ctx)
	if err != nil || len(evs) != 4 {
		t.Fatalf("list events: %+v %v", evs, err)
	}
	if ab := evs[1]; ab.Detail["why"] != "timeout" || !ab.At.Equal(t0.Add(time.Minute)) || ab.CallID != "c1" {
		t.Fatalf("abandon round trip: %+v", ab)
	}
	if evs[0].Detail == nil || len(evs[0].Detail) != 0 || evs[2].CallbackID != 2 {
		t.Fatalf("empty detail / callback id: %+v %+v", evs[0], evs[2])
	}
}

func confQueryCallbacks(t *testing.T, open opener) {
	s := mustOpen(t, open)
	seedQuery(t, s)
	tests := []struct {
		name     string
		f        CallbackFilter
		want     []int64
		wantNext int64
		wantErr  error
	}{
		{name: "all newest first", want: []int64{6, 5, 4, 3, 2, 1}},
		{name: "queue", f: CallbackFilter{Queue: "support"}, want: []int64{6, 4, 2}},
		{name: "state", f: CallbackFilter{States: []State{Cancelled}}, want: []int64{5, 2}},
		{name: "several states", f: CallbackFilter{States: []State{Registered, Cancelled}, Queue: "sales"}, want: []int64{5, 3, 1}},
		{name: "number", f: CallbackFilter{Number: "+420601000001"}, want: []int64{4, 1}},
		{name: "created between", f: CallbackFilter{CreatedFrom: t0.Add(2 * time.Minute), CreatedTo: t0.Add(4 * time.Minute)}, want: []int64{3, 2}},
		{name: "first page", f: CallbackFilter{Limit: 4}, want: []int64{6, 5, 4, 3}, wantNext: 3},
		{name: "second page", f: CallbackFilter{Limit: 4, Before: 3}, want: []int64{2, 1}},
		{name: "nothing", f: CallbackFilter{Queue: "nope"}, want: []int64{}},
		{name: "limit too big", f: CallbackFilter{Limit: MaxLimit + 1}, wantErr: ErrBadFilter},
		{name: "unknown state", f: CallbackFilter{States: []State{"ringing"}}, wantErr: ErrBadFilter},
		{name: "negative cursor", f: CallbackFilter{Before: -4}, wantErr: ErrBadFilter},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			page, err := s.QueryCallbacks(context.Background(), tc.f)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr != nil {
				return
			}
			if got := ids(page.Callbacks); !slices.Equal(got, tc.want) || page.Next != tc.wantNext {
				t.Fatalf("ids %v next %d, want %v next %d", got, page.Next, tc.want, tc.wantNext)
			}
		})
	}
	all, err := s.ListAll(context.Background())
	if err != nil || !slices.Equal(ids(all), []int64{1, 2, 3, 4, 5, 6}) {
		t.Fatalf("list all: %v %v", ids(all), err)
	}
}

func confRegisterAfterClose(t *testing.T, open opener) {
	s := mustOpen(t, open)
	s.Close()
	if _, _, err := s.Register(context.Background(), newCB("sales", "+420601000001", 1), true); !errors.Is(err, ErrClosed) {
		t.Fatalf("register after close: %v, want ErrClosed", err)
	}
}

// TestBackendsAgree runs one script of operations on both backends and
// compares everything they answered and stored, rendered as text.
func TestBackendsAgree(t *testing.T) {
	var out []string
	for _, be := range backends {
		s := mustOpen(t, be.b(t))
		out = append(out, script(t, s))
	}
	if out[0] != out[1] {
		t.Fatalf("sqlite and postgres disagree:\n--- sqlite\n%s\n--- postgres\n%s", out[0], out[1])
	}
	t.Logf("both backends:\n%s", out[0])
}

func script(t *testing.T, s *DB) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	say := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	cbs := func(what string, l []Callback, err error) {
		say("%s err=%v", what, err)
		for _, cb := range l {
			say("  %s", renderCB(cb))
		}
	}
	for i := range 6 {
		cb := newCB([]string{"sales", "support"}[i%2], fmt.Sprintf("+42060800000%d", i%4), int64(10-i))
		cb.Priority = i % 3
		cb.JoinedAt = t0.Add(time.Duration(i%3) * time.Second)
		cb.Media = []string{fmt.Sprintf("recording:%d", i)}
		got, o, err := s.Register(ctx, cb, true)
		say("register %d → %d %s err=%v", i, o, renderCB(got), err)
	}
	for _, q := range []string{"sales", "support", "sales"} {
		got, ok, err := s.ClaimNext(ctx, q, t0.Add(time.Hour), Fence{})
		say("claim %s → %v %s err=%v", q, ok, renderCB(got), err)
	}
	two := 2
	for _, tr := range []struct {
		id       int64
		from, to State
	}{{1, Dialing, RetryWait}, {2, Dialing, Connected}, {3, Registered, Cancelled}, {1, Dialing, Failed}, {9, Registered, Dialing}} {
		got, err := s.Transition(ctx, tr.id, tr.from, tr.to, Change{At: t0.Add(2 * time.Hour), Attempts: &two, NextAt: t0.Add(3 * time.Hour)})
		say("transition %d %s→%s → %s err=%v", tr.id, tr.from, tr.to, renderCB(got), errKind(err))
	}
	a1, err := s.StartAttempt(ctx, Attempt{CallbackID: 2, N: 1, Leg: LegAgent, Endpoint: "PJSIP/agent1", StartedAt: t0})
	say("attempt %d err=%v", a1, err)
	a2, err := s.StartAttempt(ctx, Attempt{CallbackID: 2, N: 1, Leg: LegCustomer, Endpoint: "PJSIP/x@trunk", ANI: "+420200000000", StartedAt: t0})
	say("attempt %d err=%v", a2, err)
	say("end %v", s.EndAttempt(ctx, a1, t0.Add(time.Second), "ch-1", "answered", "normal"))
	n, err := s.CloseOpenAttempts(ctx, 2, t0.Add(time.Minute), "interrupted")
	say("close open %d err=%v", n, err)
	atts, err := s.Attempts(ctx, 2)
	say("attempts err=%v", err)
	for _, a := range atts {
		say("  %d cb=%d n=%d %s %s ani=%s ch=%s %s–%s %s/%s", a.ID, a.CallbackID, a.N, a.Leg, a.Endpoint, a.ANI, a.ChannelID,
			ts(a.StartedAt), ts(a.EndedAt), a.Outcome, a.Cause)
	}
	say("event %v", s.AppendEvents(ctx, []Event{{At: t0, Kind: "joined", Queue: "sales", CallID: "c1"},
		{At: t0.Add(time.Second), Kind: "abandon", Queue: "sales", CallbackID: 2, Detail: map[string]string{"b": "2", "a": "1"}}}))
	l, err := s.ListOpen(ctx)
	cbs("list open", l, err)
	l, err = s.ListAll(ctx)
	cbs("list all", l, err)
	page, err := s.QueryCallbacks(ctx, CallbackFilter{States: []State{Registered, Dialing}, Limit: 2})
	cbs(fmt.Sprintf("query next=%d", page.Next), page.Callbacks, err)
	ep, err := s.QueryEvents(ctx, EventFilter{Since: t0})
	say("events next=%d err=%v", ep.Next, err)
	for _, ev := range ep.Events {
		keys := make([]string, 0, len(ev.Detail))
		for k, v := range ev.Detail {
			keys = append(keys, k+"="+v)
		}
		sort.Strings(keys)
		say("  %d %s %s %s cb=%d %s %v", ev.ID, ts(ev.At), ev.Kind, ev.Queue, ev.CallbackID, ev.CallID, keys)
	}
	return b.String()
}

func renderCB(cb Callback) string {
	return fmt.Sprintf("#%d %s %s ani=%s media=%v prio=%d joined=%s seq=%d %s att=%d next=%s nb=%s na=%s cre=%s upd=%s by=%s",
		cb.ID, cb.Queue, cb.Number, cb.ANI, cb.Media, cb.Priority, ts(cb.JoinedAt), cb.Seq, cb.State, cb.Attempts,
		ts(cb.NextAt), ts(cb.NotBefore), ts(cb.NotAfter), ts(cb.CreatedAt), ts(cb.UpdatedAt), cb.CallerCallID)
}

func ts(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func errKind(err error) string {
	for _, e := range []error{ErrNotFound, ErrIllegal, ErrConflict} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	if err != nil {
		return "other: " + err.Error()
	}
	return "<nil>"
}

// TestMigrationPairs: both backends have the same migrations, by number and
// name, so one schema version means the same tables on either.
func TestMigrationPairs(t *testing.T) {
	lite, err := migrations(&sqliteDialect)
	if err != nil {
		t.Fatal(err)
	}
	pg, err := migrations(&postgresDialect)
	if err != nil {
		t.Fatal(err)
	}
	names := func(ms []migration) []string {
		var out []string
		for _, m := range ms {
			out = append(out, m.name)
		}
		return out
	}
	if !slices.Equal(names(lite), names(pg)) {
		t.Fatalf("migrations/ has %v, migrations/postgres/ has %v: add each migration to both", names(lite), names(pg))
	}
}

func TestRebind(t *testing.T) {
	tests := []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"a = ? AND b = ?", "a = $1 AND b = $2"},
		{"x = '?' AND y = ?", "x = '?' AND y = $1"},
		{`"we?rd" = ? OR z IN (?,?)`, `"we?rd" = $1 OR z IN ($2,$3)`},
	}
	var r rebinder
	for _, tc := range tests {
		if got := r.rebind(tc.in); got != tc.want {
			t.Errorf("rebind(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if got := r.rebind(tc.in); got != tc.want {
			t.Errorf("cached rebind(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// confLine: line rows ride the group commit, come back in line order, a
// registration replaces its caller's row, and a damaged row is refused.
func confLine(t *testing.T, open opener) {
	s := mustOpen(t, open)
	ctx := context.Background()
	row := func(call string, prio int, seq int64) LineEntry {
		return LineEntry{CallID: call, Queue: "sales", State: LineWaiting, Priority: prio,
			JoinedAt: t0.Add(time.Duration(seq) * time.Second), Seq: seq, InQueue: true, Resume: "main/wait", UpdatedAt: t0}
	}
	s.SaveLine(row("c3", 0, 3))
	s.SaveLine(row("c1", 0, 1))
	s.SaveLine(row("c2", 5, 2))
	s.SaveLine(row("c4", 0, 4))
	s.DropLine("c4")
	s.SaveLine(row("call-1", 0, 5))
	cb := Callback{Queue: "sales", Number: "+420601000001", ANI: "+420200000000", JoinedAt: t0, Seq: 5, CreatedAt: t0, CallerCallID: "call-1"}
	if _, _, err := s.Register(ctx, cb, true); err != nil {
		t.Fatal(err)
	}
	if err := s.FlushLine(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO line_entries (call_id, queue, state, priority, joined_at, seq, updated_at)
		VALUES ('bad', 'sales', 'dancing', 0, 'yesterday', 1, '2026-03-02T09:00:00.000000000Z')`); err != nil {
		t.Fatal(err)
	}
	rows, bad, err := s.ListLine(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rows {
		got = append(got, r.CallID)
	}
	if strings.Join(got, " ") != "c2 c1 c3" || len(bad) != 1 || bad[0].CallID != "bad" {
		t.Fatalf("rows %q, refused %+v; want c2 c1 c3 and bad refused", got, bad)
	}
}
