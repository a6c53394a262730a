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
	args := []any{at, queue, at, at}
	fence := ""
	if f.Lease != "" {
		fence = ` AND EXISTS (SELECT 1 FROM leases WHERE name = ? AND token = ? AND expires_at > ?` + s.db.d.shareLock + `)`
		args = append(args, f.Lease, f.Token, at)
	}
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
		if f.Lease != "" {
			// Nothing due, or the fence failed: tell them apart.
			l, ok, lerr := s.Lease(ctx, f.Lease)
			if lerr != nil {
				return Callback{}, false, fmt.Errorf("store: claim next in %s: %w", queue, lerr)
			}
			if !ok || l.Token != f.Token || !l.Expires.After(now) {
				return Callback{}, false, fmt.Errorf("%w: claim next in %s: %s with token %d", ErrLeaseLost, queue, f.Lease, f.Token)
			}
		}
		return Callback{}, false, nil
	}
	if err != nil {
		return Callback{}, false, fmt.Errorf("store: claim next in %s: %w", queue, err)
	}
	return cb, true, nil
}
