package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Fence ties a write to a lease: the write is made only if the lease is
// still held with Token at the write's time, checked in the same
// statement. The zero Fence does not fence.
type Fence struct {
	Lease string
	Token int64
}

// ClaimNext atomically moves the first callback of queue in line order
// (priority, then joined_at, seq, id) that is registered and inside its
// window at now to dialing, and returns it; false when none is due. Two
// stores on one database never claim the same callback: on SQLite the
// single statement runs in a serial write transaction, on PostgreSQL the
// candidate row is taken with FOR UPDATE SKIP LOCKED, so a concurrent
// claimer passes over it to the next one instead of waiting.
//
// With a fence, nothing is claimed (false, ErrLeaseLost) unless the lease
// is held with the fence's token at now; on PostgreSQL the lease row is
// read FOR SHARE, so a takeover cannot commit between the check and the
// claim.
func (s *DB) ClaimNext(ctx context.Context, queue string, now time.Time, f Fence) (Callback, bool, error) {
	at := fmtTime(now)
	fence, fargs := s.fenceClause(f, at)
	args := append([]any{at, queue, at, at}, fargs...)
	row := s.db.QueryRowContext(ctx, `UPDATE callbacks SET state = 'dialing', updated_at = ?
		WHERE state = 'registered' AND id = (
			SELECT id FROM callbacks
			WHERE queue = ? AND state = 'registered'
				AND (not_before IS NULL OR not_before <= ?)
				AND (not_after IS NULL OR not_after > ?)
			ORDER BY priority DESC, joined_at, seq, id
			LIMIT 1`+s.db.d.skipLocked+`)`+fence+`
		RETURNING `+cbColumns, args...)
	cb, err := scanCallback(row)
	if errors.Is(err, sql.ErrNoRows) {
		// Nothing due, or the fence failed: tell them apart.
		if err := s.fenceFailed(ctx, f, now); err != nil {
			return Callback{}, false, fmt.Errorf("claim next in %s: %w", queue, err)
		}
		return Callback{}, false, nil
	}
	if err != nil {
		return Callback{}, false, fmt.Errorf("store: claim next in %s: %w", queue, err)
	}
	return cb, true, nil
}

// fenceClause is the condition a fenced write adds to its WHERE, and its
// arguments: the lease held with f's token at at (on PostgreSQL read FOR
// SHARE, so a takeover cannot commit between the check and the write).
// The zero Fence adds nothing.
func (s *DB) fenceClause(f Fence, at string) (string, []any) {
	if f.Lease == "" {
		return "", nil
	}
	return ` AND EXISTS (SELECT 1 FROM leases WHERE name = ? AND token = ? AND expires_at > ?` + s.db.d.shareLock + `)`,
		[]any{f.Lease, f.Token, at}
}

// fenceFailed tells, after a fenced write changed nothing, whether the
// fence was the reason: an ErrLeaseLost error when the lease is not held
// with f's token at now, nil otherwise (and for the zero Fence).
func (s *DB) fenceFailed(ctx context.Context, f Fence, now time.Time) error {
	if f.Lease == "" {
		return nil
	}
	l, ok, err := s.Lease(ctx, f.Lease)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if !ok || l.Token != f.Token || !l.Expires.After(now) {
		return fmt.Errorf("%w: %s with token %d", ErrLeaseLost, f.Lease, f.Token)
	}
	return nil
}
