-- Tag retention: one policy per project (Harbor's `RetentionPolicy` JSON),
-- and what each repository's task of a run found.
CREATE TABLE retention_policy (
    id {{id}},
    project_id BIGINT NOT NULL UNIQUE REFERENCES project (project_id) ON DELETE CASCADE,
    policy TEXT NOT NULL,
    creation_time BIGINT NOT NULL,
    update_time BIGINT NOT NULL
);

CREATE TABLE retention_task (
    execution_id BIGINT NOT NULL REFERENCES execution (id) ON DELETE CASCADE,
    repository TEXT NOT NULL,
    total BIGINT NOT NULL,
    retained BIGINT NOT NULL,
    PRIMARY KEY (execution_id, repository)
)
