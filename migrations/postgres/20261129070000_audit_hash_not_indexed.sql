-- The audit chain's integrity is its links (each hash covers the previous one; checked
-- by `revokd audit verify`) and the chain lock that appends them, not an index. The
-- UNIQUE index on `hash` was never read, and as its keys are random it cost one random
-- B-tree page write per event.
ALTER TABLE audit_events DROP CONSTRAINT audit_events_hash_key;
