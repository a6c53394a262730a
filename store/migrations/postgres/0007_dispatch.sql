-- PostgreSQL twin of migrations/0007_dispatch.sql.
CREATE TABLE queue_heads (
    queue      TEXT        COLLATE "C" NOT NULL,
    owner      TEXT        COLLATE "C" NOT NULL,
    priority   INTEGER     NOT NULL,
    joined_at  TIMESTAMPTZ NOT NULL,
    seq        BIGINT      NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (queue, owner)
);
CREATE TABLE agent_claims (
    agent      TEXT        COLLATE "C" PRIMARY KEY,
    owner      TEXT        COLLATE "C" NOT NULL DEFAULT '',
    queue      TEXT        COLLATE "C" NOT NULL DEFAULT '',
    ver        BIGINT      NOT NULL DEFAULT 0,
    claimed_at TIMESTAMPTZ
);
ALTER TABLE callbacks ADD COLUMN owner TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE line_entries ADD COLUMN owner TEXT COLLATE "C" NOT NULL DEFAULT '';
