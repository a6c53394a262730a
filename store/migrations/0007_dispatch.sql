-- Global dispatch between nodes that serve different switches on one
-- database (docs/nodes.md, "Several switches"). owner is the lease name of
-- the switch a row speaks for; a row counts only while that lease is held
-- (or expired a short grace ago, while a standby takes over).
--
-- queue_heads: the first waiting entry of each queue on each switch, in
-- line order (priority DESC, joined_at). A node offers an agent to its own
-- head only when no other switch's head comes first.
CREATE TABLE queue_heads (
    queue      TEXT    NOT NULL,
    owner      TEXT    NOT NULL,
    priority   INTEGER NOT NULL,
    joined_at  TEXT    NOT NULL,
    seq        INTEGER NOT NULL,
    updated_at TEXT    NOT NULL,
    PRIMARY KEY (queue, owner)
);
-- agent_claims: which switch an agent (by name) is offered, ringing,
-- talking or wrapping up on; '' when free. ver rises with each claim, so a
-- release meant for an older claim changes nothing.
CREATE TABLE agent_claims (
    agent      TEXT    PRIMARY KEY,
    owner      TEXT    NOT NULL DEFAULT '',
    queue      TEXT    NOT NULL DEFAULT '',
    ver        INTEGER NOT NULL DEFAULT 0,
    claimed_at TEXT
);
-- owner on the rows a node re-adopts: a node takes back only the callbacks
-- and line rows of its own switch ('' : written by a single node, taken by
-- whichever node starts).
ALTER TABLE callbacks ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE line_entries ADD COLUMN owner TEXT NOT NULL DEFAULT '';
