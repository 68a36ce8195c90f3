-- The audit chain's integrity is its links (each hash covers the previous one; checked
-- by `revokd audit verify`) and the write lock that appends them, not an index. The
-- UNIQUE index on `hash` was never read, and as its keys are random it cost one random
-- B-tree page write per event: the largest write of a group commit. SQLite cannot drop
-- a column constraint, so the table is rebuilt without it (same rows, ids, indexes and
-- append-only triggers).
CREATE TABLE audit_events_rebuilt (
    id          INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    event       TEXT    NOT NULL,
    actor       TEXT    NOT NULL,
    team_id     INTEGER,
    key_id      INTEGER,
    description TEXT    NOT NULL,
    details     TEXT    NOT NULL,
    prev_hash   TEXT    NOT NULL,
    hash        TEXT    NOT NULL
);
INSERT INTO audit_events_rebuilt
    SELECT id, at, event, actor, team_id, key_id, description, details, prev_hash, hash FROM audit_events;
DROP TABLE audit_events;
ALTER TABLE audit_events_rebuilt RENAME TO audit_events;
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_event ON audit_events (event);
CREATE INDEX audit_events_key ON audit_events (key_id);
CREATE INDEX audit_events_team ON audit_events (team_id);

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
