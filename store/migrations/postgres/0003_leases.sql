-- PostgreSQL twin of migrations/0003_leases.sql.
CREATE TABLE leases (
    name       TEXT        COLLATE "C" PRIMARY KEY,
    holder     TEXT        NOT NULL,
    token      BIGINT      NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
