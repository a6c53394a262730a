package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Lease is the ownership of a named resource (a switch connection) by one
// holder (a node) until Expires.
type Lease struct {
	Name   string
	Holder string
	// Token is the fencing token: it rises each time the lease changes
	// hands and stays while one holder renews it.
	Token   int64
	Expires time.Time
}

// Lease errors.
var (
	// ErrLeaseHeld: another holder has the lease and it has not expired.
	ErrLeaseHeld = errors.New("store: lease held by another holder")
	// ErrLeaseLost: the holder no longer has the lease with that token
	// (it expired, was released, or changed hands).
	ErrLeaseLost = errors.New("store: lease lost")
)

const leaseColumns = `name, holder, token, expires_at`

func scanLease(sc scanner) (Lease, error) {
	var l Lease
	var exp sql.NullString
	if err := sc.Scan(&l.Name, &l.Holder, &l.Token, &exp); err != nil {
		return Lease{}, err
	}
	var err error
	l.Expires, err = parseTime(exp)
	return l, err
}

// AcquireLease takes the lease name for holder until now+ttl when it is
// free, expired, or already holder's (then it is renewed with the same
// token). A change of holder raises the token. One statement: of several
// holders acquiring at once, one wins and the others get ErrLeaseHeld.
func (s *DB) AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (Lease, error) {
	if name == "" || holder == "" || ttl <= 0 {
		return Lease{}, fmt.Errorf("store: acquire lease %q for %q: name, holder and a positive ttl are required", name, holder)
	}
	l, err := scanLease(s.db.QueryRowContext(ctx, `INSERT INTO leases (name, holder, token, expires_at) VALUES (?, ?, 1, ?)
		ON CONFLICT (name) DO UPDATE SET
			token = CASE WHEN leases.holder = excluded.holder THEN leases.token ELSE leases.token + 1 END,
			holder = excluded.holder,
			expires_at = excluded.expires_at
		WHERE leases.holder = excluded.holder OR leases.expires_at <= ?
		RETURNING `+leaseColumns, name, holder, fmtTime(now.Add(ttl)), fmtTime(now)))
	if err == nil {
		return l, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return Lease{}, fmt.Errorf("store: acquire lease %s for %s: %w", name, holder, err)
	}
	cur, _, gerr := s.Lease(ctx, name)
	if gerr != nil {
		return Lease{}, fmt.Errorf("store: acquire lease %s for %s: %w", name, holder, gerr)
	}
	return cur, fmt.Errorf("%w: %s is held by %s until %s", ErrLeaseHeld, name, cur.Holder, cur.Expires.Format(time.RFC3339Nano))
}

// RenewLease extends holder's lease with token to now+ttl. It fails with
// ErrLeaseLost when the lease expired (even if nobody took it), was
// released or changed hands: the holder must stop acting for it and
// acquire it again.
func (s *DB) RenewLease(ctx context.Context, name, holder string, token int64, now time.Time, ttl time.Duration) (Lease, error) {
	l, err := scanLease(s.db.QueryRowContext(ctx, `UPDATE leases SET expires_at = ?
		WHERE name = ? AND holder = ? AND token = ? AND expires_at > ? RETURNING `+leaseColumns,
		fmtTime(now.Add(ttl)), name, holder, token, fmtTime(now)))
	if errors.Is(err, sql.ErrNoRows) {
		return Lease{}, fmt.Errorf("%w: %s for %s with token %d", ErrLeaseLost, name, holder, token)
	}
	if err != nil {
		return Lease{}, fmt.Errorf("store: renew lease %s for %s: %w", name, holder, err)
	}
	return l, nil
}

// ReleaseLease gives the lease up at now, so another holder can take it at
// once; ErrLeaseLost when holder no longer has it with token.
func (s *DB) ReleaseLease(ctx context.Context, name, holder string, token int64, now time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE leases SET expires_at = ?
		WHERE name = ? AND holder = ? AND token = ? AND expires_at > ?`, fmtTime(now), name, holder, token, fmtTime(now))
	if err != nil {
		return fmt.Errorf("store: release lease %s for %s: %w", name, holder, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: %s for %s with token %d", ErrLeaseLost, name, holder, token)
	}
	return nil
}

// Lease returns the lease name; false when it was never taken.
func (s *DB) Lease(ctx context.Context, name string) (Lease, bool, error) {
	l, err := scanLease(s.db.QueryRowContext(ctx, `SELECT `+leaseColumns+` FROM leases WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return Lease{}, false, nil
	}
	if err != nil {
		return Lease{}, false, fmt.Errorf("store: lease %s: %w", name, err)
	}
	return l, true, nil
}

// Leases lists every lease by name.
func (s *DB) Leases(ctx context.Context) ([]Lease, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+leaseColumns+` FROM leases ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("store: leases: %w", err)
	}
	defer rows.Close()
	var out []Lease
	for rows.Next() {
		l, err := scanLease(rows)
		if err != nil {
			return nil, fmt.Errorf("store: leases: %w", err)
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: leases: %w", err)
	}
	return out, nil
}
