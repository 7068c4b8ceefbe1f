-- Pull counts and times, written in batches (see core::registry::PullStats).
ALTER TABLE artifact ADD COLUMN pull_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE artifact ADD COLUMN pull_time BIGINT;
ALTER TABLE repository ADD COLUMN pull_count BIGINT NOT NULL DEFAULT 0
