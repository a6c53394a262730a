package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Node is one callflow process sharing the database (docs/nodes.md).
type Node struct {
	ID string
	// StartedAt is when the process started; RenewedAt when it last
	// wrote its row (at start and with every lease renewal round).
	StartedAt, RenewedAt time.Time
	// Takeovers counts the leases the node took from another holder.
	Takeovers int64
}

// TouchNode writes node id's row: started and renewed at the given times,
// its takeovers raised by takeovers (0: unchanged). The row is created on
// first use.
func (s *DB) TouchNode(ctx context.Context, id string, started, renewed time.Time, takeovers int64) error {
	if id == "" {
		return errors.New("store: touch node: empty id")
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO nodes (id, started_at, renewed_at, takeovers) VALUES (?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET started_at = excluded.started_at, renewed_at = excluded.renewed_at,
			takeovers = nodes.takeovers + excluded.takeovers`,
		id, fmtTime(started), fmtTime(renewed), takeovers)
	if err != nil {
		return fmt.Errorf("store: touch node %s: %w", id, err)
	}
	return nil
}

// Nodes lists every node that ever wrote its row, by id.
func (s *DB) Nodes(ctx context.Context) ([]Node, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, started_at, renewed_at, takeovers FROM nodes ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: nodes: %w", err)
	}
	defer rows.Close()
	var out []Node
	for rows.Next() {
		var n Node
		var started, renewed sql.NullString
		if err := rows.Scan(&n.ID, &started, &renewed, &n.Takeovers); err != nil {
			return nil, fmt.Errorf("store: nodes: %w", err)
		}
		if n.StartedAt, err = parseTime(started); err != nil {
			return nil, fmt.Errorf("store: nodes: %w", err)
		}
		if n.RenewedAt, err = parseTime(renewed); err != nil {
			return nil, fmt.Errorf("store: nodes: %w", err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: nodes: %w", err)
	}
	return out, nil
}

// CheckFence tells whether holder still has the lease of f with f's token
// at now: nil if so, an error wrapping ErrLeaseLost if not. A node calls
// it before each side effect it makes for the lease (a dial), so one that
// lost its lease, or cannot reach the database, makes none.
func (s *DB) CheckFence(ctx context.Context, f Fence, holder string, now time.Time) error {
	var one int
	err := s.db.QueryRowContext(ctx, `SELECT 1 FROM leases WHERE name = ? AND holder = ? AND token = ? AND expires_at > ?`,
		f.Lease, holder, f.Token, fmtTime(now)).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: %s for %s with token %d", ErrLeaseLost, f.Lease, holder, f.Token)
	}
	if err != nil {
		return fmt.Errorf("store: check lease %s for %s: %w", f.Lease, holder, err)
	}
	return nil
}
