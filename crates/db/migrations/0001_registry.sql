-- Registry content: repositories, blobs and their links, artifacts, tags,
-- manifest references and upload sessions.
-- Tokens: {{id}} auto-increment primary key, {{bytes}} binary, {{name}} text
-- compared bytewise (tag and catalog order must be lexical on both engines).

CREATE TABLE repository (
    id {{id}},
    name {{name}} NOT NULL UNIQUE,
    project_name {{name}} NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX repository_project ON repository (project_name, name);

CREATE TABLE blob (
    digest TEXT PRIMARY KEY,
    size BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE repository_blob (
    repository_id BIGINT NOT NULL REFERENCES repository (id) ON DELETE CASCADE,
    digest TEXT NOT NULL REFERENCES blob (digest),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (repository_id, digest)
);
CREATE INDEX repository_blob_digest ON repository_blob (digest);

CREATE TABLE artifact (
    id {{id}},
    repository_id BIGINT NOT NULL REFERENCES repository (id) ON DELETE CASCADE,
    digest TEXT NOT NULL,
    media_type TEXT NOT NULL,
    artifact_type TEXT,
    manifest {{bytes}} NOT NULL,
    manifest_size BIGINT NOT NULL,
    size BIGINT NOT NULL,
    subject_digest TEXT,
    annotations TEXT,
    push_time BIGINT NOT NULL,
    UNIQUE (repository_id, digest)
);
CREATE INDEX artifact_subject ON artifact (repository_id, subject_digest);

CREATE TABLE artifact_blob (
    artifact_id BIGINT NOT NULL REFERENCES artifact (id) ON DELETE CASCADE,
    digest TEXT NOT NULL REFERENCES blob (digest),
    PRIMARY KEY (artifact_id, digest)
);
CREATE INDEX artifact_blob_digest ON artifact_blob (digest);

-- An index's children: a child cannot be deleted while a parent refers to it.
CREATE TABLE artifact_reference (
    parent_id BIGINT NOT NULL REFERENCES artifact (id) ON DELETE CASCADE,
    child_id BIGINT NOT NULL REFERENCES artifact (id),
    PRIMARY KEY (parent_id, child_id)
);
CREATE INDEX artifact_reference_child ON artifact_reference (child_id);

CREATE TABLE tag (
    id {{id}},
    repository_id BIGINT NOT NULL REFERENCES repository (id) ON DELETE CASCADE,
    artifact_id BIGINT NOT NULL REFERENCES artifact (id) ON DELETE CASCADE,
    name {{name}} NOT NULL,
    push_time BIGINT NOT NULL,
    UNIQUE (repository_id, name)
);
CREATE INDEX tag_artifact ON tag (artifact_id);

CREATE TABLE upload (
    id TEXT PRIMARY KEY,
    repository_name TEXT NOT NULL,
    size BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX upload_updated ON upload (updated_at);
