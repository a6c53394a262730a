package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Query limits.
const (
	// DefaultLimit is the page size when a filter names none.
	DefaultLimit = 50
	// MaxLimit bounds a page.
	MaxLimit = 500
)

// ErrBadFilter: a filter value is out of range.
var ErrBadFilter = errors.New("store: bad filter")

// CallbackFilter selects callbacks for reporting. Zero fields do not filter.
type CallbackFilter struct {
	Queue  string
	States []State
	// Number is the exact E.164 number.
	Number string
	// CreatedFrom (inclusive) and CreatedTo (exclusive) bound created_at.
	CreatedFrom, CreatedTo time.Time
	// Limit is the page size (0 = DefaultLimit, at most MaxLimit).
	Limit int
	// Before is the cursor: only callbacks with an id below it (0 = from
	// the newest).
	Before int64
}

// CallbackPage is one page of callbacks, newest first.
type CallbackPage struct {
	Callbacks []Callback
	// Next is the cursor of the following page (Before), 0 when this is
	// the last one.
	Next int64
}

// Reporting is what read-only reporting (the HTTP API) needs.
type Reporting interface {
	Get(ctx context.Context, id int64) (Callback, error)
	Attempts(ctx context.Context, callbackID int64) ([]Attempt, error)
	QueryCallbacks(ctx context.Context, f CallbackFilter) (CallbackPage, error)
	QueryEvents(ctx context.Context, f EventFilter) (EventPage, error)
}

var _ Reporting = (*SQLite)(nil)

func pageLimit(n int) (int, error) {
	switch {
	case n == 0:
		return DefaultLimit, nil
	case n < 0 || n > MaxLimit:
		return 0, fmt.Errorf("%w: limit %d (want 1…%d)", ErrBadFilter, n, MaxLimit)
	}
	return n, nil
}

// where accumulates SQL conditions and their arguments.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

func (w *where) in(col string, vals []string) {
	ph := strings.TrimSuffix(strings.Repeat("?,", len(vals)), ",")
	args := make([]any, len(vals))
	for i, v := range vals {
		args[i] = v
	}
	w.add(col+" IN ("+ph+")", args...)
}

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// QueryCallbacks lists callbacks matching f, newest (highest id) first.
func (s *SQLite) QueryCallbacks(ctx context.Context, f CallbackFilter) (CallbackPage, error) {
	limit, err := pageLimit(f.Limit)
	if err != nil {
		return CallbackPage{}, err
	}
	var w where
	if f.Queue != "" {
		w.add("queue = ?", f.Queue)
	}
	if len(f.States) > 0 {
		states := make([]string, len(f.States))
		for i, st := range f.States {
			if !validState(st) {
				return CallbackPage{}, fmt.Errorf("%w: unknown state %q", ErrBadFilter, st)
			}
			states[i] = string(st)
		}
		w.in("state", states)
	}
	if f.Number != "" {
		w.add("number_e164 = ?", f.Number)
	}
	if !f.CreatedFrom.IsZero() {
		w.add("created_at >= ?", fmtTime(f.CreatedFrom))
	}
	if !f.CreatedTo.IsZero() {
		w.add("created_at < ?", fmtTime(f.CreatedTo))
	}
	if f.Before < 0 {
		return CallbackPage{}, fmt.Errorf("%w: cursor %d", ErrBadFilter, f.Before)
	}
	if f.Before > 0 {
		w.add("id < ?", f.Before)
	}
	// One more row than asked tells whether a next page exists.
	rows, err := s.db.QueryContext(ctx, `SELECT `+cbColumns+` FROM callbacks`+w.sql()+` ORDER BY id DESC LIMIT ?`,
		append(w.args, limit+1)...)
	if err != nil {
		return CallbackPage{}, fmt.Errorf("store: query callbacks: %w", err)
	}
	defer rows.Close()
	var page CallbackPage
	for rows.Next() {
		cb, err := scanCallback(rows)
		if err != nil {
			return CallbackPage{}, fmt.Errorf("store: query callbacks: %w", err)
		}
		page.Callbacks = append(page.Callbacks, cb)
	}
	if err := rows.Err(); err != nil {
		return CallbackPage{}, fmt.Errorf("store: query callbacks: %w", err)
	}
	if len(page.Callbacks) > limit {
		page.Callbacks = page.Callbacks[:limit]
		page.Next = page.Callbacks[limit-1].ID
	}
	return page, nil
}

// validState reports a state of the state machine.
func validState(st State) bool {
	switch st {
	case Registered, Dialing, Connected, Completed, RetryWait, Failed, Cancelled, Expired:
		return true
	}
	return false
}

// EventFilter selects event log lines. Zero fields do not filter.
type EventFilter struct {
	Kinds      []string
	Queue      string
	CallbackID int64
	// Since (inclusive) and Until (exclusive) bound the event time.
	Since, Until time.Time
	// Limit is the page size (0 = DefaultLimit, at most MaxLimit).
	Limit int
	// After is the cursor: only lines with an id above it.
	After int64
}

// LoggedEvent is an event log line with its id (its place in the log).
type LoggedEvent struct {
	ID int64
	Event
}

// EventPage is one page of the event log, oldest first.
type EventPage struct {
	Events []LoggedEvent
	// Next is the cursor of the following page (After), 0 when this is the
	// last one.
	Next int64
}

// QueryEvents reads the event log forward (oldest first) from f.After.
func (s *SQLite) QueryEvents(ctx context.Context, f EventFilter) (EventPage, error) {
	limit, err := pageLimit(f.Limit)
	if err != nil {
		return EventPage{}, err
	}
	if f.After < 0 {
		return EventPage{}, fmt.Errorf("%w: cursor %d", ErrBadFilter, f.After)
	}
	var w where
	if len(f.Kinds) > 0 {
		w.in("kind", f.Kinds)
	}
	if f.Queue != "" {
		w.add("queue = ?", f.Queue)
	}
	if f.CallbackID != 0 {
		w.add("callback_id = ?", f.CallbackID)
	}
	if !f.Since.IsZero() {
		w.add("at >= ?", fmtTime(f.Since))
	}
	if !f.Until.IsZero() {
		w.add("at < ?", fmtTime(f.Until))
	}
	if f.After > 0 {
		w.add("id > ?", f.After)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, at, kind, queue, COALESCE(callback_id, 0), call_id, detail FROM events`+
		w.sql()+` ORDER BY id LIMIT ?`, append(w.args, limit+1)...)
	if err != nil {
		return EventPage{}, fmt.Errorf("store: query events: %w", err)
	}
	defer rows.Close()
	var page EventPage
	for rows.Next() {
		var ev LoggedEvent
		var at sql.NullString
		var detail string
		if err := rows.Scan(&ev.ID, &at, &ev.Kind, &ev.Queue, &ev.CallbackID, &ev.CallID, &detail); err != nil {
			return EventPage{}, fmt.Errorf("store: query events: %w", err)
		}
		if ev.At, err = parseTime(at); err != nil {
			return EventPage{}, fmt.Errorf("store: query events: %w", err)
		}
		if err := json.Unmarshal([]byte(detail), &ev.Detail); err != nil {
			return EventPage{}, fmt.Errorf("store: query events: event %d detail: %w", ev.ID, err)
		}
		page.Events = append(page.Events, ev)
	}
	if err := rows.Err(); err != nil {
		return EventPage{}, fmt.Errorf("store: query events: %w", err)
	}
	if len(page.Events) > limit {
		page.Events = page.Events[:limit]
		page.Next = page.Events[limit-1].ID
	}
	return page, nil
}

// AppendEvents appends several events in one transaction (one durable
// commit for a batch). The line row changes waiting for the committer are
// written in the same transaction when no committer is writing rows at the
// moment: the events of a queue (joined, reserved, left, …) come with a row
// change each, so under load both share one commit instead of two.
func (s *SQLite) AppendEvents(ctx context.Context, evs []Event) error {
	if len(evs) == 0 {
		return nil
	}
	if !s.lineWriter.TryLock() {
		return s.appendEvents(ctx, evs, nil)
	}
	defer s.releaseLine()
	ops, gen := s.takeLine()
	err := s.appendEvents(ctx, evs, ops)
	if err != nil && len(ops) > 0 {
		// The rows must not fail with the events: write them alone.
		s.lineDone(gen, s.lineTx(ops))
		return err
	}
	s.lineDone(gen, nil)
	return err
}

// appendEvents writes ops, then evs, in one transaction.
func (s *SQLite) appendEvents(ctx context.Context, evs []Event, ops []lineOp) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: append events: begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO events (at, kind, queue, callback_id, call_id, detail) VALUES (?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("store: append events: %w", err)
	}
	defer stmt.Close()
	if err = writeLine(ctx, tx, ops); err != nil {
		return err
	}
	for _, ev := range evs {
		if ev.Kind == "" {
			return errors.New("store: append events: kind is required")
		}
		if ev.At.IsZero() {
			ev.At = time.Now()
		}
		detail := []byte("{}")
		if len(ev.Detail) > 0 {
			if detail, err = json.Marshal(ev.Detail); err != nil {
				return fmt.Errorf("store: append event %s: %w", ev.Kind, err)
			}
		}
		var cbID any
		if ev.CallbackID != 0 {
			cbID = ev.CallbackID
		}
		if _, err = stmt.ExecContext(ctx, fmtTime(ev.At), ev.Kind, ev.Queue, cbID, ev.CallID, string(detail)); err != nil {
			return fmt.Errorf("store: append event %s: %w", ev.Kind, err)
		}
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("store: append events: commit: %w", err)
	}
	return nil
}
