-- Identity and access: users, projects with metadata, project members.

CREATE TABLE harbor_user (
    user_id {{id}},
    username {{name}} NOT NULL UNIQUE,
    email {{name}} UNIQUE,
    realname TEXT NOT NULL DEFAULT '',
    comment TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL,
    sysadmin_flag BIGINT NOT NULL DEFAULT 0,
    creation_time BIGINT NOT NULL,
    update_time BIGINT NOT NULL
);

CREATE TABLE project (
    project_id {{id}},
    name {{name}} NOT NULL UNIQUE,
    owner_id BIGINT NOT NULL REFERENCES harbor_user (user_id),
    creation_time BIGINT NOT NULL,
    update_time BIGINT NOT NULL
);
CREATE INDEX project_owner ON project (owner_id);

CREATE TABLE project_metadata (
    project_id BIGINT NOT NULL REFERENCES project (project_id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (project_id, name)
);
CREATE INDEX project_metadata_public ON project_metadata (name, value);

CREATE TABLE project_member (
    id {{id}},
    project_id BIGINT NOT NULL REFERENCES project (project_id) ON DELETE CASCADE,
    entity_id BIGINT NOT NULL,
    entity_type TEXT NOT NULL,
    role BIGINT NOT NULL,
    creation_time BIGINT NOT NULL,
    update_time BIGINT NOT NULL,
    UNIQUE (project_id, entity_id, entity_type)
);
CREATE INDEX project_member_entity ON project_member (entity_type, entity_id);
