-- Nodes: the callflow processes sharing this database (docs/nodes.md).
-- Each node writes its row when it starts and every time it renews its
-- leases; takeovers counts the leases it took from another node.
CREATE TABLE nodes (
    id         TEXT    PRIMARY KEY,
    started_at TEXT    NOT NULL,
    renewed_at TEXT    NOT NULL,
    takeovers  INTEGER NOT NULL DEFAULT 0
);
