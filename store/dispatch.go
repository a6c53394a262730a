package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Global dispatch between nodes serving different switches on one database
// (docs/nodes.md, "Several switches"). Each switch, named by its lease
// (the owner), publishes the head of each queue's line; an agent, known by
// name on every switch, is claimed by one owner at a time. A node offers
// an agent to its own head only through ClaimAgent, which refuses when the
// agent is claimed by another live owner or when another live owner's head
// comes first in line order. An owner is live while its lease is held, or
// expired less than the grace ago (a standby is taking over).

// Head is the first waiting entry of a queue on one switch, by line order:
// higher Priority first, then the earlier JoinedAt; between switches, the
// owner's name breaks a tie.
type Head struct {
	Priority int
	JoinedAt time.Time
	Seq      int64
}

// Claim outcomes of ClaimAgent.
var (
	// ErrAgentBusy: another live owner holds the agent.
	ErrAgentBusy = errors.New("store: agent claimed by another switch")
	// ErrNotFirst: another live owner's head of the queue comes first.
	ErrNotFirst = errors.New("store: another switch's caller comes first")
)

// AgentClaim is one claim held by an owner; Ver tells claims apart.
type AgentClaim struct {
	Agent string
	Queue string
	Ver   int64
}

// PublishHead writes owner's head of queue (nil: the queue has no waiting
// entry on owner's switch).
func (s *DB) PublishHead(ctx context.Context, owner, queue string, h *Head, now time.Time) error {
	if h == nil {
		if _, err := s.db.ExecContext(ctx, `DELETE FROM queue_heads WHERE queue = ? AND owner = ?`, queue, owner); err != nil {
			return fmt.Errorf("store: clear head of %s for %s: %w", queue, owner, err)
		}
		return nil
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO queue_heads (queue, owner, priority, joined_at, seq, updated_at)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (queue, owner) DO UPDATE SET priority = excluded.priority, joined_at = excluded.joined_at,
			seq = excluded.seq, updated_at = excluded.updated_at`,
		queue, owner, h.Priority, fmtTime(h.JoinedAt), h.Seq, fmtTime(now))
	if err != nil {
		return fmt.Errorf("store: publish head of %s for %s: %w", queue, owner, err)
	}
	return nil
}

// ClaimAgent claims agent for owner's entry h of queue, in one statement:
// it succeeds when the agent is free, already owner's, or held by an owner
// that is no longer live, and no other live owner's head of queue comes
// before h. It returns the claim's version (for ReleaseAgent), or
// ErrAgentBusy / ErrNotFirst. On PostgreSQL the agent's row is locked by
// the update, so of two owners claiming at once one wins and the other
// sees the winner.
func (s *DB) ClaimAgent(ctx context.Context, owner, agent, queue string, h Head, now time.Time, grace time.Duration) (int64, error) {
	if owner == "" || agent == "" {
		return 0, fmt.Errorf("store: claim agent %q for %q: owner and agent are required", agent, owner)
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO agent_claims (agent) VALUES (?) ON CONFLICT (agent) DO NOTHING`, agent); err != nil {
		return 0, fmt.Errorf("store: claim agent %s: %w", agent, err)
	}
	at, live, joined := fmtTime(now), fmtTime(now.Add(-grace)), fmtTime(h.JoinedAt)
	var ver int64
	err := s.db.QueryRowContext(ctx, `UPDATE agent_claims SET owner = ?, queue = ?, claimed_at = ?, ver = ver + 1
		WHERE agent = ?
			AND (owner = ? OR owner = '' OR NOT EXISTS (
				SELECT 1 FROM leases l WHERE l.name = agent_claims.owner AND l.expires_at > ?))
			AND NOT EXISTS (
				SELECT 1 FROM queue_heads h JOIN leases l ON l.name = h.owner
				WHERE h.queue = ? AND h.owner <> ? AND l.expires_at > ?
					AND (h.priority > ? OR (h.priority = ? AND (h.joined_at < ? OR (h.joined_at = ? AND h.owner < ?)))))
		RETURNING ver`,
		owner, queue, at, agent, owner, live, queue, owner, live, h.Priority, h.Priority, joined, joined, owner).Scan(&ver)
	if err == nil {
		return ver, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("store: claim agent %s for %s: %w", agent, owner, err)
	}
	// Refused: tell which of the two conditions did it.
	var holder string
	if err := s.db.QueryRowContext(ctx, `SELECT c.owner FROM agent_claims c
		WHERE c.agent = ? AND c.owner <> '' AND c.owner <> ?
			AND EXISTS (SELECT 1 FROM leases l WHERE l.name = c.owner AND l.expires_at > ?)`,
		agent, owner, live).Scan(&holder); err == nil {
		return 0, fmt.Errorf("%w: %s is held by %s", ErrAgentBusy, agent, holder)
	} else if !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("store: claim agent %s for %s: %w", agent, owner, err)
	}
	return 0, fmt.Errorf("%w in %s: %s waits for another switch's caller", ErrNotFirst, queue, agent)
}

// ReleaseAgent frees owner's claim of agent; with ver > 0 only the claim
// of that version (a newer claim is left alone).
func (s *DB) ReleaseAgent(ctx context.Context, owner, agent string, ver int64) error {
	q, args := `UPDATE agent_claims SET owner = '' WHERE agent = ? AND owner = ?`, []any{agent, owner}
	if ver > 0 {
		q, args = q+` AND ver = ?`, append(args, ver)
	}
	if _, err := s.db.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("store: release agent %s for %s: %w", agent, owner, err)
	}
	return nil
}

// HoldAgent claims agent for owner whatever holds it (an agent found in a
// conversation on owner's switch after a takeover).
func (s *DB) HoldAgent(ctx context.Context, owner, agent, queue string, now time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO agent_claims (agent, owner, queue, ver, claimed_at) VALUES (?, ?, ?, 1, ?)
		ON CONFLICT (agent) DO UPDATE SET owner = excluded.owner, queue = excluded.queue,
			ver = agent_claims.ver + 1, claimed_at = excluded.claimed_at`, agent, owner, queue, fmtTime(now))
	if err != nil {
		return fmt.Errorf("store: hold agent %s for %s: %w", agent, owner, err)
	}
	return nil
}

// AgentClaims lists the claims owner holds, by agent.
func (s *DB) AgentClaims(ctx context.Context, owner string) ([]AgentClaim, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT agent, queue, ver FROM agent_claims WHERE owner = ? ORDER BY agent`, owner)
	if err != nil {
		return nil, fmt.Errorf("store: agent claims of %s: %w", owner, err)
	}
	defer rows.Close()
	var out []AgentClaim
	for rows.Next() {
		var c AgentClaim
		if err := rows.Scan(&c.Agent, &c.Queue, &c.Ver); err != nil {
			return nil, fmt.Errorf("store: agent claims of %s: %w", owner, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: agent claims of %s: %w", owner, err)
	}
	return out, nil
}
