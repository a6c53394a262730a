package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver
)

// timeFormat stores times in UTC with fixed width, so text order is time order.
const timeFormat = "2006-01-02T15:04:05.000000000Z"

func fmtTime(t time.Time) string { return t.UTC().Format(timeFormat) }

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return fmtTime(t)
}

func parseTime(s sql.NullString) (time.Time, error) {
	if !s.Valid || s.String == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(timeFormat, s.String)
	if err != nil {
		// PostgreSQL's timestamptz comes back through database/sql as
		// RFC 3339 text.
		t, err = time.Parse(time.RFC3339Nano, s.String)
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("store: bad time %q: %w", s.String, err)
	}
	return t.UTC(), nil
}

// maxBatch bounds how many registrations share one transaction.
const maxBatch = 256

// DB is the store on SQLite (OpenSQLite: WAL journal, synchronous=FULL so
// every commit is durable, foreign keys on, a busy timeout) or on PostgreSQL
// (OpenPostgres). Both run the same operations through one dialect seam
// (dialect.go) and embedded, versioned migrations.
//
// Registrations use group commit: concurrent Register calls are written in
// one transaction by a committer goroutine, and each returns after that
// transaction has committed. SQLite has one committer (one writer at a
// time); PostgreSQL several, so one batch is filled and sent while another
// waits for its commit to be flushed. They end on Close.
type DB struct {
	db   *conn
	regs chan *regReq
	quit chan struct{}
	done chan struct{}
	// mu guards closed; Register holds it shared while handing a request
	// over so Close cannot strand a request the committer will never read.
	mu     sync.RWMutex
	closed bool

	// Line rows (line.go) queued for the committer. lmu guards the
	// fields below; lineKick wakes the committer; lineWake is closed
	// (and replaced) after every write of queued rows.
	lmu         sync.Mutex
	lineOps     []lineOp
	lineQueued  uint64 // changes queued since open
	lineWritten uint64 // changes written (or failed) since open
	lineErr     error
	lineClosed  bool
	lineKick    chan struct{}
	lineFlush   chan struct{} // FlushLine ends a committer's linger
	lineWake    chan struct{}
	// lineWriter is held by the committer writing line rows, so rows are
	// committed in the order they were queued even with several
	// committers.
	lineWriter sync.Mutex
}

// SQLite is the store's name from before it had a second backend; it is
// the same type as DB, whichever backend it was opened on.
type SQLite = DB

var (
	_ Callbacks = (*SQLite)(nil)
	_ Events    = (*SQLite)(nil)
)

type regReq struct {
	ctx    context.Context
	cb     Callback
	dedupe bool
	reply  chan regRes // buffered (1): the committer never blocks on it
}

type regRes struct {
	cb  Callback
	out RegisterOutcome
	err error
}

// OpenSQLite opens (creating if needed) the database at path and migrates
// it. path ":memory:" opens a private in-memory database (for tests).
func OpenSQLite(ctx context.Context, path string) (*SQLite, error) {
	q := url.Values{}
	q.Set("_busy_timeout", "5000")
	q.Set("_foreign_keys", "on")
	q.Set("_synchronous", "FULL")
	q.Set("_txlock", "immediate")
	memory := path == ":memory:"
	var dsn string
	if memory {
		dsn = "file::memory:?" + q.Encode()
	} else {
		q.Set("_journal_mode", "WAL")
		dsn = "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
	}
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if memory {
		// Each connection to :memory: is its own database: keep one.
		db.SetMaxOpenConns(1)
	} else {
		db.SetMaxOpenConns(4)
	}
	db.SetConnMaxIdleTime(0)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if !memory {
		var mode string
		if err := db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
			db.Close()
			return nil, fmt.Errorf("store: open %s: journal mode: %w", path, err)
		}
		if !strings.EqualFold(mode, "wal") {
			db.Close()
			return nil, fmt.Errorf("store: open %s: journal mode is %s, want wal", path, mode)
		}
	}
	s, err := start(ctx, newConn(db, &sqliteDialect))
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	return s, nil
}

// start migrates an open database and starts the committer.
func start(ctx context.Context, c *conn) (*DB, error) {
	if _, err := migrate(ctx, c, time.Now()); err != nil {
		return nil, err
	}
	s := &DB{
		db:   c,
		regs: make(chan *regReq, maxBatch),
		quit: make(chan struct{}),
		done: make(chan struct{}),

		lineKick:  make(chan struct{}, 1),
		lineFlush: make(chan struct{}, 1),
		lineWake:  make(chan struct{}),
	}
	// Committers end when Close closes s.quit; done closes after the last.
	var wg sync.WaitGroup
	for range max(1, c.d.committers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.committer()
		}()
	}
	go func() { // ends when the committers have
		wg.Wait()
		close(s.done)
	}()
	return s, nil
}

// Close stops the committer and closes the database. Registrations already
// handed to the committer are finished first.
func (s *SQLite) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.quit)
	}
	s.mu.Unlock()
	<-s.done
	return s.db.Close()
}

// DB exposes the database for read-only reporting (API, tests).
func (s *SQLite) DB() *sql.DB { return s.db.DB }

// Backend names the database engine: "sqlite" or "postgres".
func (s *SQLite) Backend() string { return s.db.d.name }

// Register implements Callbacks. cb.State is ignored (always registered).
func (s *SQLite) Register(ctx context.Context, cb Callback, dedupe bool) (Callback, RegisterOutcome, error) {
	if cb.Queue == "" || cb.Number == "" {
		return Callback{}, 0, errors.New("store: register: queue and number are required")
	}
	r := &regReq{ctx: ctx, cb: cb, dedupe: dedupe, reply: make(chan regRes, 1)}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return Callback{}, 0, ErrClosed
	}
	select {
	case s.regs <- r:
		s.mu.RUnlock()
	case <-ctx.Done():
		s.mu.RUnlock()
		return Callback{}, 0, fmt.Errorf("store: register: %w", ctx.Err())
	}
	// Once accepted the committer always answers: wait for it so a caller
	// never hears "registered" before (or without knowing) the commit.
	res := <-r.reply
	return res.cb, res.out, res.err
}

// lineLinger is how long a committer woken by line row changes alone waits
// for more before committing them: a caller's join, reservation, decline
// and leaving each change a row, and under load most of them would
// otherwise take a commit (an fsync) of their own. Nobody waits for these
// commits (FlushLine ends the wait at once; a registration, or the event
// log's batch, arriving meanwhile takes the rows into its own commit), so
// the wait costs nothing but how much a kill -9 can lose: the row changes
// of the last lineLinger at most, after which re-adoption restarts those
// callers' flows (docs/restart.md). It is longer than the event log's
// linger (100 ms), so that the events of a moment usually carry its rows.
const lineLinger = 150 * time.Millisecond

// committer writes registrations and line rows in batches until Close.
func (s *SQLite) committer() {
	linger := time.NewTimer(lineLinger)
	linger.Stop()
	for {
		var first *regReq
		select {
		case first = <-s.regs:
		case <-s.lineKick:
			if first = s.lingerLine(linger); first == nil {
				s.commitBatch(nil)
				continue
			}
		case <-s.quit:
			// Drain what was accepted before Close.
			for {
				select {
				case r := <-s.regs:
					s.commitBatch([]*regReq{r})
				default:
					s.lmu.Lock()
					s.lineClosed = true
					s.lmu.Unlock()
					s.commitBatch(nil)
					return
				}
			}
		}
		batch := []*regReq{first}
	fill:
		for len(batch) < maxBatch {
			select {
			case r := <-s.regs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		s.commitBatch(batch)
	}
}

// lingerLine waits up to lineLinger for more line row changes, and returns
// early with a registration that arrives meanwhile (the rows then share its
// commit), on FlushLine (nil) or on Close (nil: the rows are committed, then
// the committer drains).
func (s *SQLite) lingerLine(t *time.Timer) *regReq {
	t.Reset(lineLinger)
	defer t.Stop()
	select {
	case r := <-s.regs:
		return r
	case <-s.lineFlush:
	case <-t.C:
	case <-s.quit:
	}
	return nil
}

// commitBatch writes a batch of registrations and the queued line rows in
// one transaction; if that fails it writes the rows alone and retries each
// request alone, so one bad request cannot fail the others.
func (s *SQLite) commitBatch(batch []*regReq) {
	// Line rows are written by one committer at a time, in the order
	// they were queued: a committer that cannot take the writer's turn
	// leaves them to the one that holds it (which wakes the committers
	// again when it is done and rows are waiting).
	var ops []lineOp
	var gen uint64
	// A registration removes its caller's row, so it waits for the turn:
	// the rows queued before it are then written first (in its
	// transaction, or by the committer that held the turn).
	owner := false
	for _, r := range batch {
		if r.cb.CallerCallID != "" {
			s.lineWriter.Lock()
			owner = true
			break
		}
	}
	if !owner {
		owner = s.lineWriter.TryLock()
	}
	if owner {
		ops, gen = s.takeLine()
		defer s.releaseLine()
	}
	lineDone := func(err error) {
		if owner {
			s.lineDone(gen, err)
		}
	}
	live := batch[:0:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.reply <- regRes{err: fmt.Errorf("store: register: %w", err)}
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		var err error
		if len(ops) > 0 {
			err = s.lineTx(ops)
		}
		lineDone(err)
		return
	}
	results, err := s.registerTx(live, ops)
	if err == nil {
		lineDone(nil)
		for i, r := range live {
			r.reply <- results[i]
		}
		return
	}
	if len(ops) > 0 {
		lineDone(s.lineTx(ops))
	} else {
		lineDone(nil)
	}
	if len(live) == 1 {
		live[0].reply <- regRes{err: err}
		return
	}
	for _, r := range live {
		res, err := s.registerTx([]*regReq{r}, nil)
		if err != nil {
			r.reply <- regRes{err: err}
			continue
		}
		r.reply <- res[0]
	}
}

// registerTx writes line rows (in order, first) and registrations in one
// transaction. A registered callback replaces its caller's line row: the
// place now lives in the callbacks table.
func (s *SQLite) registerTx(reqs []*regReq, ops []lineOp) (_ []regRes, err error) {
	ctx := context.Background() // the batch must not be cut short by one caller
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store: register: begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if err = writeLine(ctx, tx, ops); err != nil {
		return nil, err
	}
	if err = lockDedupe(ctx, tx, reqs); err != nil {
		return nil, fmt.Errorf("store: register: lock: %w", err)
	}
	out, err := registerBatch(ctx, tx, reqs)
	if err != nil {
		return nil, err
	}
	// A registered callback replaces its caller's line row: the place now
	// lives in the callbacks table.
	for _, r := range out {
		if r.out != Inserted || r.cb.CallerCallID == "" {
			continue
		}
		if _, err = tx.ExecContext(ctx, `DELETE FROM line_entries WHERE call_id = ?`, r.cb.CallerCallID); err != nil {
			return nil, fmt.Errorf("store: register: drop line row: %w", err)
		}
	}
	if err = tx.Commit(); err != nil {
		return nil, fmt.Errorf("store: register: commit: %w", err)
	}
	return out, nil
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

const cbColumns = `id, queue, number_e164, ani, media, priority, joined_at, seq, state, attempts,
	next_at, not_before, not_after, created_at, updated_at, caller_call_id, owner`

type scanner interface{ Scan(dest ...any) error }

func scanCallback(sc scanner) (Callback, error) {
	var (
		cb                                          Callback
		media, state                                string
		joined, next, notBefore, notAfter, cre, upd sql.NullString
	)
	if err := sc.Scan(&cb.ID, &cb.Queue, &cb.Number, &cb.ANI, &media, &cb.Priority, &joined, &cb.Seq, &state,
		&cb.Attempts, &next, &notBefore, &notAfter, &cre, &upd, &cb.CallerCallID, &cb.Owner); err != nil {
		return Callback{}, err
	}
	cb.State = State(state)
	if err := json.Unmarshal([]byte(media), &cb.Media); err != nil {
		return Callback{}, fmt.Errorf("store: callback %d: media: %w", cb.ID, err)
	}
	var err error
	for _, f := range []struct {
		dst *time.Time
		src sql.NullString
	}{{&cb.JoinedAt, joined}, {&cb.NextAt, next}, {&cb.NotBefore, notBefore}, {&cb.NotAfter, notAfter}, {&cb.CreatedAt, cre}, {&cb.UpdatedAt, upd}} {
		if *f.dst, err = parseTime(f.src); err != nil {
			return Callback{}, fmt.Errorf("store: callback %d: %w", cb.ID, err)
		}
	}
	return cb, nil
}

func openStateList() string {
	parts := make([]string, len(OpenStates))
	for i, s := range OpenStates {
		parts[i] = "'" + string(s) + "'"
	}
	return strings.Join(parts, ",")
}

func findOpen(ctx context.Context, q querier, queue, number string) (Callback, bool, error) {
	row := q.QueryRowContext(ctx, `SELECT `+cbColumns+` FROM callbacks
		WHERE queue = ? AND number_e164 = ? AND state IN (`+openStateList()+`) ORDER BY id LIMIT 1`, queue, number)
	cb, err := scanCallback(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Callback{}, false, nil
	}
	if err != nil {
		return Callback{}, false, fmt.Errorf("store: find open callback %s in %s: %w", number, queue, err)
	}
	return cb, true, nil
}

// FindOpen implements Callbacks.
func (s *SQLite) FindOpen(ctx context.Context, queue, number string) (Callback, bool, error) {
	return findOpen(ctx, s.db, queue, number)
}

// FromCall implements Callbacks.
func (s *SQLite) FromCall(ctx context.Context, queue, number, callID string) (Callback, bool, error) {
	if callID == "" {
		return Callback{}, false, nil
	}
	row := s.db.QueryRowContext(ctx, `SELECT `+cbColumns+` FROM callbacks
		WHERE caller_call_id = ? AND queue = ? AND number_e164 = ? ORDER BY id LIMIT 1`, callID, queue, number)
	cb, err := scanCallback(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Callback{}, false, nil
	}
	if err != nil {
		return Callback{}, false, fmt.Errorf("store: callback of call %s for %s in %s: %w", callID, number, queue, err)
	}
	return cb, true, nil
}

// Get implements Callbacks.
func (s *SQLite) Get(ctx context.Context, id int64) (Callback, error) {
	cb, err := scanCallback(s.db.QueryRowContext(ctx, `SELECT `+cbColumns+` FROM callbacks WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Callback{}, fmt.Errorf("%w: %d", ErrNotFound, id)
	}
	if err != nil {
		return Callback{}, fmt.Errorf("store: get callback %d: %w", id, err)
	}
	return cb, nil
}

// Transition implements Callbacks: an atomic claim from → to.
func (s *SQLite) Transition(ctx context.Context, id int64, from, to State, ch Change) (Callback, error) {
	if !Legal(from, to) {
		return Callback{}, fmt.Errorf("store: callback %d: %w", id, illegal(from, to))
	}
	if ch.At.IsZero() {
		ch.At = time.Now()
	}
	var attempts any
	if ch.Attempts != nil {
		attempts = *ch.Attempts
	}
	at := fmtTime(ch.At)
	fence, fargs := s.fenceClause(ch.Fence, at)
	args := append([]any{string(to), at, attempts, nullTime(ch.NextAt), id, string(from)}, fargs...)
	row := s.db.QueryRowContext(ctx, `UPDATE callbacks SET state = ?, updated_at = ?, attempts = COALESCE(?, attempts), next_at = ?
		WHERE id = ? AND state = ?`+fence+` RETURNING `+cbColumns, args...)
	cb, err := scanCallback(row)
	if err == nil {
		return cb, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return Callback{}, fmt.Errorf("store: callback %d %s → %s: %w", id, from, to, err)
	}
	if err := s.fenceFailed(ctx, ch.Fence, ch.At); err != nil {
		return Callback{}, fmt.Errorf("callback %d %s → %s: %w", id, from, to, err)
	}
	var cur string
	switch err := s.db.QueryRowContext(ctx, `SELECT state FROM callbacks WHERE id = ?`, id).Scan(&cur); {
	case errors.Is(err, sql.ErrNoRows):
		return Callback{}, fmt.Errorf("%w: %d", ErrNotFound, id)
	case err != nil:
		return Callback{}, fmt.Errorf("store: callback %d %s → %s: %w", id, from, to, err)
	}
	return Callback{}, fmt.Errorf("%w: callback %d is %s, not %s", ErrConflict, id, cur, from)
}

// StartAttempt implements Callbacks.
func (s *SQLite) StartAttempt(ctx context.Context, a Attempt) (int64, error) {
	if a.StartedAt.IsZero() {
		a.StartedAt = time.Now()
	}
	var id int64
	err := s.db.QueryRowContext(ctx, `INSERT INTO attempts (callback_id, n, leg, endpoint, ani, channel_id, started_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		a.CallbackID, a.N, a.Leg, a.Endpoint, a.ANI, a.ChannelID, fmtTime(a.StartedAt)).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("store: callback %d: start attempt %d %s: %w", a.CallbackID, a.N, a.Leg, err)
	}
	return id, nil
}

// EndAttempt implements Callbacks.
func (s *SQLite) EndAttempt(ctx context.Context, attemptID int64, at time.Time, channelID, outcome, cause string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE attempts SET ended_at = ?, outcome = ?, cause = ?,
		channel_id = CASE WHEN ? = '' THEN channel_id ELSE ? END
		WHERE id = ? AND ended_at IS NULL`, fmtTime(at), outcome, cause, channelID, channelID, attemptID)
	if err != nil {
		return fmt.Errorf("store: end attempt %d: %w", attemptID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: end attempt %d: %w", attemptID, ErrConflict)
	}
	return nil
}

// CloseOpenAttempts implements Callbacks.
func (s *SQLite) CloseOpenAttempts(ctx context.Context, callbackID int64, at time.Time, outcome string) (int, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE attempts SET ended_at = ?, outcome = ? WHERE callback_id = ? AND ended_at IS NULL`,
		fmtTime(at), outcome, callbackID)
	if err != nil {
		return 0, fmt.Errorf("store: callback %d: close attempts: %w", callbackID, err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// Attempts implements Callbacks.
func (s *SQLite) Attempts(ctx context.Context, callbackID int64) ([]Attempt, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, callback_id, n, leg, endpoint, ani, channel_id, started_at, ended_at, outcome, cause
		FROM attempts WHERE callback_id = ? ORDER BY id`, callbackID)
	if err != nil {
		return nil, fmt.Errorf("store: callback %d: attempts: %w", callbackID, err)
	}
	defer rows.Close()
	var out []Attempt
	for rows.Next() {
		var a Attempt
		var started, ended sql.NullString
		if err := rows.Scan(&a.ID, &a.CallbackID, &a.N, &a.Leg, &a.Endpoint, &a.ANI, &a.ChannelID, &started, &ended, &a.Outcome, &a.Cause); err != nil {
			return nil, fmt.Errorf("store: callback %d: attempts: %w", callbackID, err)
		}
		if a.StartedAt, err = parseTime(started); err != nil {
			return nil, err
		}
		if a.EndedAt, err = parseTime(ended); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: callback %d: attempts: %w", callbackID, err)
	}
	return out, nil
}

// ListOpen implements Callbacks.
func (s *SQLite) ListOpen(ctx context.Context) ([]Callback, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+cbColumns+` FROM callbacks WHERE state IN (`+openStateList()+`)
		ORDER BY queue, priority DESC, joined_at, seq, id`)
	if err != nil {
		return nil, fmt.Errorf("store: list open callbacks: %w", err)
	}
	defer rows.Close()
	var out []Callback
	for rows.Next() {
		cb, err := scanCallback(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list open callbacks: %w", err)
		}
		out = append(out, cb)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list open callbacks: %w", err)
	}
	return out, nil
}

// ListAll returns every callback, open or finished, by id (reporting,
// simulation results).
func (s *SQLite) ListAll(ctx context.Context) ([]Callback, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+cbColumns+` FROM callbacks ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: list callbacks: %w", err)
	}
	defer rows.Close()
	var out []Callback
	for rows.Next() {
		cb, err := scanCallback(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list callbacks: %w", err)
		}
		out = append(out, cb)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list callbacks: %w", err)
	}
	return out, nil
}

// AppendEvent implements Events.
func (s *SQLite) AppendEvent(ctx context.Context, ev Event) error {
	if ev.At.IsZero() {
		ev.At = time.Now()
	}
	if ev.Kind == "" {
		return errors.New("store: append event: kind is required")
	}
	detail := []byte("{}")
	if len(ev.Detail) > 0 {
		var err error
		if detail, err = json.Marshal(ev.Detail); err != nil {
			return fmt.Errorf("store: append event %s: %w", ev.Kind, err)
		}
	}
	var cbID any
	if ev.CallbackID != 0 {
		cbID = ev.CallbackID
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO events (at, kind, queue, callback_id, call_id, detail) VALUES (?, ?, ?, ?, ?, ?)`,
		fmtTime(ev.At), ev.Kind, ev.Queue, cbID, ev.CallID, string(detail)); err != nil {
		return fmt.Errorf("store: append event %s: %w", ev.Kind, err)
	}
	return nil
}

// ListEvents returns the event log in order (reporting and tests).
func (s *SQLite) ListEvents(ctx context.Context) ([]Event, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT at, kind, queue, COALESCE(callback_id, 0), call_id, detail FROM events ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: list events: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var ev Event
		var at sql.NullString
		var detail string
		if err := rows.Scan(&at, &ev.Kind, &ev.Queue, &ev.CallbackID, &ev.CallID, &detail); err != nil {
			return nil, fmt.Errorf("store: list events: %w", err)
		}
		if ev.At, err = parseTime(at); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(detail), &ev.Detail); err != nil {
			return nil, fmt.Errorf("store: list events: detail: %w", err)
		}
		out = append(out, ev)
	}
	return out, rows.Err()
}
