-- Robot accounts: a hashed secret and an explicit permission list.
CREATE TABLE robot (
    id {{id}},
    name {{name}} NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    level TEXT NOT NULL,
    project_id BIGINT REFERENCES project (project_id) ON DELETE CASCADE,
    secret_hash TEXT NOT NULL,
    disabled BIGINT NOT NULL DEFAULT 0,
    duration BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    creation_time BIGINT NOT NULL,
    update_time BIGINT NOT NULL
);
CREATE INDEX robot_project ON robot (project_id);

CREATE TABLE robot_permission (
    robot_id BIGINT NOT NULL REFERENCES robot (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    namespace TEXT NOT NULL,
    resource TEXT NOT NULL,
    action TEXT NOT NULL,
    PRIMARY KEY (robot_id, kind, namespace, resource, action)
);
