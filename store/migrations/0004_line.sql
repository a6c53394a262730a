-- The durable line: one row per caller who holds a place in a queue line
-- (waiting on music or in the in-queue flow, reserved, held) or talks with
-- an agent. Callbacks keep their place in the callbacks table. A restarted
-- process rebuilds every line from both, in (priority DESC, joined_at, seq)
-- order, and re-adopts the calls the switch still has. Rows are written
-- through the group commit and read back with checks, never trusted: a row
-- that fails them is refused at start with a logged reason.
CREATE TABLE line_entries (
    call_id       TEXT    PRIMARY KEY,
    queue         TEXT    NOT NULL,
    state         TEXT    NOT NULL, -- waiting, reserved, held, conversation
    priority      INTEGER NOT NULL DEFAULT 0,
    joined_at     TEXT    NOT NULL,
    seq           INTEGER NOT NULL,
    in_queue      INTEGER NOT NULL DEFAULT 0, -- the caller was inside the queue notation
    resume        TEXT    NOT NULL DEFAULT '', -- flow/notation to restart the caller at
    agent         TEXT    NOT NULL DEFAULT '', -- conversation: agent endpoint
    agent_call_id TEXT    NOT NULL DEFAULT '', -- conversation: agent leg
    updated_at    TEXT    NOT NULL
);
