-- revokd store schema (SQLite). Times are UTC milliseconds since the Unix epoch
-- (INTEGER), the same representation as on PostgreSQL, so that one set of queries
-- sorts and filters identically on both backends.

CREATE TABLE teams (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

CREATE TABLE team_members (
    team_id INTEGER NOT NULL REFERENCES teams (id),
    email   TEXT    NOT NULL,
    role    TEXT    NOT NULL CHECK (role IN ('admin', 'member')),
    PRIMARY KEY (team_id, email)
);

-- key_hash = HMAC-SHA256(pepper, token): the token itself is never stored.
CREATE TABLE api_keys (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    team_id         INTEGER NOT NULL REFERENCES teams (id),
    key_type        TEXT    NOT NULL,
    key_hash        TEXT    NOT NULL UNIQUE,
    redacted        TEXT    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'active'
                            CHECK (status IN ('active', 'disabled', 'deleted')),
    created_at      INTEGER NOT NULL,
    disabled_at     INTEGER,
    disabled_reason TEXT
);
CREATE INDEX api_keys_team ON api_keys (team_id, status);

-- token_hash = SHA-256 of the leaked token (what GitHub's feedback calls token_hash).
CREATE TABLE leaks (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    key_id     INTEGER REFERENCES api_keys (id),
    token_hash TEXT    NOT NULL UNIQUE,
    token_type TEXT    NOT NULL,
    source     TEXT    NOT NULL,
    url        TEXT,
    reporter   TEXT    NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    sightings  INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX leaks_last_seen ON leaks (last_seen);
CREATE INDEX leaks_key ON leaks (key_id);

-- Append-only hash chain. id is assigned as head + 1 while holding the write lock.
CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    event       TEXT    NOT NULL,
    actor       TEXT    NOT NULL,
    team_id     INTEGER,
    key_id      INTEGER,
    description TEXT    NOT NULL,
    details     TEXT    NOT NULL,
    prev_hash   TEXT    NOT NULL,
    hash        TEXT    NOT NULL UNIQUE
);
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

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT    NOT NULL,
    team_id         INTEGER REFERENCES teams (id),
    key_id          INTEGER REFERENCES api_keys (id),
    recipient       TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    dedupe_key      TEXT    NOT NULL UNIQUE,
    status          TEXT    NOT NULL DEFAULT 'pending'
                            CHECK (status IN ('pending', 'sent', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
