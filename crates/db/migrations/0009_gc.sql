-- When a blob was last uploaded or mounted: garbage collection spares blobs
-- touched within its time window, and an upload that races a sweep touches
-- the row first, so the sweep sees it.
ALTER TABLE blob ADD COLUMN touched_at BIGINT NOT NULL DEFAULT 0;
UPDATE blob SET touched_at = created_at;
CREATE INDEX blob_touched ON blob (touched_at)
