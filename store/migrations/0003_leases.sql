-- Leases: which node owns a named resource (a switch connection) until
-- when. token is the fencing token: it rises each time the lease changes
-- hands, so a write stamped with an older token is known to be stale.
CREATE TABLE leases (
    name       TEXT    PRIMARY KEY,
    holder     TEXT    NOT NULL,
    token      INTEGER NOT NULL,
    expires_at TEXT    NOT NULL
);
