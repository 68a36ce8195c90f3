-- Git blobs that a history scan found clean, per repository and scan settings (rule-set
-- version and options), so a rescan of the same repository reads only new blobs. Blobs
-- with findings are never remembered: they are rescanned, so no secret is stored here.
CREATE TABLE git_scanned_blobs (
    repo       TEXT    NOT NULL,
    scan_key   TEXT    NOT NULL,
    blob_id    TEXT    NOT NULL,
    scanned_at BIGINT  NOT NULL,
    PRIMARY KEY (repo, scan_key, blob_id)
);
