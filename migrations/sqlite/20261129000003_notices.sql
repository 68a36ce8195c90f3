-- Owner notices: one row per event a team must hear about (a key leaked, a key restored
-- or deleted), written in the transaction of that event. The notification worker
-- batches a team's notices into emails: one outbox row per recipient, each with a plain
-- text and an HTML body. dedupe_key makes one notice per leak however often it is
-- reported; batched_at marks the notices already turned into emails.
CREATE TABLE notices (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT    NOT NULL CHECK (kind IN ('leak', 'key_restored', 'key_deleted')),
    team_id    INTEGER NOT NULL REFERENCES teams (id),
    key_id     INTEGER REFERENCES api_keys (id),
    details    TEXT    NOT NULL,
    dedupe_key TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    batched_at INTEGER
);
CREATE INDEX notices_unbatched ON notices (created_at) WHERE batched_at IS NULL;

-- The HTML alternative of body, and the ids of the keys an email is about (JSON array).
ALTER TABLE outbox ADD COLUMN body_html TEXT;
ALTER TABLE outbox ADD COLUMN key_ids TEXT;
