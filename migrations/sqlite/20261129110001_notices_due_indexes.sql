-- The notification worker asks after every commit when it next has work
-- (`Store::next_notify_due`): the oldest waiting leak, and the oldest waiting
-- restore/delete notice of a team with no waiting leak. These two indexes over the
-- waiting notices answer both with index reads, whatever the backlog.
CREATE INDEX notices_unbatched_kind ON notices (kind, created_at) WHERE batched_at IS NULL;
CREATE INDEX notices_unbatched_team ON notices (team_id, kind) WHERE batched_at IS NULL;
