-- Browser sessions: the cookie value is stored only as its SHA-256.
CREATE TABLE session (
    id_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES harbor_user (user_id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX session_expires ON session (expires_at)
