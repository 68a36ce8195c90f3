-- A running scan job is leased: its worker renews `claimed_until` while it scans. A job
-- whose lease ran out (its replica died) is claimed again by another worker, up to a
-- few attempts; `attempts` also fences a worker whose lease was lost: its renewals and
-- results no longer apply.
ALTER TABLE scan_jobs ADD COLUMN claimed_until BIGINT;
ALTER TABLE scan_jobs ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;
