-- PostgreSQL twin of migrations/0004_line.sql: the durable line. Times are
-- kept as the same fixed-width UTC text as in SQLite (rows are read back as
-- text and checked, never trusted), in the "C" collation so text order is
-- time order.
CREATE TABLE line_entries (
    call_id       TEXT    COLLATE "C" PRIMARY KEY,
    queue         TEXT    COLLATE "C" NOT NULL,
    state         TEXT    COLLATE "C" NOT NULL, -- waiting, reserved, held, conversation
    priority      INTEGER NOT NULL DEFAULT 0,
    joined_at     TEXT    COLLATE "C" NOT NULL,
    seq           BIGINT  NOT NULL,
    in_queue      INTEGER NOT NULL DEFAULT 0, -- the caller was inside the queue notation
    resume        TEXT    NOT NULL DEFAULT '', -- flow/notation to restart the caller at
    agent         TEXT    NOT NULL DEFAULT '', -- conversation: agent endpoint
    agent_call_id TEXT    NOT NULL DEFAULT '', -- conversation: agent leg
    updated_at    TEXT    COLLATE "C" NOT NULL
);
