package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// LineState is what a caller holding a place in a queue line is doing.
type LineState string

const (
	// LineWaiting: in the holding bridge (music) or the in-queue flow.
	LineWaiting LineState = "waiting"
	// LineReserved: answering a callback's questions, place kept.
	LineReserved LineState = "reserved"
	// LineHeld: declined a callback in the IVR; the place waits for the
	// caller's queue notation.
	LineHeld LineState = "held"
	// LineConversation: bridged with an agent; the row ends with the
	// conversation.
	LineConversation LineState = "conversation"
)

func (s LineState) valid() bool {
	switch s {
	case LineWaiting, LineReserved, LineHeld, LineConversation:
		return true
	}
	return false
}

// LineEntry is one durable line row: a caller's place (its sort key) and
// what is needed to take the call back after a restart.
type LineEntry struct {
	CallID   string
	Queue    string
	State    LineState
	Priority int
	JoinedAt time.Time
	Seq      int64
	// InQueue: the caller was inside the queue notation (waiting, or
	// reserved from the in-queue flow); false for a place kept from the IVR.
	InQueue bool
	// Resume is "flow/notation" of the queue notation the caller waits in.
	Resume string
	// Agent and AgentCallID name the agent leg of a conversation.
	Agent, AgentCallID string
	UpdatedAt          time.Time
	// Owner is the switch the call is on (its lease name; "" for a
	// single node): a node re-adopts only its own switch's rows.
	Owner string
}

// LineRefusal is a line row that failed its checks when read back.
type LineRefusal struct {
	CallID string
	Reason string
}

// Line keeps the queue lines' caller entries durably. Writes are queued
// for the group commit and never wait for the disk, so a caller's key
// press is never held up by an fsync; the committer gathers the changes of
// lineLinger into one commit unless a registration takes them first;
// FlushLine waits for them (and ends that wait).
type Line interface {
	// SaveLine queues an insert or replacement of the call's row.
	SaveLine(e LineEntry)
	// DropLine queues the removal of the call's row.
	DropLine(callID string)
	// FlushLine returns once every row change queued before it is
	// committed (or failed: the error of the last failed write).
	FlushLine(ctx context.Context) error
	// ListLine reads every row; rows that fail their checks are returned
	// as refusals instead and left in place.
	ListLine(ctx context.Context) ([]LineEntry, []LineRefusal, error)
	// DeleteLine removes a row at once (a refused or adopted-and-closed row).
	DeleteLine(ctx context.Context, callID string) error
}

var _ Line = (*SQLite)(nil)

// lineOp is one queued row change: an upsert, or a delete when del is set.
type lineOp struct {
	e   LineEntry
	del bool
}

// SaveLine implements Line.
func (s *SQLite) SaveLine(e LineEntry) {
	if e.UpdatedAt.IsZero() {
		e.UpdatedAt = time.Now()
	}
	s.queueLine(lineOp{e: e})
}

// DropLine implements Line.
func (s *SQLite) DropLine(callID string) {
	s.queueLine(lineOp{e: LineEntry{CallID: callID}, del: true})
}

func (s *SQLite) queueLine(op lineOp) {
	s.lmu.Lock()
	if s.lineClosed {
		s.lmu.Unlock()
		return
	}
	s.lineOps = append(s.lineOps, op)
	s.lineQueued++
	s.lmu.Unlock()
	select {
	case s.lineKick <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// takeLine returns the queued row changes and their generation. Every
// change replaces the whole row (or removes it), so only the last change
// of each call is kept.
func (s *SQLite) takeLine() ([]lineOp, uint64) {
	s.lmu.Lock()
	ops, gen := s.lineOps, s.lineQueued
	s.lineOps = nil
	s.lmu.Unlock()
	if len(ops) < 2 {
		return ops, gen
	}
	last := make(map[string]int, len(ops))
	for i, op := range ops {
		last[op.e.CallID] = i
	}
	out := ops[:0]
	for i, op := range ops {
		if last[op.e.CallID] == i {
			out = append(out, op)
		}
	}
	return out, gen
}

// releaseLine ends a committer's turn at writing line rows and wakes the
// committers when more rows are waiting.
func (s *SQLite) releaseLine() {
	s.lineWriter.Unlock()
	s.lmu.Lock()
	waiting := len(s.lineOps) > 0
	s.lmu.Unlock()
	if waiting {
		select {
		case s.lineKick <- struct{}{}:
		default:
		}
	}
}

// lineDone records that every change up to gen is written (err: the
// write failed) and wakes FlushLine.
func (s *SQLite) lineDone(gen uint64, err error) {
	s.lmu.Lock()
	if gen > s.lineWritten {
		s.lineWritten = gen
	}
	if err != nil {
		s.lineErr = err
	}
	close(s.lineWake)
	s.lineWake = make(chan struct{})
	s.lmu.Unlock()
}

// FlushLine implements Line.
func (s *SQLite) FlushLine(ctx context.Context) error {
	s.lmu.Lock()
	want := s.lineQueued
	for s.lineWritten < want {
		wake := s.lineWake
		closed := s.lineClosed
		s.lmu.Unlock()
		if closed {
			return ErrClosed
		}
		select {
		case s.lineKick <- struct{}{}:
		default:
		}
		select {
		case s.lineFlush <- struct{}{}:
		default:
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return fmt.Errorf("store: flush line: %w", ctx.Err())
		case <-s.done:
		}
		s.lmu.Lock()
	}
	err := s.lineErr
	s.lmu.Unlock()
	return err
}

// writeLine applies row changes in order inside tx.
func writeLine(ctx context.Context, tx *tx, ops []lineOp) error {
	for _, op := range ops {
		e := op.e
		if op.del {
			if _, err := tx.ExecContext(ctx, `DELETE FROM line_entries WHERE call_id = ?`, e.CallID); err != nil {
				return fmt.Errorf("store: line: drop %s: %w", e.CallID, err)
			}
			continue
		}
		inQueue := 0
		if e.InQueue {
			inQueue = 1
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO line_entries (call_id, queue, state, priority, joined_at, seq,
			in_queue, resume, agent, agent_call_id, updated_at, owner) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (call_id) DO UPDATE SET queue = excluded.queue, state = excluded.state, priority = excluded.priority,
			joined_at = excluded.joined_at, seq = excluded.seq, in_queue = excluded.in_queue, resume = excluded.resume,
			agent = excluded.agent, agent_call_id = excluded.agent_call_id, updated_at = excluded.updated_at,
			owner = excluded.owner`,
			e.CallID, e.Queue, string(e.State), e.Priority, fmtTime(e.JoinedAt), e.Seq, inQueue, e.Resume,
			e.Agent, e.AgentCallID, fmtTime(e.UpdatedAt), e.Owner); err != nil {
			return fmt.Errorf("store: line: save %s: %w", e.CallID, err)
		}
	}
	return nil
}

// lineTx writes row changes in a transaction of their own.
func (s *SQLite) lineTx(ops []lineOp) error {
	ctx := context.Background()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: line: begin: %w", err)
	}
	if err := writeLine(ctx, tx, ops); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: line: commit: %w", err)
	}
	return nil
}

// ListLine implements Line, in line order per queue.
func (s *SQLite) ListLine(ctx context.Context) ([]LineEntry, []LineRefusal, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT call_id, queue, state, priority, joined_at, seq, in_queue, resume,
		agent, agent_call_id, updated_at, owner FROM line_entries ORDER BY queue, priority DESC, joined_at, seq, call_id`)
	if err != nil {
		return nil, nil, fmt.Errorf("store: list line: %w", err)
	}
	defer rows.Close()
	var out []LineEntry
	var bad []LineRefusal
	for rows.Next() {
		// Every column is read as text and checked: a row written by
		// another program or damaged on disk is refused, not trusted.
		var (
			e                                            LineEntry
			callID, queue, state, resume, agent, agentID sql.NullString
			owner                                        sql.NullString
			joined, updated, priority, seq, inQueue      sql.NullString
		)
		if err := rows.Scan(&callID, &queue, &state, &priority, &joined, &seq, &inQueue, &resume,
			&agent, &agentID, &updated, &owner); err != nil {
			return nil, nil, fmt.Errorf("store: list line: %w", err)
		}
		e.CallID, e.Queue, e.State = callID.String, queue.String, LineState(state.String)
		e.Resume, e.Agent, e.AgentCallID, e.Owner = resume.String, agent.String, agentID.String, owner.String
		if reason := checkLine(&e, joined, updated, priority, seq, inQueue); reason != "" {
			bad = append(bad, LineRefusal{CallID: e.CallID, Reason: reason})
			continue
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("store: list line: %w", err)
	}
	return out, bad, nil
}

// checkLine validates a row read back and fills its times; it returns why
// the row is refused, "" when it is sound.
func checkLine(e *LineEntry, joined, updated, priority, seq, inQueue sql.NullString) string {
	var problems []string
	if e.CallID == "" {
		problems = append(problems, "empty call id")
	}
	if e.Queue == "" {
		problems = append(problems, "empty queue")
	}
	if !e.State.valid() {
		problems = append(problems, fmt.Sprintf("unknown state %q", e.State))
	}
	p, perr := strconv.Atoi(priority.String)
	n, serr := strconv.ParseInt(seq.String, 10, 64)
	if perr != nil || serr != nil || n < 0 {
		problems = append(problems, fmt.Sprintf("bad priority %q or seq %q", priority.String, seq.String))
	}
	e.Priority, e.Seq = p, n
	switch inQueue.String {
	case "0":
	case "1":
		e.InQueue = true
	default:
		problems = append(problems, fmt.Sprintf("bad in_queue flag %q", inQueue.String))
	}
	var err error
	if e.JoinedAt, err = parseTime(joined); err != nil || e.JoinedAt.IsZero() {
		problems = append(problems, fmt.Sprintf("bad joined_at %q", joined.String))
	}
	if e.UpdatedAt, err = parseTime(updated); err != nil {
		problems = append(problems, fmt.Sprintf("bad updated_at %q", updated.String))
	}
	if e.State == LineConversation && (e.Agent == "" || e.AgentCallID == "") {
		problems = append(problems, "conversation without its agent leg")
	}
	if e.Resume != "" {
		if f, n, ok := strings.Cut(e.Resume, "/"); !ok || f == "" || n == "" {
			problems = append(problems, fmt.Sprintf("bad resume point %q", e.Resume))
		}
	}
	return strings.Join(problems, "; ")
}

// DeleteLine implements Line.
func (s *SQLite) DeleteLine(ctx context.Context, callID string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM line_entries WHERE call_id = ?`, callID); err != nil {
		return fmt.Errorf("store: line: delete %s: %w", callID, err)
	}
	return nil
}
