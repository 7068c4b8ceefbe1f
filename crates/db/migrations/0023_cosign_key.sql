-- Cosign public keys a project's signatures must verify against (beyond
-- Harbor, which only asks that a signature exists).
CREATE TABLE cosign_key (
    id {{id}},
    project_id BIGINT NOT NULL REFERENCES project (project_id) ON DELETE CASCADE,
    name {{name}} NOT NULL,
    -- The key as given: PEM, a SubjectPublicKeyInfo.
    pem TEXT NOT NULL,
    creation_time BIGINT NOT NULL,
    UNIQUE (project_id, name)
);
