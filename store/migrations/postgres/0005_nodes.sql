-- PostgreSQL twin of migrations/0005_nodes.sql.
CREATE TABLE nodes (
    id         TEXT        COLLATE "C" PRIMARY KEY,
    started_at TIMESTAMPTZ NOT NULL,
    renewed_at TIMESTAMPTZ NOT NULL,
    takeovers  BIGINT      NOT NULL DEFAULT 0
);
