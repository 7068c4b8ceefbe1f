-- Keys every replica must share (the token signing key), sealed under the
-- secret key, so replicas on one database agree without copying files.
CREATE TABLE system_key (
    name TEXT PRIMARY KEY,
    sealed TEXT NOT NULL,
    created_at BIGINT NOT NULL
)
