-- Uploads keep their state (hash, object-store parts) with the session, so
-- any process may take an upload's next request; blobs a collection has
-- dropped wait in blob_trash until their bytes are deleted.
ALTER TABLE upload ADD COLUMN state {{bytes}};

CREATE TABLE blob_trash (
    digest TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
)
