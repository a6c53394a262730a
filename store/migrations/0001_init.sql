-- Callbacks: one row per registered callback; the sort key (priority,
-- joined_at, seq) is the caller's place in the queue line and never changes.
CREATE TABLE callbacks (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    queue          TEXT    NOT NULL,
    number_e164    TEXT    NOT NULL,
    ani            TEXT    NOT NULL,
    media          TEXT    NOT NULL DEFAULT '[]', -- JSON array of prompt URIs
    priority       INTEGER NOT NULL DEFAULT 0,
    joined_at      TEXT    NOT NULL,
    seq            INTEGER NOT NULL,
    state          TEXT    NOT NULL CHECK (state IN ('registered','dialing','connected','completed','retry_wait','failed','cancelled','expired')),
    attempts       INTEGER NOT NULL DEFAULT 0,
    next_at        TEXT,
    not_before     TEXT,
    not_after      TEXT,
    created_at     TEXT    NOT NULL,
    updated_at     TEXT    NOT NULL,
    caller_call_id TEXT    NOT NULL DEFAULT ''
);

CREATE INDEX callbacks_open ON callbacks (queue, number_e164)
    WHERE state IN ('registered','dialing','connected','retry_wait');

CREATE TABLE attempts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    callback_id INTEGER NOT NULL REFERENCES callbacks (id) ON DELETE CASCADE,
    n           INTEGER NOT NULL,
    leg         TEXT    NOT NULL CHECK (leg IN ('agent','customer')),
    endpoint    TEXT    NOT NULL,
    ani         TEXT    NOT NULL DEFAULT '',
    channel_id  TEXT    NOT NULL DEFAULT '',
    started_at  TEXT    NOT NULL,
    ended_at    TEXT,
    outcome     TEXT    NOT NULL DEFAULT '',
    cause       TEXT    NOT NULL DEFAULT ''
);

CREATE INDEX attempts_callback ON attempts (callback_id, n);

-- Events: append-only log of what happened (abandons, transitions, …).
CREATE TABLE events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    queue       TEXT    NOT NULL DEFAULT '',
    callback_id INTEGER,
    call_id     TEXT    NOT NULL DEFAULT '',
    detail      TEXT    NOT NULL DEFAULT '{}'
);

CREATE INDEX events_at ON events (at);
