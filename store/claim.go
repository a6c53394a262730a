package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ClaimNext atomically moves the first callback of queue in line order
// (priority, then joined_at, seq, id) that is registered and inside its
// window at now to dialing, and returns it; false when none is due. Two
// stores on one database never claim the same callback: on SQLite the
// single statement runs in a serial write transaction, on PostgreSQL the
// candidate row is taken with FOR UPDATE SKIP LOCKED, so a concurrent
// claimer passes over it to the next one instead of waiting.
func (s *DB) ClaimNext(ctx context.Context, queue string, now time.Time) (Callback, bool, error) {
	at := fmtTime(now)
	row := s.db.QueryRowContext(ctx, `UPDATE callbacks SET state = 'dialing', updated_at = ?
		WHERE state = 'registered' AND id = (
			SELECT id FROM callbacks
			WHERE queue = ? AND state = 'registered'
				AND (not_before IS NULL OR not_before <= ?)
				AND (not_after IS NULL OR not_after > ?)
			ORDER BY priority DESC, joined_at, seq, id
			LIMIT 1`+s.db.d.skipLocked+`)
		RETURNING `+cbColumns, at, queue, at, at)
	cb, err := scanCallback(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Callback{}, false, nil
	}
	if err != nil {
		return Callback{}, false, fmt.Errorf("store: claim next in %s: %w", queue, err)
	}
	return cb, true, nil
}
