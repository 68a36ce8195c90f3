-- Scan jobs queued through the API (`POST /v1/scans`), claimed by any replica's worker.
-- Findings are stored redacted (JSON, never the secret); rows are purged after
-- `retention.days` with the leak records.
CREATE TABLE scan_jobs (
    id           TEXT    PRIMARY KEY,
    repo         TEXT    NOT NULL,
    git_ref      TEXT,
    history      BOOLEAN NOT NULL,
    revoke       BOOLEAN NOT NULL,
    requested_by TEXT    NOT NULL,
    status       TEXT    NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    created_at   BIGINT  NOT NULL,
    started_at   BIGINT,
    finished_at  BIGINT,
    findings     TEXT,
    stats        TEXT,
    error        TEXT
);
CREATE INDEX scan_jobs_queue ON scan_jobs (status, created_at);
CREATE INDEX scan_jobs_listing ON scan_jobs (created_at, id);
